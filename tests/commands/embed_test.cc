// End-to-end tests of bert-embed's defences, one or more per defect of the
// redesign issue: hostile input, interruption, outputs written whole or not
// at all, refusals that come before the model runs, streaming, provenance.
#include <signal.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <map>
#include <regex>
#include <string>
#include <thread>
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
using nlohmann::json;
using Clock = std::chrono::steady_clock;

constexpr int kTinyHidden = 128;

std::string tiny_model() { return test_bundle("tiny-uncased").string(); }

double seconds_since(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

std::vector<float> floats_of(const json& array) {
  std::vector<float> values;
  for (const json& value : array) values.push_back(value.get<float>());
  return values;
}

std::string sha256_of(const fs::path& file) {
  const CommandResult result = run_command("sha256sum " + shell_quote(file.string()));
  return result.output.substr(0, 64);
}

// Lines of "word word ... " that take the tiny model a while to embed.
std::string many_lines(int count) {
  std::string text;
  for (int i = 0; i < count; ++i) text += "line " + std::to_string(i) + " with a few words in it to embed\n";
  return text;
}

// A bert-embed child with pipes both ways, for what a shell pipeline cannot
// time: streaming, co-processes, signals, peak memory.
class Child {
 public:
  explicit Child(const std::vector<std::string>& args, const fs::path& stderr_file = "/dev/null") {
    int to_child[2];
    int from_child[2];
    if (::pipe(to_child) != 0 || ::pipe(from_child) != 0) throw std::runtime_error("pipe failed");
    pid_ = ::fork();
    if (pid_ == 0) {
      ::dup2(to_child[0], STDIN_FILENO);
      ::dup2(from_child[1], STDOUT_FILENO);
      std::FILE* err = std::fopen(stderr_file.c_str(), "w");
      if (err != nullptr) ::dup2(::fileno(err), STDERR_FILENO);
      for (const int fd : {to_child[0], to_child[1], from_child[0], from_child[1]}) ::close(fd);
      std::vector<std::string> argv_storage = {bert_embed_binary().string()};
      argv_storage.insert(argv_storage.end(), args.begin(), args.end());
      std::vector<char*> argv;
      for (std::string& arg : argv_storage) argv.push_back(arg.data());
      argv.push_back(nullptr);
      ::execv(argv[0], argv.data());
      ::_exit(127);
    }
    ::close(to_child[0]);
    ::close(from_child[1]);
    in_ = ::fdopen(to_child[1], "w");
    out_ = ::fdopen(from_child[0], "r");
  }
  ~Child() {
    if (pid_ > 0 && !waited_) {
      ::kill(pid_, SIGKILL);
      wait();
    }
    if (in_ != nullptr) std::fclose(in_);
    if (out_ != nullptr) std::fclose(out_);
  }
  Child(const Child&) = delete;
  Child& operator=(const Child&) = delete;

  void write_line(const std::string& line) {
    std::fputs((line + "\n").c_str(), in_);
    std::fflush(in_);
  }
  void close_input() {
    std::fclose(in_);
    in_ = nullptr;
  }
  // The next line of stdout, empty at its end.
  std::string read_line() {
    std::string line;
    for (int c = std::fgetc(out_); c != EOF; c = std::fgetc(out_)) {
      line += static_cast<char>(c);
      if (c == '\n') break;
    }
    return line;
  }
  void signal(int number) { ::kill(pid_, number); }
  // The status as the shell's $? shows it: 128 + N when ended by signal N.
  int wait() {
    int status = 0;
    rusage usage{};
    ::wait4(pid_, &status, 0, &usage);
    waited_ = true;
    peak_rss_kib_ = usage.ru_maxrss;
    return WIFSIGNALED(status) ? 128 + WTERMSIG(status) : WEXITSTATUS(status);
  }
  long peak_rss_kib() const { return peak_rss_kib_; }

 private:
  pid_t pid_ = -1;
  bool waited_ = false;
  long peak_rss_kib_ = 0;
  std::FILE* in_ = nullptr;
  std::FILE* out_ = nullptr;
};

class EmbedCli : public BertEmbedCli {
 protected:
  // A copy of the tiny bundle that a test may edit.
  fs::path copy_of_bundle() {
    const fs::path copy = path("bundle");
    fs::copy(tiny_model(), copy, fs::copy_options::recursive);
    return copy;
  }

  // Rewrites bundle.json's sha256 of `file` after the test edited it.
  static void update_sha256(const fs::path& bundle, const std::string& file) {
    json info = json::parse(read_file(bundle / "bundle.json"));
    info["files"][file] = sha256_of(bundle / file);
    write_file(bundle / "bundle.json", info.dump(2));
  }

  // The temporaries that outputs in the test directory would leave.
  std::vector<std::string> temporaries() const {
    std::vector<std::string> found;
    for (const std::string& name : files_in_temp_dir()) {
      if (name.find(".tmp-") != std::string::npos) found.push_back(name);
    }
    return found;
  }
};

::testing::AssertionResult is_one_line(const std::string& text) {
  if (std::count(text.begin(), text.end(), '\n') == 1 && text.back() == '\n') return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure() << "not one line: '" << text.substr(0, 2000) << "'";
}

// Defect 1: a recursive JSON parser overflowed the stack on deep nesting.
TEST_F(EmbedCli, DeeplyNestedJsonIdIsALineErrorNotACrash) {
  const std::string nested = std::string(100000, '[') + std::string(100000, ']');
  const fs::path input = input_file("nested.jsonl", "{\"text\": \"a\", \"id\": 1}\n{\"text\": \"b\", \"id\": " + nested + "}\n");
  const RunResult result = run({"-m", tiny_model(), "-i", input.string(), "--input-format", "jsonl", "--id-field",
                                "id", "-o", path("out.npy").string()});
  EXPECT_EQ(result.status, 1) << result.err.substr(0, 2000);
  EXPECT_TRUE(is_one_line(result.err));
  EXPECT_CONTAINS(result.err, input.string() + ":2:");
  EXPECT_EQ(files_in_temp_dir(), (std::vector<std::string>{"nested.jsonl"}));
}

// Defect 2: a line without end was read whole into memory.
TEST_F(EmbedCli, EndlessLineStaysBoundedAndIsCutOrRefused) {
  const std::string zeros = "head -c 50M /dev/zero | ";
  const RunResult refused = run_shell(zeros + bert_embed_command({"-m", tiny_model(), "--max-line-bytes", "1000",
                                                                  "--on-overflow", "error"}),
                                      path(""));
  EXPECT_EQ(refused.status, 1) << refused.err;
  EXPECT_TRUE(is_one_line(refused.err));
  EXPECT_CONTAINS(refused.err, "<stdin>:1:");
  EXPECT_CONTAINS(refused.err, "1000");
  EXPECT_EQ(refused.out, "");

  const RunResult truncated = run_shell(zeros + bert_embed_command({"-m", tiny_model(), "-q", "--max-line-bytes",
                                                                    "1000"}),
                                        path(""));
  EXPECT_EQ(truncated.status, 0) << truncated.err;
  const std::vector<std::string> lines = split_lines(truncated.out);
  ASSERT_EQ(lines.size(), 1u);
  EXPECT_EQ(json::parse(lines[0])["embedding"].size(), static_cast<std::size_t>(kTinyHidden));
}

TEST_F(EmbedCli, EndlessInputDoesNotGrowMemory) {
  const auto peak_rss_mib = [&](const std::string& input_command) {
    const fs::path fifo = path("input.fifo");
    fs::remove(fifo);
    EXPECT_EQ(::mkfifo(fifo.c_str(), 0600), 0);
    Child child({"-m", tiny_model(), "-q", "-i", fifo.string(), "--max-line-bytes", "1000"});
    const RunResult feeder = run_shell(input_command + " > " + shell_quote(fifo.string()), path(""));
    EXPECT_EQ(feeder.status, 0) << feeder.err;
    while (!child.read_line().empty()) {
    }
    EXPECT_EQ(child.wait(), 0);
    return child.peak_rss_kib() / 1024;
  };
  const long small = peak_rss_mib("echo hello");
  const long endless = peak_rss_mib("head -c 200M /dev/zero");
  EXPECT_LT(endless - small, 50) << "peak RSS " << small << " MiB for one line, " << endless << " MiB for 200 MiB of zeros";
}

// Defect 2: a vocabulary linked to /dev/zero was read until memory ran out.
TEST_F(EmbedCli, VocabularyLinkedToDevZeroIsRefused) {
  const fs::path bundle = copy_of_bundle();
  fs::remove(bundle / "vocab.txt");
  fs::create_symlink("/dev/zero", bundle / "vocab.txt");
  const fs::path input = input_file("in.txt", "hello\n");
  for (const std::vector<std::string>& command : std::vector<std::vector<std::string>>{
           {"-m", bundle.string(), "-i", input.string()}, {"tokenize", "-m", bundle.string(), "-i", input.string()}}) {
    const RunResult result = run_shell("timeout 20 " + bert_embed_command(command), path(""));
    EXPECT_EQ(result.status, 1) << result.err;
    EXPECT_TRUE(is_one_line(result.err));
    EXPECT_CONTAINS(result.err, (bundle / "vocab.txt").string());
  }
}

// Defect 3: an interrupted run left its temporary output behind.
TEST_F(EmbedCli, SignalsLeaveNoTemporaryAndEndWithTheShellStatus) {
  for (const int number : {SIGTERM, SIGINT}) {
    SCOPED_TRACE(strsignal(number));
    Child child({"-m", tiny_model(), "-q", "-o", path("out.npy").string()});
    for (int i = 0; i < 100; ++i) child.write_line("a line that waits for more input");
    // Until the model has loaded and the output's temporary is open (a
    // fixed wait was too short on a loaded machine).
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
    while (temporaries().empty() && std::chrono::steady_clock::now() < deadline) {
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    ASSERT_FALSE(temporaries().empty()) << "the run had not opened its output after 30 s";
    child.signal(number);
    EXPECT_EQ(child.wait(), 128 + number);
    EXPECT_EQ(temporaries(), std::vector<std::string>{});
    EXPECT_FALSE(fs::exists(path("out.npy")));
  }
}

TEST_F(EmbedCli, TemporaryOfADeadProcessIsRemovedByTheNextRun) {
  // A killed per-token run leaves the offsets' temporary too; the next run
  // removes it even when it is pooled and writes no offsets.
  for (const std::string target : {"out.npy", "out.offsets.npy"}) {
    input_file(dead_process_temporary_name(target), "left by a killed run");
  }
  const fs::path input = input_file("in.txt", "hello\n");
  embed({"-m", tiny_model(), "-q", "-i", input.string(), "-o", path("out.npy").string()});
  EXPECT_EQ(temporaries(), std::vector<std::string>{});
  EXPECT_TRUE(fs::exists(path("out.npy")));
}

// Defect 4: token rows, offsets and manifest are one output, committed together.
TEST_F(EmbedCli, TokenOutputIsThreeFilesListedInTheManifest) {
  const fs::path input = input_file("in.txt", "hello world\nsecond line here\n");
  embed({"-m", tiny_model(), "-q", "-i", input.string(), "-p", "tokens", "-o", path("out.npy").string()});
  const json manifest = json::parse(read_file(path("out.npy.manifest.json")));
  const NpyArray rows = read_npy(path("out.npy"));
  const NpyArray offsets = read_npy(path("out.offsets.npy"));
  ASSERT_EQ(manifest["files"].size(), 2u) << manifest.dump();
  std::map<std::string, std::pair<std::uint64_t, std::int64_t>> listed;
  for (const json& file : manifest["files"]) {
    listed[file["name"]] = {file["size_bytes"].get<std::uint64_t>(), file["rows"].get<std::int64_t>()};
  }
  EXPECT_EQ(listed["out.npy"], std::make_pair(static_cast<std::uint64_t>(fs::file_size(path("out.npy"))),
                                              rows.shape[0]));
  EXPECT_EQ(listed["out.offsets.npy"],
            std::make_pair(static_cast<std::uint64_t>(fs::file_size(path("out.offsets.npy"))), offsets.shape[0]));
  EXPECT_EQ(offsets.i64.back(), rows.shape[0]);
}

TEST_F(EmbedCli, LateFailureLeavesNoOutputNorStatistics) {
  const fs::path input = input_file("late.txt", many_lines(4200) + "bad \xC0 line\n");
  const std::vector<std::vector<std::string>> variants = {
      {"-p", "tokens", "-o", path("out.npy").string()},
      {"--standardize", "--save-stats", path("stats.json").string(), "-o", path("out.npy").string()},
  };
  for (const std::vector<std::string>& variant : variants) {
    std::vector<std::string> args = {"-m", tiny_model(), "-q", "-i", input.string()};
    args.insert(args.end(), variant.begin(), variant.end());
    const RunResult result = run(args);
    EXPECT_EQ(result.status, 1);
    EXPECT_CONTAINS(result.err, ":4201: invalid UTF-8");
    EXPECT_EQ(files_in_temp_dir(), (std::vector<std::string>{"late.txt"}));
  }
}

// Defect 5: a directory on stdin read as an empty input.
TEST_F(EmbedCli, DirectoryOnStdinIsAnError) {
  const RunResult result = run({"-m", tiny_model()}, path("").string());
  EXPECT_EQ(result.status, 1);
  EXPECT_CONTAINS(result.err, "<stdin>");
  EXPECT_CONTAINS(result.err, "Is a directory");
  EXPECT_EQ(result.out, "");
}

// Defect 6: -o naming the input destroyed it.
TEST_F(EmbedCli, OutputThatIsTheInputIsRefused) {
  const std::string content = "first\nsecond\n";
  const fs::path input = input_file("in.txt", content);
  fs::create_hard_link(input, path("hard.txt"));
  fs::create_symlink(input, path("soft.txt"));
  for (const std::string name : {"in.txt", "hard.txt", "soft.txt"}) {
    SCOPED_TRACE(name);
    const RunResult result = run({"-m", tiny_model(), "-i", input.string(), "-o", path(name).string()});
    EXPECT_EQ(result.status, 2) << result.err;
    EXPECT_TRUE(is_one_line(result.err));
    EXPECT_EQ(read_file(input), content);
  }
}

// Defect 7: impossible post-processing found out after the whole input.
TEST_F(EmbedCli, TooFewVectorsForRemoveTopSaysHowManyItNeeds) {
  const fs::path input = input_file("in.txt", many_lines(50));
  const RunResult result = run({"-m", tiny_model(), "-i", input.string(), "--remove-top", "127", "-o",
                                path("out.npy").string()});
  EXPECT_EQ(result.status, 1);
  EXPECT_TRUE(is_one_line(result.err));
  EXPECT_CONTAINS(result.err, "(remove-top:127) needs at least 129 vectors, got 50");
  EXPECT_EQ(files_in_temp_dir(), (std::vector<std::string>{"in.txt"}));
}

TEST_F(EmbedCli, ImpossibleRequestsFailBeforeTheModelRuns) {
  // Embedding this input takes the tiny model far longer than a refusal.
  const fs::path input = input_file("big.txt", many_lines(200000));
  const std::vector<std::vector<std::string>> requests = {
      {"--remove-top", "128"},
      {"--standardize", "--save-stats", path("missing/stats.json").string()},
  };
  for (const std::vector<std::string>& request : requests) {
    SCOPED_TRACE(request.front());
    std::vector<std::string> args = {"-m", tiny_model(), "-i", input.string(), "-o", path("out.npy").string()};
    args.insert(args.end(), request.begin(), request.end());
    const Clock::time_point start = Clock::now();
    const RunResult result = run(args);
    EXPECT_LT(seconds_since(start), 6.0);  // under ASan on 2 vCPUs start-up alone took 3 s
    EXPECT_NE(result.status, 0);
    EXPECT_TRUE(is_one_line(result.err));
    EXPECT_CONTAINS(result.err, request.back() == "128" ? "128" : path("missing/stats.json").string());
    EXPECT_EQ(files_in_temp_dir(), (std::vector<std::string>{"big.txt"}));
  }
}

// Defect 9: messages.
TEST_F(EmbedCli, OutOfRangeOptionsSayTheRangeBriefly) {
  const RunResult batch = run({"-m", tiny_model(), "--batch-tokens", "0"});
  EXPECT_EQ(batch.status, 2);
  EXPECT_TRUE(is_one_line(batch.err));
  EXPECT_FALSE(std::regex_search(batch.err, std::regex("[0-9]{20}"))) << batch.err;
  EXPECT_CONTAINS(batch.err, "--batch-tokens");

  const fs::path tsv = input_file("in.tsv", "a\tb\n");
  const RunResult column = run({"-m", tiny_model(), "-i", tsv.string(), "--input-format", "tsv", "--text-field", "0"});
  EXPECT_EQ(column.status, 2);
  EXPECT_CONTAINS(column.err, "--text-field 0");
}

TEST_F(EmbedCli, FullDiskIsNamed) {
  const fs::path input = input_file("in.txt", "hello\n");
  const RunResult result =
      run_shell(bert_embed_command({"tokenize", "-m", tiny_model(), "-i", input.string()}) + " > /dev/full", path(""));
  EXPECT_EQ(result.status, 1);
  EXPECT_TRUE(is_one_line(result.err));
  EXPECT_CONTAINS(result.err, "No space left on device");
}

TEST_F(EmbedCli, TorchScriptErrorIsOneLine) {
  const fs::path bundle = copy_of_bundle();
  json info = json::parse(read_file(bundle / "bundle.json"));
  info["max_position_embeddings"] = 1024;
  write_file(bundle / "bundle.json", info.dump(2));
  std::string long_line;
  for (int i = 0; i < 700; ++i) long_line += "word ";
  const fs::path input = input_file("long.txt", long_line + "\n");
  const RunResult result = run({"-m", bundle.string(), "-i", input.string(), "--max-length", "1000"});
  EXPECT_EQ(result.status, 1);
  EXPECT_TRUE(is_one_line(result.err));
  EXPECT_EQ(result.out, "");
}

// Defect 9: a vocabulary without its unknown token was exit 2 in embed, 1 in
// tokenize, and named no file. bundle.json's special_ids say which id is the
// unknown token (100 here): a vocabulary cut before it has none.
TEST_F(EmbedCli, VocabularyWithoutUnknownTokenIsRefused) {
  const fs::path bundle = copy_of_bundle();
  const std::vector<std::string> lines = split_lines(read_file(bundle / "vocab.txt"));
  std::string vocabulary;
  for (std::size_t line = 0; line < 100; ++line) vocabulary += lines[line] + "\n";
  write_file(bundle / "vocab.txt", vocabulary);
  update_sha256(bundle, "vocab.txt");
  const fs::path input = input_file("in.txt", "hello\n");
  for (const std::vector<std::string>& command : std::vector<std::vector<std::string>>{
           {"-m", bundle.string(), "-i", input.string()}, {"tokenize", "-m", bundle.string(), "-i", input.string()}}) {
    SCOPED_TRACE(command.front());
    const RunResult result = run(command);
    EXPECT_EQ(result.status, 1);
    EXPECT_TRUE(is_one_line(result.err));
    EXPECT_CONTAINS(result.err, (bundle / "vocab.txt").string());
    EXPECT_CONTAINS(result.err, "100");
  }
}

// Defect 10: vectors waited for a full window.
TEST_F(EmbedCli, VectorOfALineComesBeforeTheNextLineArrives) {
  FILE* pipe = ::popen(("(echo a; sleep 8; echo b) | " + bert_embed_command({"-m", tiny_model(), "-q"})).c_str(), "r");
  ASSERT_NE(pipe, nullptr);
  const Clock::time_point start = Clock::now();
  std::vector<double> arrivals;
  for (int c = std::fgetc(pipe); c != EOF; c = std::fgetc(pipe)) {
    if (c == '\n') arrivals.push_back(seconds_since(start));
  }
  EXPECT_EQ(::pclose(pipe), 0);
  ASSERT_EQ(arrivals.size(), 2u);
  // Measured against b, not the clock: loading the model takes 0.7 s alone,
  // over 2 s on a loaded machine and under ASan.
  EXPECT_GT(arrivals[1], 7.5);
  EXPECT_LT(arrivals[0], arrivals[1] - 3.0);
}

TEST_F(EmbedCli, CoProcessGetsEachVectorAtOnce) {
  Child child({"-m", tiny_model(), "-q"});
  for (int i = 0; i < 20; ++i) {
    const Clock::time_point start = Clock::now();
    child.write_line("question " + std::to_string(i));
    const std::string answer = child.read_line();
    const double waited = seconds_since(start);
    ASSERT_FALSE(answer.empty()) << "no answer to line " << i;
    EXPECT_EQ(json::parse(answer)["index"], i);
    // The first answer includes loading the model: 0.7 s idle, over 3 s on a busy machine.
    EXPECT_LT(waited, i == 0 ? 10.0 : 1.0) << "line " << i;
  }
  child.close_input();
  EXPECT_EQ(child.read_line(), "");
  EXPECT_EQ(child.wait(), 0);
}

// Defect 11: an empty line with --exclude-special had nothing to average.
TEST_F(EmbedCli, EmptyLineKeepsClsAndSepWhenSpecialTokensAreExcluded) {
  const fs::path input = input_file("in.txt", "\nhello\n");
  const std::vector<std::string> base = {"-m", tiny_model(), "-q", "-i", input.string()};
  std::vector<std::string> excluded = base;
  excluded.insert(excluded.end(), {"--pooling", "mean", "--exclude-special"});
  const json with = json::parse(split_lines(embed(base)).at(0));
  const json without = json::parse(split_lines(embed(excluded)).at(0));
  const std::vector<float> kept = floats_of(with["embedding"]);
  const std::vector<float> empty = floats_of(without["embedding"]);
  ASSERT_EQ(empty.size(), kept.size());
  float largest = 0;
  for (std::size_t i = 0; i < kept.size(); ++i) {
    EXPECT_NEAR(empty[i], kept[i], 1e-5) << i;
    largest = std::max(largest, std::abs(empty[i]));
  }
  EXPECT_GT(largest, 0.01f) << "the vector is zeros";

  std::vector<std::string> tokens = base;
  tokens.insert(tokens.end(), {"--pooling", "tokens", "--exclude-special"});
  const json record = json::parse(split_lines(embed(tokens)).at(0));
  EXPECT_EQ(record["tokens"], json::array());
  EXPECT_EQ(record["embeddings"], json::array());
}

// Defect 12: a replaced output lost its mode; a dangling link was replaced by a file.
TEST_F(EmbedCli, ReplacedOutputKeepsItsModeAndLinksAreFollowed) {
  const fs::path input = input_file("in.txt", "hello\n");
  const fs::path output = input_file("out.jsonl", "old\n");
  fs::permissions(output, fs::perms::owner_read | fs::perms::owner_write);
  embed({"-m", tiny_model(), "-q", "-i", input.string(), "-o", output.string()});
  EXPECT_NE(read_file(output), "old\n");
  EXPECT_EQ(fs::status(output).permissions() & fs::perms::all, fs::perms::owner_read | fs::perms::owner_write);

  fs::create_symlink(path("target.jsonl"), path("link.jsonl"));
  embed({"-m", tiny_model(), "-q", "-i", input.string(), "-o", path("link.jsonl").string()});
  EXPECT_TRUE(fs::is_symlink(path("link.jsonl")));
  EXPECT_EQ(read_file(path("target.jsonl")), read_file(output));
}

// Options belong to their subcommand.
TEST_F(EmbedCli, OptionsOutsideTheirSubcommandAreRefused) {
  const fs::path input = input_file("in.txt", "hello\n");
  const std::vector<std::vector<std::string>> misplaced = {
      {"--max-length", "4", "tokenize", "-m", tiny_model(), "-i", input.string()},
      {"-i", input.string(), "tokenize", "-m", tiny_model()},
      {"-m", tiny_model(), "tokenize", "-i", input.string()},
      {"-m", tiny_model(), "tokenize"},
  };
  for (const std::vector<std::string>& args : misplaced) {
    SCOPED_TRACE(args.front() + " " + args[1]);
    const RunResult result = run(args, input.string());
    EXPECT_EQ(result.status, 2) << result.err;
    EXPECT_TRUE(is_one_line(result.err));
    EXPECT_EQ(result.out, "");
  }
}

TEST_F(EmbedCli, EachCommandHasItsOwnHelp) {
  const RunResult tokenize = run({"tokenize", "--help"});
  EXPECT_EQ(tokenize.status, 0) << tokenize.err;
  EXPECT_CONTAINS(tokenize.out, "--max-length");
  EXPECT_EQ(tokenize.out.find("--pooling"), std::string::npos) << tokenize.out;
  const RunResult embed_help = run({"--help"});
  EXPECT_EQ(embed_help.status, 0) << embed_help.err;
  EXPECT_CONTAINS(embed_help.out, "--pooling");
  EXPECT_CONTAINS(embed_help.out, "--max-length");
}

// Provenance: what made the vectors travels with them.
TEST_F(EmbedCli, ManifestNamesEverythingThatMadeTheVectors) {
  const fs::path input = input_file("in.txt", many_lines(3));
  embed({"-m", tiny_model(), "-q", "-i", input.string(), "-o", path("out.npy").string(), "--layers", "-1,0",
         "--layer-agg", "mean", "--pooling", "max", "--normalize", "l2"});
  const json manifest = json::parse(read_file(path("out.npy.manifest.json")));
  const json bundle = json::parse(read_file(fs::path(tiny_model()) / "bundle.json"));
  const json& source = manifest["source"];
  EXPECT_EQ(source["architecture"], bundle["architecture"]);
  EXPECT_EQ(source["weights_sha256"].get<std::string>().size(), 64u);
  EXPECT_EQ(source["layers"], json::parse("[2, 0]"));
  EXPECT_EQ(source["slot_labels"], json::parse(R"(["mean"])"));
  EXPECT_EQ(source["layer_aggregation"], "mean");
  EXPECT_EQ(source["pooling"], "max");
  EXPECT_EQ(source["dtype"], "float32");
  EXPECT_EQ(manifest["postprocess"], "normalize:l2");
  EXPECT_EQ(manifest["input"]["name"], input.string());
  EXPECT_EQ(manifest["input"]["size_bytes"], fs::file_size(input));
  EXPECT_EQ(manifest["input"]["first_record"], 0);
  EXPECT_EQ(manifest["input"]["end_record"], 3);
  EXPECT_EQ(manifest["rows"], 3);
  EXPECT_EQ(manifest["dim"], kTinyHidden);
}

TEST_F(EmbedCli, StatisticsOfOtherVectorsAreRefused) {
  const fs::path input = input_file("in.txt", many_lines(200));
  embed({"-m", tiny_model(), "-q", "-i", input.string(), "-o", path("fit.npy").string(), "--standardize",
         "--save-stats", path("stats.json").string()});
  const RunResult mismatched = run({"-m", tiny_model(), "-i", input.string(), "-o", path("cls.npy").string(),
                                    "--pooling", "cls", "--standardize", "--stats", path("stats.json").string()});
  EXPECT_NE(mismatched.status, 0);
  EXPECT_TRUE(is_one_line(mismatched.err));
  EXPECT_CONTAINS(mismatched.err, "pooling: mean in");
  EXPECT_CONTAINS(mismatched.err, "cls in this run");
  EXPECT_FALSE(fs::exists(path("cls.npy")));
}

// A NaN in a statistics file made every vector NaN, with exit 0.
TEST_F(EmbedCli, StatisticsWithNaNAreRefused) {
  const fs::path input = input_file("in.txt", many_lines(200));
  embed({"-m", tiny_model(), "-q", "-i", input.string(), "-o", path("fit.npy").string(), "--standardize",
         "--save-stats", path("stats.json").string()});
  const json statistics = json::parse(read_file(path("stats.json")));
  std::vector<fs::path> arrays;
  for (const auto& entry : fs::directory_iterator(path(""))) {
    const std::string name = entry.path().filename();
    if (name.rfind("stats", 0) == 0 && entry.path().extension() == ".npy") arrays.push_back(entry.path());
  }
  ASSERT_FALSE(arrays.empty()) << statistics.dump();
  // The last value of the first array (float64) becomes NaN.
  std::string bytes = read_file(arrays.front());
  const double nan = std::nan("");
  std::memcpy(bytes.data() + bytes.size() - sizeof(double), &nan, sizeof(double));
  write_file(arrays.front(), bytes);
  const RunResult result = run({"-m", tiny_model(), "-i", input.string(), "-o", path("applied.npy").string(),
                                "--standardize", "--stats", path("stats.json").string()});
  EXPECT_EQ(result.status, 1) << result.err;
  EXPECT_TRUE(is_one_line(result.err));
  EXPECT_CONTAINS(result.err, arrays.front().filename().string());
  EXPECT_FALSE(fs::exists(path("applied.npy")));
}

// Issue 13: the kernels in use are named, and a BLAS that fell back to slow
// kernels is corrected without the user setting anything.
TEST_F(EmbedCli, InfoLogNamesTheKernels) {
  const fs::path input = input_file("in.txt", "one line\n");
  const RunResult result = run({"-m", tiny_model(), "-i", input.string(), "-o", "/dev/null", "--log-level", "info"});
  EXPECT_EQ(result.status, 0) << result.err;
  EXPECT_TRUE(std::regex_search(result.err, std::regex("info: kernels: OpenBLAS [0-9.]+ .*; core [A-Za-z0-9_]+ \\(")))
      << result.err;
  EXPECT_CONTAINS(result.err, "oneDNN ");
}

TEST_F(EmbedCli, VersionNamesTheBlasLibraryAndCore) {
  const RunResult result = run({"--version"});
  EXPECT_EQ(result.status, 0) << result.err;
  EXPECT_TRUE(std::regex_search(result.out, std::regex("\nBLAS: OpenBLAS [0-9.]+ .*; core [A-Za-z0-9_]+"))) << result.out;
}

TEST_F(EmbedCli, ChoosesFasterKernelsWhenOpenBlasFellBack) {
  if (!__builtin_cpu_supports("avx2") || !__builtin_cpu_supports("fma")) GTEST_SKIP() << "no kernels beyond SSE3";
  const fs::path input = input_file("in.txt", "one line\n");
  const std::string command = bert_embed_command({"-m", tiny_model(), "-i", input.string(), "-o",
                                                  path("out.npy").string(), "--log-level", "info"});
  // ASan insists on coming first among preloaded libraries unless told not to.
  const std::string preload = "ASAN_OPTIONS=${ASAN_OPTIONS:+$ASAN_OPTIONS:}verify_asan_link_order=0 LD_PRELOAD=" +
                              shell_quote(BERT_EMBED_FAKE_OPENBLAS_FALLBACK) + " ";
  const RunResult result = run_shell("env -u OPENBLAS_CORETYPE " + preload + command, path(""));
  EXPECT_EQ(result.status, 0) << result.err;
  EXPECT_CONTAINS(result.err, "(set by bert-embed: OpenBLAS chose Prescott for this CPU (avx2+fma");
  EXPECT_FALSE(std::regex_search(result.err, std::regex("; core Prescott"))) << result.err;

  const RunResult users_choice = run_shell("OPENBLAS_CORETYPE=Prescott " + preload + command, path(""));
  EXPECT_EQ(users_choice.status, 0) << users_choice.err;
  EXPECT_CONTAINS(users_choice.err, "; core Prescott (OPENBLAS_CORETYPE=Prescott)");
}

// --dtype auto resolves to one number format, said in the log with its
// reason and recorded in the manifest: float32 or bfloat16 on CPU.
TEST_F(EmbedCli, DTypeAutoRecordsWhatItPicked) {
  const fs::path input = input_file("in.txt", many_lines(2));
  const RunResult result = run({"-m", tiny_model(), "-i", input.string(), "-o", path("out.npy").string(), "--dtype",
                                "auto", "--log-level", "info"});
  EXPECT_EQ(result.status, 0) << result.err;
  std::smatch said;
  ASSERT_TRUE(std::regex_search(result.err, said, std::regex("--dtype auto: (float32|bfloat16) on cpu \\(.+\\)")))
      << result.err;
  if (__builtin_cpu_supports("amx-bf16")) {
    EXPECT_EQ(said[1], "bfloat16");
  }
  if (!__builtin_cpu_supports("avx512bf16")) {
    EXPECT_EQ(said[1], "float32");
  }
  const json manifest = json::parse(read_file(path("out.npy.manifest.json")));
  EXPECT_EQ(manifest["source"]["dtype"], said[1].str());
}

// A bundle's defaults (a sentence-transformers directory's pooling,
// normalization, max length, stripping) apply to options not given; explicit
// options win; the manifest records what was used, --prefix included.
TEST_F(EmbedCli, BundleDefaultsApplyUnlessOverriddenAndTheManifestSaysWhich) {
  const fs::path bundle = path("bundle");
  fs::copy(tiny_model(), bundle, fs::copy_options::recursive);
  json config = json::parse(read_file(bundle / "bundle.json"));
  config["defaults"] = {{"pooling", "cls"}, {"normalize", "l2"}, {"max_length", 8}, {"strip_text", true},
                        {"prefix", "query: "}};
  write_file(bundle / "bundle.json", config.dump());
  const fs::path input = input_file("in.txt", "  hello world  \n");

  embed({"-m", bundle.string(), "-i", input.string(), "-o", path("defaults.jsonl").string()});
  const json by_default = json::parse(read_file(path("defaults.jsonl.manifest.json")));
  EXPECT_EQ(by_default["source"]["pooling"], "cls");
  EXPECT_EQ(by_default["postprocess"], "normalize:l2");
  EXPECT_EQ(by_default["text"], json({{"prefix", "query: "}, {"strip_text", true}, {"max_length", 8}}));

  embed({"-m", bundle.string(), "-i", input.string(), "-o", path("explicit.jsonl").string(), "--pooling", "mean",
         "--normalize", "none", "--max-length", "16", "--no-strip-text", "--prefix", "passage: "});
  const json explicit_options = json::parse(read_file(path("explicit.jsonl.manifest.json")));
  EXPECT_EQ(explicit_options["source"]["pooling"], "mean");
  EXPECT_EQ(explicit_options["postprocess"], "none");
  EXPECT_EQ(explicit_options["text"], json({{"prefix", "passage: "}, {"strip_text", false}, {"max_length", 16}}));

  const RunResult tokens = run({"tokenize", "-m", bundle.string(), "-i", input.string()});
  EXPECT_EQ(tokens.status, 0) << tokens.err;
  EXPECT_NE(tokens.out.find(R"(["[CLS]","query",":","hello","world","[SEP]"])"), std::string::npos) << tokens.out;
}

// Issue 10: a bundle exported from a sentence-transformers directory gives,
// with no option but the input and output, SentenceTransformer.encode's
// vectors (text stripped, truncated at max_seq_length, its pooling, L2
// normalized): the golden sentence.npy.
TEST_F(EmbedCli, SentenceTransformersBundleDefaultsGiveEncodeVectors) {
  const fs::path golden = fixtures_dir() / "goldens" / "st-tiny-bert-cls";
  for (const char* corpus : {"english", "edge_cases"}) {
    const fs::path output = path(std::string(corpus) + ".npy");
    embed({"-m", test_bundle("st-tiny-bert-cls").string(), "-i", (golden / corpus / "input.txt").string(), "-o",
           output.string()});
    const NpyArray actual = read_npy(output);
    const NpyArray expected = read_npy(golden / corpus / "sentence.npy");
    ASSERT_EQ(actual.shape, expected.shape) << corpus;
    for (std::size_t i = 0; i < expected.f32.size(); ++i) {
      if (std::isnan(expected.f32[i])) continue;  // a line the golden has no tokens for
      ASSERT_NEAR(actual.f32[i], expected.f32[i], 1e-5) << corpus << " value " << i;
    }
  }
}

}  // namespace
}  // namespace bert_embed::test
