// End-to-end tests of post-processing after the fact (stats, postprocess)
// and compact outputs (--output-dtype): results equal those of one embed
// run, refusals name the files, numpy reads every output.
#include <cmath>
#include <fstream>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "cli.h"
#include "command.h"
#include "expect_error.h"
#include "fixtures.h"
#include "npy_reader.h"

namespace bert_embed::test {
namespace {

namespace fs = std::filesystem;

std::string tiny_model() { return test_bundle("tiny-uncased").string(); }

// The first `count` sentences of the STS-B test pairs: varied enough to span
// every direction whitening keeps.
std::string sentences(std::size_t first, std::size_t count) {
  std::string text;
  const std::vector<std::string> rows = read_lines(fixtures_dir() / "eval/stsb/sts-test.csv");
  for (std::size_t i = first; i < first + count && i < rows.size(); ++i) {
    std::size_t start = 0;
    for (int column = 1; column < 6; ++column) start = rows[i].find('\t', start) + 1;
    text += rows[i].substr(start, rows[i].find('\t', start) - start) + "\n";
  }
  return text;
}

float max_abs_difference(const NpyArray& actual, const NpyArray& expected) {
  EXPECT_EQ(actual.shape, expected.shape);
  float worst = 0;
  for (std::size_t i = 0; i < std::min(actual.f32.size(), expected.f32.size()); ++i) {
    worst = std::max(worst, std::abs(actual.f32[i] - expected.f32[i]));
  }
  return worst;
}

// Whether two files hold the same bytes; a difference is reported by size,
// never by content (binary).
::testing::AssertionResult same_bytes(const fs::path& actual, const fs::path& expected) {
  const std::string a = read_file(actual);
  const std::string b = read_file(expected);
  if (a == b) return ::testing::AssertionSuccess();
  std::size_t first = 0;
  while (first < std::min(a.size(), b.size()) && a[first] == b[first]) ++first;
  return ::testing::AssertionFailure() << actual << " (" << a.size() << " bytes) and " << expected << " ("
                                       << b.size() << " bytes) differ from byte " << first;
}

class PostprocessCli : public BertEmbedCli {
 protected:
  // Embeds lines [first, first + count) of the sentences into NAME.npy.
  fs::path embed_part(const std::string& name, std::size_t first, std::size_t count,
                      const std::vector<std::string>& options = {}) {
    const fs::path input = input_file(name + ".txt", sentences(first, count));
    std::vector<std::string> args = {"-q", "-m", tiny_model(), "-i", input.string(), "-o", path(name + ".npy").string()};
    args.insert(args.end(), options.begin(), options.end());
    embed(args);
    return path(name + ".npy");
  }
  RunResult must_run(const std::vector<std::string>& args) {
    RunResult result = run(args);
    EXPECT_EQ(result.status, 0) << result.err;
    return result;
  }
};

constexpr std::size_t kLines = 300;

TEST_F(PostprocessCli, StatsOverShardsWhitenAsOneEmbedRunDoes) {
  // Three shards of the input, and the whole of it whitened in one run.
  const fs::path shards[] = {embed_part("a", 0, 100), embed_part("b", 100, 120), embed_part("c", 220, 80)};
  const fs::path whole = embed_part("whole", 0, kLines);
  embed_part("whitened", 0, kLines, {"--whiten", "32", "--standardize"});
  must_run({"stats", shards[2].string(), shards[0].string(), shards[1].string(), "-o", path("stats.json").string(),
            "--whiten", "32", "--standardize", "-q"});
  must_run({"postprocess", whole.string(), "-o", path("out.npy").string(), "--stats", path("stats.json").string()});
  EXPECT_LE(max_abs_difference(read_npy(path("out.npy")), read_npy(path("whitened.npy"))), 1e-5f);

  const nlohmann::json statistics = nlohmann::json::parse(read_file(path("stats.json")));
  EXPECT_EQ(statistics.at("rows"), kLines);
  EXPECT_EQ(statistics.at("postprocess"), "whiten:32,standardize");
  const nlohmann::json manifest = nlohmann::json::parse(read_file(path("out.npy.manifest.json")));
  EXPECT_EQ(manifest.at("postprocess"), "whiten:32,standardize");
  EXPECT_EQ(manifest.at("dim"), 32);
  EXPECT_EQ(manifest.at("source").at("pooling"), "mean");
}

TEST_F(PostprocessCli, PostprocessEqualsEmbedWithTheSameStatistics) {
  embed_part("fitted", 0, 200, {"--whiten", "24", "--save-stats", path("stats.json").string()});
  const fs::path raw = embed_part("raw", 200, 100);
  embed_part("applied", 200, 100, {"--whiten", "24", "--stats", path("stats.json").string(), "--normalize", "l2"});
  must_run({"postprocess", raw.string(), "-o", path("out.npy").string(), "--stats", path("stats.json").string(),
            "--normalize", "l2"});
  EXPECT_TRUE(same_bytes(path("out.npy"), path("applied.npy")));
  const nlohmann::json manifest = nlohmann::json::parse(read_file(path("out.npy.manifest.json")));
  EXPECT_EQ(manifest.at("postprocess"), "whiten:24,normalize:l2");
}

TEST_F(PostprocessCli, LayersKeptApartArePostProcessedEachOnTheirOwn) {
  const std::vector<std::string> layers = {"--layers", "1,2"};
  std::vector<std::string> fit = layers;
  fit.insert(fit.end(), {"--standardize", "--save-stats", path("stats.json").string()});
  embed_part("fitted", 0, 100, fit);
  const fs::path raw = embed_part("raw", 0, 100, layers);
  must_run({"postprocess", raw.string(), "-o", path("out.npy").string(), "--stats", path("stats.json").string()});
  const NpyArray out = read_npy(path("out.npy"));
  EXPECT_EQ(out.shape, (std::vector<std::int64_t>{100, 2, 128}));
  EXPECT_TRUE(same_bytes(path("out.npy"), path("fitted.npy")));
}

TEST_F(PostprocessCli, VectorsOfDifferentKindsAreRefusedNamingBothFiles) {
  const fs::path mean = embed_part("mean", 0, 50);
  const fs::path cls = embed_part("cls", 50, 50, {"--pooling", "cls"});
  RunResult result = run({"stats", mean.string(), cls.string(), "-o", path("stats.json").string()});
  EXPECT_EQ(result.status, 1);
  EXPECT_NE(result.err.find("pooling: mean in " + mean.string() + ", cls in " + cls.string()), std::string::npos)
      << result.err;
  EXPECT_FALSE(fs::exists(path("stats.json")));

  must_run({"stats", cls.string(), "-o", path("cls-stats.json").string(), "--standardize", "-q"});
  result = run({"postprocess", mean.string(), "-o", path("out.npy").string(), "--stats",
                path("cls-stats.json").string()});
  EXPECT_EQ(result.status, 1);
  EXPECT_NE(result.err.find(path("cls-stats.json").string()), std::string::npos) << result.err;
  EXPECT_NE(result.err.find("pooling: cls in cls-stats.json, mean in " + mean.string()), std::string::npos)
      << result.err;
  EXPECT_FALSE(fs::exists(path("out.npy")));
}

TEST_F(PostprocessCli, InputsWithoutManifestNeedAnExplicitOption) {
  const fs::path a = embed_part("a", 0, 60);
  const fs::path b = embed_part("b", 60, 60);
  fs::remove(path("b.npy.manifest.json"));
  RunResult result = run({"stats", a.string(), b.string(), "-o", path("stats.json").string()});
  EXPECT_EQ(result.status, 1);
  EXPECT_NE(result.err.find(b.string() + ": no manifest"), std::string::npos) << result.err;
  EXPECT_NE(result.err.find("--allow-missing-manifest"), std::string::npos) << result.err;
  // Unlabelled vectors are of an unknown source, which no manifest matches.
  result = run({"stats", a.string(), b.string(), "-o", path("stats.json").string(), "--allow-missing-manifest"});
  EXPECT_EQ(result.status, 1);
  EXPECT_NE(result.err.find("architecture: bert in " + a.string() + ", unknown in " + b.string()),
            std::string::npos)
      << result.err;
  must_run({"stats", b.string(), "-o", path("stats.json").string(), "--allow-missing-manifest", "--whiten", "8",
            "-q"});
  must_run({"postprocess", b.string(), "-o", path("out.npy").string(), "--stats", path("stats.json").string(),
            "--allow-missing-manifest", "-q"});
  EXPECT_EQ(read_npy(path("out.npy")).shape, (std::vector<std::int64_t>{60, 8}));
}

TEST_F(PostprocessCli, StatsNameTheFileAndVectorThatHoldsNaN) {
  const fs::path a = embed_part("a", 0, 20);
  const fs::path b = embed_part("b", 20, 20);
  // Vector 5 of b.npy made NaN in place: same size, so its manifest still matches.
  const NpyArray vectors = read_npy(b);
  const std::int64_t dim = vectors.shape[1];
  const auto offset = static_cast<std::streamoff>(fs::file_size(b)) - (20 - 5) * dim * 4;
  std::fstream file(b, std::ios::in | std::ios::out | std::ios::binary);
  file.seekp(offset);
  const float nan = std::nanf("");
  file.write(reinterpret_cast<const char*>(&nan), sizeof nan);
  file.close();
  const RunResult result = run({"stats", a.string(), b.string(), "-o", path("stats.json").string(), "--whiten", "8"});
  EXPECT_EQ(result.status, 1);
  EXPECT_CONTAINS(result.err, b.string() + ": vector 5 (0-based) holds NaN or infinity");
  EXPECT_FALSE(fs::exists(path("stats.json")));
}

TEST_F(PostprocessCli, TruncatedAndPostProcessedInputsAreRefused) {
  const fs::path a = embed_part("a", 0, 50);
  const fs::path whitened = embed_part("w", 0, 50, {"--whiten", "8"});
  RunResult result = run({"stats", whitened.string(), "-o", path("stats.json").string()});
  EXPECT_EQ(result.status, 1);
  EXPECT_NE(result.err.find(whitened.string() + " are post-processed (whiten:8)"), std::string::npos) << result.err;
  fs::resize_file(a, fs::file_size(a) - 4);
  result = run({"stats", a.string(), "-o", path("stats.json").string()});
  EXPECT_EQ(result.status, 1);
  EXPECT_NE(result.err.find(a.string()), std::string::npos) << result.err;
}

TEST_F(PostprocessCli, CompactOutputsAreWhatNumpyMakesOfTheFloats) {
  const fs::path raw = embed_part("raw", 0, 100, {"--layers", "1,2"});
  for (const char* dtype : {"float16", "int8", "binary"}) {
    embed_part(std::string("embed-") + dtype, 0, 100, {"--layers", "1,2", "--output-dtype", dtype});
    must_run({"postprocess", raw.string(), "-o", path(std::string("post-") + dtype + ".npy").string(),
              "--output-dtype", dtype, "-q"});
    EXPECT_TRUE(same_bytes(path(std::string("post-") + dtype + ".npy"), path(std::string("embed-") + dtype + ".npy")));
  }
  // int8 with the ranges of a statistics file: those of the calibration vectors.
  must_run({"stats", raw.string(), "-o", path("ranges.json").string(), "-q"});
  embed_part("embed-int8-ranges", 0, 100,
             {"--layers", "1,2", "--output-dtype", "int8", "--int8-ranges", path("ranges.json").string()});
  const std::string script = R"(
import json, sys
import numpy as np
folder = sys.argv[1]
raw = np.load(folder + "/raw.npy")
def check(name, expected):
    got = np.load(folder + "/" + name)
    print(name, got.dtype, list(got.shape), "equal" if np.array_equal(got, expected) else "DIFFERENT")
check("embed-float16.npy", raw.astype(np.float16))
check("embed-binary.npy", np.packbits(raw > 0, axis=-1))
ranges = np.stack((raw.min(0), raw.max(0)))
starts, steps = ranges[0], (ranges[1] - ranges[0]) / 255
check("embed-int8.npy", ((raw - starts) / steps - 128).astype(np.int8))
check("embed-int8-ranges.npy", ((raw - starts) / steps - 128).astype(np.int8))
manifest = json.load(open(folder + "/embed-int8.npy.manifest.json"))
print("manifest", manifest["output_dtype"], manifest["int8_ranges"]["calibration"],
      np.array_equal(np.array(manifest["int8_ranges"]["min"], dtype=np.float32), ranges[0]),
      np.array_equal(np.array(manifest["int8_ranges"]["max"], dtype=np.float32), ranges[1]))
)";
  const CommandResult python =
      run_command("/usr/bin/python3 -c " + shell_quote(script) + " " + shell_quote(path("").string()));
  ASSERT_EQ(python.exit_status, 0) << python.output;
  EXPECT_NE(python.output.find("embed-float16.npy float16 [100, 2, 128] equal"), std::string::npos) << python.output;
  EXPECT_NE(python.output.find("embed-binary.npy uint8 [100, 2, 16] equal"), std::string::npos) << python.output;
  EXPECT_NE(python.output.find("embed-int8.npy int8 [100, 2, 128] equal"), std::string::npos) << python.output;
  EXPECT_NE(python.output.find("embed-int8-ranges.npy int8 [100, 2, 128] equal"), std::string::npos)
      << python.output;
  EXPECT_NE(python.output.find("manifest int8 data True True"), std::string::npos) << python.output;
}

TEST_F(PostprocessCli, CompactDtypesNeedNpyAndRangesOfTheSameVectors) {
  const fs::path input = input_file("in.txt", sentences(0, 20));
  RunResult result = run({"-m", tiny_model(), "-i", input.string(), "--output-dtype", "int8"});
  EXPECT_EQ(result.status, 2);
  EXPECT_NE(result.err.find("--output-dtype int8 needs NPY output"), std::string::npos) << result.err;
  const fs::path raw = embed_part("raw", 0, 50);
  must_run({"stats", raw.string(), "-o", path("ranges.json").string(), "-q"});
  result = run({"-m", tiny_model(), "-i", input.string(), "-o", path("out.npy").string(), "--whiten", "4",
                "--output-dtype", "int8", "--int8-ranges", path("ranges.json").string()});
  EXPECT_EQ(result.status, 2);
  EXPECT_NE(result.err.find(path("ranges.json").string()), std::string::npos) << result.err;
  EXPECT_NE(result.err.find("post-processed (whiten:4)"), std::string::npos) << result.err;
  result = run({"-m", tiny_model(), "-i", input.string(), "-o", path("out.npy").string(), "--pooling", "cls",
                "--output-dtype", "int8", "--int8-ranges", path("ranges.json").string()});
  EXPECT_EQ(result.status, 1);
  EXPECT_NE(result.err.find("pooling: mean in ranges.json, cls in this run"), std::string::npos) << result.err;
  EXPECT_FALSE(fs::exists(path("out.npy")));
}

}  // namespace
}  // namespace bert_embed::test
