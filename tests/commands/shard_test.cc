// End-to-end tests of shards, resume after a kill and merge (issue 12): the
// merged output of N shards, and a run killed and resumed many times, are
// byte for byte what one uninterrupted run over the whole input writes.
#include <algorithm>
#include <chrono>
#include <random>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "cli.h"
#include "command.h"
#include "expect_error.h"
#include "fixtures.h"

namespace bert_embed::test {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

std::string tiny_model() { return test_bundle("tiny-uncased").string(); }

// The first `count` lines of the English corpus (varied lengths, so that
// windows close on tokens too and batches differ in padding).
std::string corpus_lines(std::size_t count) {
  const std::vector<std::string> lines = split_lines(read_file(fixtures_dir() / "corpora" / "english.txt"));
  std::string text;
  for (std::size_t i = 0; i < count; ++i) text += lines.at(i % lines.size()) + "\n";
  return text;
}

// A manifest with the fields that name the output's own files taken out.
json manifest_without_file_names(const fs::path& output) {
  json manifest = json::parse(read_file(output.string() + ".manifest.json"));
  for (json& file : manifest["files"]) file.erase("name");
  return manifest;
}

class ShardCli : public BertEmbedCli {
 protected:
  // Small windows put many cells of the grid into a small corpus.
  std::vector<std::string> embed_args(const std::string& input, const std::string& output,
                                      const std::vector<std::string>& extra = {}) {
    std::vector<std::string> args = {"-m", tiny_model(), "-i", path(input).string(), "-o", path(output).string(),
                                     "--window-lines", "8", "--threads", "1", "-q"};
    args.insert(args.end(), extra.begin(), extra.end());
    return args;
  }

  void embed_shard(const std::string& input, const std::string& output, std::size_t index, std::size_t count,
                   const std::vector<std::string>& extra = {}) {
    std::vector<std::string> args = embed_args(input, output, extra);
    args.insert(args.end(), {"--shard", std::to_string(index) + "/" + std::to_string(count)});
    embed(args);
  }

  // Shards 0..count-1 of `input`, merged into `merged`.
  void shard_and_merge(const std::string& input, std::size_t count, const std::string& merged,
                       const std::vector<std::string>& extra = {}) {
    std::vector<std::string> merge_args = {"merge", "-q", "-o", path(merged).string()};
    for (std::size_t index = count; index-- > 0;) {  // any order
      const std::string output = merged + ".shard-" + std::to_string(index) + "-of-" + std::to_string(count) +
                                 fs::path(merged).extension().string();
      embed_shard(input, output, index, count, extra);
      merge_args.push_back(path(output).string());
    }
    embed(merge_args);
  }

  void expect_same_output(const std::string& expected, const std::string& actual) {
    EXPECT_EQ(read_file(path(expected)), read_file(path(actual))) << expected << " and " << actual << " differ";
    EXPECT_EQ(manifest_without_file_names(path(expected)), manifest_without_file_names(path(actual)));
  }
};

TEST_F(ShardCli, MergedShardsAreByteIdenticalToOneRun) {
  input_file("in.txt", corpus_lines(150));  // 19 cells of 8 lines
  embed(embed_args("in.txt", "whole.npy"));
  for (const std::size_t count : {1, 3, 4, 7}) {
    const std::string merged = "merged-" + std::to_string(count) + ".npy";
    shard_and_merge("in.txt", count, merged);
    expect_same_output("whole.npy", merged);
  }
}

TEST_F(ShardCli, MergedJsonlAndPerTokenOutputsAreByteIdenticalToOneRun) {
  input_file("in.txt", corpus_lines(60));
  embed(embed_args("in.txt", "whole.jsonl"));
  shard_and_merge("in.txt", 4, "merged.jsonl");
  expect_same_output("whole.jsonl", "merged.jsonl");

  embed(embed_args("in.txt", "tokens.npy", {"--pooling", "tokens"}));
  shard_and_merge("in.txt", 3, "merged-tokens.npy", {"--pooling", "tokens"});
  expect_same_output("tokens.npy", "merged-tokens.npy");
  EXPECT_EQ(read_file(path("tokens.offsets.npy")), read_file(path("merged-tokens.offsets.npy")));
}

// Seconds a command takes.
template <typename Action>
double seconds_of(Action action) {
  const auto start = std::chrono::steady_clock::now();
  action();
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

TEST_F(ShardCli, KilledAtRandomPointsAndResumedEndsByteIdentical) {
  input_file("one.txt", "a line\n");
  input_file("in.txt", corpus_lines(800));
  const std::vector<std::string> extra = {"--pooling", "tokens"};  // two partial files: vectors and offsets
  const double startup_seconds = seconds_of([&] { embed(embed_args("one.txt", "one.npy", extra)); });
  const double run_seconds = seconds_of([&] { embed(embed_args("in.txt", "whole.npy", extra)); });
  const double work_seconds = std::max(0.5, run_seconds - startup_seconds);

  std::vector<std::string> args = embed_args("in.txt", "resumed.npy", extra);
  args.insert(args.end(), {"--shard", "0/1", "--checkpoint-lines", "8"});
  std::vector<std::string> loud = args;
  loud.erase(std::find(loud.begin(), loud.end(), "-q"));
  loud.insert(loud.end(), {"--log-level", "info"});  // logs "info: model ..." once the model is loaded
  // Runs `loud` and sends it `signal` `delay` seconds after its model has
  // loaded: timed from the run's own progress, not from the start-up measured
  // above, which other work (ctest -j, a sanitizer, a CI neighbour) makes
  // unreliable: timed kills then all came before the first checkpoint, or
  // after the last line.
  const std::string run_err = path("run.err").string();
  const auto signal_after_load = [&](const std::string& signal, double delay) {
    // run.err goes first: the loop could otherwise read the previous run's
    // before the new run's shell truncates it.
    return run_shell("rm -f '" + run_err + "'; " + bert_embed_command(loud) + " < /dev/null 2> '" + run_err +
                         "' & pid=$!; while kill -0 $pid 2> /dev/null && ! grep -qs 'info: model ' '" + run_err +
                         "'; do sleep 0.01; done; sleep " + std::to_string(delay) + "; kill -" + signal +
                         " $pid 2> /dev/null; wait $pid; status=$?; cat '" + run_err + "' >&2; exit $status",
                     path(""));
  };
  // One kill in four while the model loads, the others while it embeds, each
  // run getting a few checkpoints further, so that the last run still has work to do.
  std::mt19937 random(12);
  std::uniform_real_distribution<double> while_loading(0.0, 0.5 * startup_seconds);
  std::uniform_real_distribution<double> while_embedding(0.0, work_seconds / 12);
  int resumed = 0;      // runs that went on from a checkpoint
  int interrupted = 0;  // kills that left a checkpoint behind
  for (int kill = 0; kill < 12; ++kill) {
    const RunResult killed =
        kill % 4 == 0 ? run_shell("timeout --signal=KILL " + std::to_string(while_loading(random)) + "s " +
                                      bert_embed_command(loud) + " < /dev/null",
                                  path(""))
                      : signal_after_load("KILL", while_embedding(random));
    resumed += killed.err.find("resuming") != std::string::npos ? 1 : 0;
    interrupted += fs::exists(path("resumed.npy.checkpoint.json")) ? 1 : 0;
  }
  // SIGTERM, as scancel sends it, ends the run but keeps its partial files.
  const RunResult terminated = signal_after_load("TERM", work_seconds / 12);
  if (terminated.status != 0) {  // 0: it finished before the signal
    EXPECT_TRUE(fs::exists(path("resumed.npy.partial")));
  }
  resumed += terminated.err.find("resuming") != std::string::npos ? 1 : 0;
  const RunResult last = run(loud);
  ASSERT_EQ(last.status, 0) << last.err;
  resumed += last.err.find("resuming") != std::string::npos ? 1 : 0;
  RecordProperty("resumed_runs", resumed);
  RecordProperty("kills_leaving_partial_state", interrupted);
  EXPECT_GE(resumed, 3) << "too few runs resumed from a checkpoint to test anything";
  EXPECT_GE(interrupted, 3) << "too few kills left partial state to test anything";
  expect_same_output("whole.npy", "resumed.npy");
  EXPECT_EQ(read_file(path("whole.offsets.npy")), read_file(path("resumed.offsets.npy")));
  for (const std::string& name : files_in_temp_dir()) {
    EXPECT_EQ(name.find(".partial"), std::string::npos) << name;
    EXPECT_EQ(name.find(".checkpoint"), std::string::npos) << name;
  }
}

// A shard's committed output turned back into partial state at its end: what
// a kill just before the commit leaves.
void make_partial(const fs::path& output) {
  fs::rename(output, output.string() + ".partial");
  json manifest = json::parse(read_file(output.string() + ".manifest.json"));
  manifest["shard"]["complete"] = false;
  manifest["files"][0]["name"] = output.filename().string() + ".partial";
  write_file(output.string() + ".checkpoint.json", manifest.dump(2));
  fs::remove(output.string() + ".manifest.json");
}

TEST_F(ShardCli, CompleteRunDoesNothingAndPartialStateOfAnotherCommandIsRefused) {
  input_file("in.txt", corpus_lines(40));
  embed_shard("in.txt", "whole.npy", 0, 1);
  const auto written = fs::last_write_time(path("whole.npy"));
  std::vector<std::string> again = embed_args("in.txt", "whole.npy", {"--shard", "0/1"});
  again.erase(std::find(again.begin(), again.end(), "-q"));
  const RunResult rerun = run(again);
  EXPECT_EQ(rerun.status, 0) << rerun.err;
  EXPECT_CONTAINS(rerun.err, "is complete (shard 0/1, records [0, 40)): nothing to do");
  EXPECT_EQ(fs::last_write_time(path("whole.npy")), written);

  embed_shard("in.txt", "part.npy", 1, 2);
  const std::string expected = read_file(path("part.npy"));
  make_partial(path("part.npy"));
  const RunResult other = run(embed_args("in.txt", "part.npy", {"--shard", "1/2", "--pooling", "cls"}));
  EXPECT_EQ(other.status, 2);
  EXPECT_CONTAINS(other.err, "part.npy holds the partial output of another command");
  EXPECT_CONTAINS(other.err, "source.pooling: \"mean\" in ");
  EXPECT_CONTAINS(other.err, "pass --restart to discard it");
  embed_shard("in.txt", "part.npy", 1, 2);  // the same command: goes on from the checkpoint, at the end
  EXPECT_EQ(read_file(path("part.npy")), expected);

  make_partial(path("part.npy"));
  embed_shard("in.txt", "part.npy", 1, 2, {"--pooling", "cls", "--restart"});
  EXPECT_EQ(json::parse(read_file(path("part.npy.manifest.json")))["source"]["pooling"], "cls");
}

// A run killed while writing its checkpoint leaves the checkpoint's
// temporary; the run that finishes the output removes it, even when it has no
// checkpoint of its own left to write (CI caught one left behind).
TEST_F(ShardCli, FinishingRunRemovesACheckpointTemporaryOfAKilledRun) {
  input_file("in.txt", corpus_lines(40));
  embed_shard("in.txt", "part.npy", 1, 2);
  make_partial(path("part.npy"));
  const std::string stale = dead_process_temporary_name("part.npy.checkpoint.json");
  write_file(path(stale), "{\"written by\": \"a killed run\"}");
  embed_shard("in.txt", "part.npy", 1, 2);  // goes on from the checkpoint, at the end: nothing left to checkpoint
  EXPECT_FALSE(fs::exists(path(stale)));
  for (const std::string& name : files_in_temp_dir()) EXPECT_EQ(name.find(".checkpoint"), std::string::npos) << name;
}

TEST_F(ShardCli, ShardsRefuseStdinAndFittingOnTheirPart) {
  input_file("in.txt", corpus_lines(10));
  const RunResult from_stdin = run({"-m", tiny_model(), "-o", path("out.npy").string(), "--shard", "0/2"},
                                   path("in.txt").string());
  EXPECT_EQ(from_stdin.status, 2);
  EXPECT_CONTAINS(from_stdin.err, "--shard needs an input file to count its lines, not stdin");
  const RunResult fitted = run(embed_args("in.txt", "out.npy", {"--shard", "0/2", "--whiten", "8"}));
  EXPECT_EQ(fitted.status, 2);
  EXPECT_CONTAINS(fitted.err, "bert-embed stats");
  const RunResult bad = run(embed_args("in.txt", "out.npy", {"--shard", "2/2"}));
  EXPECT_EQ(bad.status, 2);
  EXPECT_CONTAINS(bad.err, "must be below the count 2");
}

TEST_F(ShardCli, MergeNamesEveryProblemWithItsFile) {
  input_file("in.txt", corpus_lines(40));  // 5 cells of 8 lines
  for (std::size_t index = 0; index < 3; ++index) {
    embed_shard("in.txt", "s" + std::to_string(index) + ".npy", index, 3);
  }
  embed_shard("in.txt", "half1.npy", 1, 2);
  embed_shard("in.txt", "cls2.npy", 2, 3, {"--pooling", "cls"});
  const auto merge = [&](const std::vector<std::string>& shards) {
    std::vector<std::string> args = {"merge", "-o", path("merged.npy").string()};
    for (const std::string& shard : shards) args.push_back(path(shard).string());
    const RunResult result = run(args);
    EXPECT_EQ(result.status, 1) << result.err;
    EXPECT_FALSE(fs::exists(path("merged.npy")));
    return result.err;
  };
  // A missing shard: records [8, 24) of s1.npy.
  EXPECT_CONTAINS(merge({"s0.npy", "s2.npy"}), "records [8, 24) are in no shard given: missing before " +
                                                   path("s2.npy").string());
  // An overlap: half1.npy holds [24, 40), s2.npy [24, 40).
  EXPECT_CONTAINS(merge({"s0.npy", "s1.npy", "s2.npy", "half1.npy"}), "overlaps");
  // Another option: cls2.npy was pooled otherwise.
  const std::string other = merge({"s0.npy", "s1.npy", "cls2.npy"});
  EXPECT_CONTAINS(other, path("cls2.npy").string() + ": made differently: source.pooling: \"mean\" in " +
                             path("s0.npy").string() + ", \"cls\" in " + path("cls2.npy").string());
  // A truncated shard file.
  fs::resize_file(path("s1.npy"), fs::file_size(path("s1.npy")) - 4);
  EXPECT_CONTAINS(merge({"s0.npy", "s1.npy", "s2.npy"}), path("s1.npy").string() + ": manifest ");
  // An incomplete shard: its checkpoint, no manifest.
  make_partial(path("s2.npy"));
  const std::string incomplete = merge({"s0.npy", "s1.npy", "s2.npy"});
  EXPECT_CONTAINS(incomplete, path("s2.npy").string() + ": incomplete: shard 2/3 has records [24, 40) of records [24, 40)");
  // Every problem at once, each with its file.
  EXPECT_CONTAINS(incomplete, path("s1.npy").string() + ": manifest ");
}

TEST_F(ShardCli, MergeRefusesAnOutputNamedForTheOtherFormat) {
  input_file("in.txt", corpus_lines(16));
  for (const std::string extension : {".npy", ".jsonl"}) {
    for (std::size_t index = 0; index < 2; ++index) {
      embed_shard("in.txt", "s" + std::to_string(index) + extension, index, 2);
    }
  }
  const auto merge = [&](const std::string& extension, const std::string& output) {
    return run({"merge", "-o", path(output).string(), path("s0" + extension).string(),
                path("s1" + extension).string()});
  };
  const RunResult npy_as_jsonl = merge(".npy", "merged.jsonl");
  EXPECT_EQ(npy_as_jsonl.status, 2);
  EXPECT_CONTAINS(npy_as_jsonl.err, "merged.jsonl: the shards are npy but the name says jsonl");
  const RunResult jsonl_as_npy = merge(".jsonl", "merged.npy");
  EXPECT_EQ(jsonl_as_npy.status, 2);
  EXPECT_CONTAINS(jsonl_as_npy.err, "merged.npy: the shards are jsonl but the name says npy");
  EXPECT_FALSE(fs::exists(path("merged.jsonl")));
  EXPECT_FALSE(fs::exists(path("merged.npy")));
  EXPECT_EQ(merge(".jsonl", "merged.txt").status, 0);
}

}  // namespace
}  // namespace bert_embed::test
