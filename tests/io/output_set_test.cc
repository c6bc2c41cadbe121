#include "bert_embed/io/output_set.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <fstream>
#include <iterator>
#include <stdexcept>
#include <string>
#include <vector>

#include "bert_embed/io/embedding_writer.h"
#include "bert_embed/io/npy_writer.h"
#include "directory_listing.h"
#include "expect_error.h"
#include "temp_dir.h"

namespace bert_embed {
namespace {

namespace fs = std::filesystem;
using test::contents;
using test::entries;

Manifest provenance() {
  Manifest manifest;
  manifest.source.architecture = "bert";
  manifest.source.weights_sha256 = "ab12";
  manifest.source.layers = {2};
  manifest.source.slot_labels = {"-1"};
  manifest.source.pooling = "tokens";
  manifest.source.dim = 4;
  manifest.input = {"lines.txt", 20, 0, 2};
  return manifest;
}

// Per-token NPY output of two lines (3 and 2 tokens) in `outputs`, finished.
void write_token_vectors(OutputSet& outputs, const fs::path& output) {
  WriterOptions options;
  options.format = OutputFormat::kNpy;
  options.output = output;
  options.per_token = true;
  auto writer = make_embedding_writer(outputs, options, provenance());
  writer->write(
      TokenRecord{0, std::nullopt, {"a", "b", "c"}, std::vector<Span>(3), at::ones({1, 3, 4})});
  writer->write(
      TokenRecord{1, std::nullopt, {"d", "e"}, std::vector<Span>(2), at::ones({1, 2, 4})});
  writer->finish();
}

TEST(OutputSet, FilesAppearTogetherAtCommit) {
  const test::TempDir dir;
  OutputSet outputs;
  outputs.add(dir.path() / "vectors.jsonl").stream() << "vectors\n";
  outputs.add(dir.path() / "stats.json").stream() << "statistics\n";
  EXPECT_EQ(entries(dir.path()).size(), 2u);  // the temporaries
  EXPECT_FALSE(fs::exists(dir.path() / "vectors.jsonl"));
  EXPECT_FALSE(fs::exists(dir.path() / "stats.json"));
  outputs.commit();
  EXPECT_EQ(entries(dir.path()), (std::vector<std::string>{"stats.json", "vectors.jsonl"}));
  EXPECT_EQ(contents(dir.path() / "stats.json"), "statistics\n");
  EXPECT_THROW(outputs.commit(), std::logic_error);
}

// Defect 4: --save-stats was written although the main output failed.
TEST(OutputSet, AFailedFileLeavesEveryOutputAsItWas) {
  const test::TempDir dir;
  std::ofstream(dir.path() / "stats.json") << "old statistics\n";
  {
    OutputSet outputs;
    outputs.add(dir.path() / "stats.json").stream() << "new statistics\n";
    outputs.add(dir.path() / "tokens.jsonl").stream() << "new vectors\n";
    outputs.add("/dev/full").stream() << "fails when flushed\n";
    EXPECT_EQ(test::error_message<std::runtime_error>([&] { outputs.commit(); }),
              "cannot write /dev/full: No space left on device");
  }
  EXPECT_EQ(entries(dir.path()), std::vector<std::string>{"stats.json"});
  EXPECT_EQ(contents(dir.path() / "stats.json"), "old statistics\n");
}

TEST(OutputSet, ManifestListsTheCommittedFilesWithSizesAndRows) {
  const test::TempDir dir;
  const fs::path output = dir.path() / "tokens.npy";
  OutputSet outputs;
  write_token_vectors(outputs, output);
  EXPECT_EQ(entries(dir.path()).size(), 2u);  // finish() commits nothing
  EXPECT_FALSE(fs::exists(output));
  outputs.commit();

  EXPECT_EQ(entries(dir.path()), (std::vector<std::string>{"tokens.npy", "tokens.npy.manifest.json",
                                                           "tokens.offsets.npy"}));
  const Manifest manifest = read_manifest(manifest_path_for(output));
  EXPECT_EQ(manifest.kind, "vectors");
  EXPECT_EQ(manifest.bert_embed_version, "0.1.0");
  EXPECT_EQ(bert_embed_version(), "0.1.0");
  EXPECT_EQ(manifest.source, provenance().source);
  EXPECT_EQ(manifest.input.name, "lines.txt");
  EXPECT_EQ(manifest.format, "npy");
  EXPECT_EQ(manifest.rows, 5);
  EXPECT_EQ(manifest.dim, 4);
  EXPECT_EQ(manifest.files,
            (std::vector<ManifestFile>{
                {"tokens.npy", fs::file_size(output), 5},
                {"tokens.offsets.npy", fs::file_size(npy_offsets_path(output)), 3}}));
  EXPECT_NO_THROW(check_manifest_files(manifest, manifest_path_for(output)));
}

// Defect 4: the offsets were committed before the data, so a failure between
// the two renames paired new offsets with old vectors, undetectably.
TEST(OutputSet, CommitInterruptedHalfwayLeavesNoManifest) {
  const test::TempDir dir;
  const fs::path output = dir.path() / "tokens.npy";
  {
    OutputSet previous;
    write_token_vectors(previous, output);
    previous.commit();
  }
  ASSERT_TRUE(fs::exists(manifest_path_for(output)));

  OutputSet outputs;
  write_token_vectors(outputs, output);
  // The offsets' rename fails: a directory took their name.
  fs::remove(npy_offsets_path(output));
  fs::create_directories(npy_offsets_path(output) / "blocker");
  const std::string message = test::error_message<std::runtime_error>([&] { outputs.commit(); });
  EXPECT_CONTAINS(message, npy_offsets_path(output).string());
  EXPECT_FALSE(fs::exists(manifest_path_for(output)));
}

TEST(OutputSet, ManifestOfStatistics) {
  const test::TempDir dir;
  const fs::path stats = dir.path() / "stats.json";
  OutputSet outputs;
  OutputFile& file = outputs.add(stats);
  file.stream() << "{}\n";
  Manifest manifest = provenance();
  manifest.kind = "statistics";
  outputs.add_manifest(manifest, {{&file, 1}});
  outputs.commit();
  const Manifest read = read_manifest(manifest_path_for(stats));
  EXPECT_EQ(read.kind, "statistics");
  EXPECT_EQ(read.files, (std::vector<ManifestFile>{{"stats.json", 3, 1}}));
}

TEST(OutputSet, StandardOutputAndSpecialFilesHaveNoManifest) {
  const test::TempDir dir;
  OutputSet outputs;
  OutputFile& out = outputs.add("-");
  OutputFile& null = outputs.add("/dev/null");
  outputs.add_manifest(provenance(), {{&out, 0}});
  outputs.add_manifest(provenance(), {{&null, 0}});
  ::testing::internal::CaptureStdout();
  outputs.commit();
  EXPECT_EQ(::testing::internal::GetCapturedStdout(), "");
  EXPECT_FALSE(fs::exists("-.manifest.json"));
  EXPECT_FALSE(fs::exists("/dev/null.manifest.json"));
}

TEST(OutputSet, ManifestCoversFilesOfOneDirectory) {
  const test::TempDir dir;
  fs::create_directory(dir.path() / "sub");
  OutputSet outputs;
  OutputFile& first = outputs.add(dir.path() / "a.npy");
  OutputFile& second = outputs.add(dir.path() / "sub" / "b.npy");
  EXPECT_THROW(outputs.add_manifest(provenance(), {{&first, 0}, {&second, 0}}), std::logic_error);
}

TEST(OutputSet, SameFileTwiceIsRefused) {
  const test::TempDir dir;
  fs::create_symlink("out.jsonl", dir.path() / "link.jsonl");
  OutputSet outputs;
  outputs.add(dir.path() / "out.jsonl");
  for (const fs::path& again :
       {dir.path() / "out.jsonl", dir.path() / "." / "out.jsonl", dir.path() / "link.jsonl"}) {
    const std::string message =
        test::error_message<std::invalid_argument>([&] { outputs.add(again); });
    EXPECT_CONTAINS(message, "two outputs of this run are the same file");
    EXPECT_CONTAINS(message, again.string());
  }
  outputs.add("-");
  EXPECT_THROW(outputs.add("-"), std::invalid_argument);
}

// Defect 6, for every output of a run.
TEST(OutputSet, InputIsRefused) {
  const test::TempDir dir;
  const fs::path input = dir.path() / "lines.txt";
  std::ofstream(input) << "text\n";
  OutputSet outputs(input);
  const std::string message =
      test::error_message<std::invalid_argument>([&] { outputs.add(input); });
  EXPECT_CONTAINS(message, "is the input");
  EXPECT_NO_THROW(outputs.add(dir.path() / "out.jsonl"));
  EXPECT_EQ(contents(input), "text\n");
}

}  // namespace
}  // namespace bert_embed
