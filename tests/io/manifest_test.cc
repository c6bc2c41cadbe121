#include "bert_embed/io/manifest.h"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include <fstream>
#include <nlohmann/json.hpp>
#include <string>

#include "expect_error.h"
#include "temp_dir.h"

namespace bert_embed {
namespace {

namespace fs = std::filesystem;
using json = nlohmann::json;

VectorSource example_source() {
  VectorSource source;
  source.architecture = "bert";
  source.weights_sha256 = "ab12";
  source.layers = {11, 12};
  source.slot_labels = {"-2", "-1"};
  source.layer_aggregation = "none";
  source.pooling = "mean";
  source.exclude_special = true;
  source.dtype = "bfloat16";
  source.dim = 32;
  return source;
}

Manifest example_manifest() {
  Manifest manifest;
  manifest.bert_embed_version = "0.1.0";
  manifest.source = example_source();
  manifest.postprocess = "whiten:16,normalize:l2";
  manifest.input = {"lines.txt", 1234, 10, 20};
  manifest.text = {"query: ", true, 32};
  manifest.format = "npy";
  manifest.rows = 10;
  manifest.dim = 16;
  manifest.files = {{"out.npy", 768, 10}, {"out.offsets.npy", 216, 11}};
  manifest.shard = ShardDescription{1, 4, 10, 20, 40, true, {{"batch_tokens", "8192"}, {"window_lines", "10"}}};
  return manifest;
}

void expect_same(const Manifest& read, const Manifest& written) {
  EXPECT_EQ(read.kind, written.kind);
  EXPECT_EQ(read.bert_embed_version, written.bert_embed_version);
  EXPECT_EQ(read.source, written.source);
  EXPECT_EQ(read.postprocess, written.postprocess);
  EXPECT_EQ(read.input.name, written.input.name);
  EXPECT_EQ(read.input.size_bytes, written.input.size_bytes);
  EXPECT_EQ(read.input.first_record, written.input.first_record);
  EXPECT_EQ(read.input.end_record, written.input.end_record);
  EXPECT_EQ(read.text, written.text);
  EXPECT_EQ(read.format, written.format);
  EXPECT_EQ(read.output_dtype, written.output_dtype);
  EXPECT_EQ(read.rows, written.rows);
  EXPECT_EQ(read.dim, written.dim);
  EXPECT_EQ(read.files, written.files);
  EXPECT_EQ(read.shard.index, written.shard.index);
  EXPECT_EQ(read.shard.count, written.shard.count);
  EXPECT_EQ(read.shard.begin, written.shard.begin);
  EXPECT_EQ(read.shard.end, written.shard.end);
  EXPECT_EQ(read.shard.total_records, written.shard.total_records);
  EXPECT_EQ(read.shard.complete, written.shard.complete);
  EXPECT_EQ(read.shard.settings, written.shard.settings);
}

// The example manifest with one field replaced, written to dir/name.
fs::path write_edited(const fs::path& dir, const std::string& name, const json::json_pointer& field,
                      const json& value) {
  json document = example_manifest();
  document[field] = value;
  const fs::path file = dir / name;
  std::ofstream(file) << document.dump();
  return file;
}

std::string read_error(const fs::path& file) {
  return test::error_message<std::runtime_error>([&] { read_manifest(file); });
}

TEST(Manifest, RoundTripsThroughAFile) {
  const test::TempDir dir;
  const fs::path file = dir.path() / "out.npy.manifest.json";
  const Manifest written = example_manifest();
  write_manifest(file, written);
  expect_same(read_manifest(file), written);
  EXPECT_EQ(std::distance(fs::directory_iterator(dir.path()), fs::directory_iterator()), 1);

  Manifest from_stdin = written;
  from_stdin.input = {"<stdin>", std::nullopt, 0, 5};
  write_manifest(file, from_stdin);
  expect_same(read_manifest(file), from_stdin);
}

TEST(Manifest, Int8RangesRoundTripExactlyAndAreOptional) {
  const test::TempDir dir;
  const fs::path file = dir.path() / "out.npy.manifest.json";
  Manifest written = example_manifest();
  written.output_dtype = "int8";
  written.int8_ranges = Int8Ranges{"data", {{-1.5f, 0.1f}, {1e-30f, -3.25f}}, {{2.0f, 0.7f}, {1.0f, 3.0f}}};
  write_manifest(file, written);
  const Manifest read = read_manifest(file);
  expect_same(read, written);
  ASSERT_TRUE(read.int8_ranges.has_value());
  EXPECT_EQ(read.int8_ranges->calibration, "data");
  EXPECT_EQ(read.int8_ranges->minimum, written.int8_ranges->minimum);
  EXPECT_EQ(read.int8_ranges->maximum, written.int8_ranges->maximum);
  EXPECT_FALSE(json::parse(manifest_text(example_manifest())).contains("int8_ranges"));
  EXPECT_FALSE(read_manifest(write_edited(dir.path(), "plain.json", json::json_pointer("/kind"), "vectors"))
                   .int8_ranges.has_value());
  EXPECT_CONTAINS(read_error(write_edited(dir.path(), "ragged.json", json::json_pointer("/int8_ranges"),
                                          {{"calibration", "data"}, {"min", {{1, 2}, {3}}}, {"max", {{1, 2}, {3}}}})),
                  "int8_ranges.min");
  EXPECT_CONTAINS(read_error(write_edited(dir.path(), "unequal.json", json::json_pointer("/int8_ranges"),
                                          {{"calibration", "data"}, {"min", {{1, 2}}}, {"max", {{1}}}})),
                  "must have one shape");
}

TEST(Manifest, PathIsBesideTheOutput) {
  EXPECT_EQ(manifest_path_for("runs/out.npy"), fs::path("runs/out.npy.manifest.json"));
  EXPECT_EQ(manifest_path_for("stats.json"), fs::path("stats.json.manifest.json"));
}

TEST(Manifest, FieldOfTheWrongTypeIsNamedWithTheFile) {
  const test::TempDir dir;
  const struct {
    const char* pointer;
    json value;
    const char* message;
  } cases[] = {
      {"/rows", "10", "field \"rows\" must be a non-negative integer, not \"10\""},
      {"/rows", -1, "field \"rows\" must be a non-negative integer, not -1"},
      {"/source/dim", 3.5, "field \"source.dim\" must be a non-negative integer, not 3.5"},
      {"/source/layers", json::array({1, "2"}),
       "field \"source.layers\" must be a list of integers"},
      {"/source/exclude_special", 1, "field \"source.exclude_special\" must be true or false"},
      {"/files/1/name", nullptr, "field \"files[1].name\" must be a string, not null"},
      {"/input/size_bytes", "big", "field \"input.size_bytes\" must be a non-negative integer"},
      {"/source", json::array(), "field \"source\" must be an object, not []"},
      {"/manifest_version", 2, "manifest_version 2 is not the one this bert-embed reads (1)"},
  };
  for (const auto& example : cases) {
    const fs::path file =
        write_edited(dir.path(), "bad.json", json::json_pointer(example.pointer), example.value);
    const std::string message = read_error(file);
    EXPECT_CONTAINS(message, file.string());
    EXPECT_CONTAINS(message, example.message);
  }
}

TEST(Manifest, MissingFieldIsNamed) {
  const test::TempDir dir;
  json document = example_manifest();
  document["source"].erase("pooling");
  std::ofstream(dir.path() / "m.json") << document.dump();
  EXPECT_CONTAINS(read_error(dir.path() / "m.json"), "missing field \"source.pooling\"");
}

// Manifests written before the text preparation was recorded read as no
// prefix, no stripping.
TEST(Manifest, WithoutTextSectionReadsAsDefaults) {
  const test::TempDir dir;
  json document = example_manifest();
  document.erase("text");
  std::ofstream(dir.path() / "m.json") << document.dump();
  EXPECT_EQ(read_manifest(dir.path() / "m.json").text, TextPreparation{});
  document["text"] = {{"prefix", 3}, {"strip_text", false}, {"max_length", 8}};
  std::ofstream(dir.path() / "m.json") << document.dump();
  EXPECT_CONTAINS(read_error(dir.path() / "m.json"), "field \"text.prefix\" must be a string");
}

TEST(Manifest, NotJsonMissingAndNotAnObjectAreNamed) {
  const test::TempDir dir;
  std::ofstream(dir.path() / "broken.json") << "{\"kind\": ";
  EXPECT_CONTAINS(read_error(dir.path() / "broken.json"), "broken.json: not valid JSON");
  std::ofstream(dir.path() / "list.json") << "[1, 2]";
  EXPECT_CONTAINS(read_error(dir.path() / "list.json"), "a manifest must be an object, not array");
  EXPECT_CONTAINS(read_error(dir.path() / "missing.json"),
                  "missing.json: No such file or directory");
}

TEST(Manifest, OversizedFileIsRefused) {
  const test::TempDir dir;
  const fs::path file = dir.path() / "huge.json";
  std::ofstream(file) << "\"" << std::string(1 << 20, 'x') << "\"";
  EXPECT_CONTAINS(read_error(file), "huge.json: over 1 MiB");
}

TEST(Manifest, SpecialFilesAreRefusedWithoutWaiting) {
  const test::TempDir dir;
  const fs::path fifo = dir.path() / "fifo.json";
  ASSERT_EQ(::mkfifo(fifo.c_str(), 0600), 0);
  EXPECT_CONTAINS(read_error(fifo), "fifo.json: not a regular file");
  EXPECT_CONTAINS(read_error("/dev/zero"), "/dev/zero: not a regular file");
  EXPECT_CONTAINS(read_error(dir.path()), "not a regular file");
}

TEST(DescribeDifference, EmptyForComparableSources) {
  EXPECT_EQ(describe_difference(example_source(), "a", example_source(), "b"), "");
  EXPECT_TRUE(example_source() == example_source());
}

TEST(DescribeDifference, NamesEveryDifferingFieldWithBothValues) {
  VectorSource other = example_source();
  other.pooling = "cls";
  other.dim = 128;
  other.layers = {12};
  other.exclude_special = false;
  EXPECT_EQ(describe_difference(example_source(), "stats.json", other, "this run"),
            "layers: [11, 12] in stats.json, [12] in this run; "
            "pooling: mean in stats.json, cls in this run; "
            "exclude_special: true in stats.json, false in this run; "
            "dim: 32 in stats.json, 128 in this run");
  EXPECT_TRUE(example_source() != other);

  VectorSource model = example_source();
  model.architecture = "albert";
  model.weights_sha256 = "cd34";
  model.slot_labels = {"mean"};
  model.layer_aggregation = "mean";
  model.dtype = "float32";
  EXPECT_EQ(describe_difference(example_source(), "a.npy", model, "b.npy"),
            "architecture: bert in a.npy, albert in b.npy; "
            "weights_sha256: ab12 in a.npy, cd34 in b.npy; "
            "slot_labels: [-2, -1] in a.npy, [mean] in b.npy; "
            "layer_aggregation: none in a.npy, mean in b.npy; "
            "dtype: bfloat16 in a.npy, float32 in b.npy");
}

TEST(Manifest, WithoutShardDescribesOneWholeRun) {
  const test::TempDir dir;
  json document = example_manifest();
  document.erase("shard");
  const fs::path file = dir.path() / "old.json";
  std::ofstream(file) << document.dump();
  const Manifest read = read_manifest(file);
  EXPECT_EQ(read.shard.index, 0u);
  EXPECT_EQ(read.shard.count, 1u);
  EXPECT_EQ(read.shard.begin, 10u);
  EXPECT_EQ(read.shard.end, 20u);
  EXPECT_TRUE(read.shard.complete);
}

TEST(Manifest, InconsistentShardIsRefused) {
  const test::TempDir dir;
  EXPECT_CONTAINS(read_error(write_edited(dir.path(), "a.json", "/shard/index"_json_pointer, 4)),
                  "field \"shard\" is inconsistent: shard 4 of 4");
  EXPECT_CONTAINS(read_error(write_edited(dir.path(), "b.json", "/shard/end"_json_pointer, 41)),
                  "records [10, 41) of 40");
  EXPECT_CONTAINS(read_error(write_edited(dir.path(), "c.json", "/shard/settings/batch_tokens"_json_pointer, 8)),
                  "field \"shard.settings.batch_tokens\" must be a string");
}

TEST(DescribeRunDifference, IgnoresProgressAndPlaceAndNamesEverythingElse) {
  const Manifest first = example_manifest();
  Manifest later = first;
  later.bert_embed_version = "0.2.0";
  later.rows = 99;
  later.files = {{"other.npy", 1, 1}};
  later.input.first_record = 20;
  later.input.end_record = 30;
  later.shard = ShardDescription{2, 4, 20, 30, 40, false, first.shard.settings};
  EXPECT_EQ(describe_run_difference(first, "a", later, "b"), "");

  Manifest other = first;
  other.source.pooling = "cls";
  other.shard.settings["batch_tokens"] = "512";
  other.shard.total_records = 41;
  other.input.size_bytes = 1235;
  EXPECT_EQ(describe_run_difference(first, "a.npy", other, "b.npy"),
            "input.size_bytes: 1234 in a.npy, 1235 in b.npy; "
            "shard.settings.batch_tokens: \"8192\" in a.npy, \"512\" in b.npy; "
            "shard.total_records: 40 in a.npy, 41 in b.npy; "
            "source.pooling: \"mean\" in a.npy, \"cls\" in b.npy");
}

TEST(CheckManifestFiles, PassesCompleteFilesAndNamesAMismatch) {
  const test::TempDir dir;
  std::ofstream(dir.path() / "out.npy") << std::string(768, 'v');
  std::ofstream(dir.path() / "out.offsets.npy") << std::string(216, 'o');
  const fs::path manifest_file = dir.path() / "out.npy.manifest.json";
  const Manifest manifest = example_manifest();
  EXPECT_NO_THROW(check_manifest_files(manifest, manifest_file));

  std::ofstream(dir.path() / "out.offsets.npy") << std::string(100, 'o');
  const std::string message = test::error_message<std::runtime_error>(
      [&] { check_manifest_files(manifest, manifest_file); });
  EXPECT_CONTAINS(message, manifest_file.string());
  EXPECT_CONTAINS(message, "out.offsets.npy has 100 bytes, the manifest lists 216");

  fs::remove(dir.path() / "out.npy");
  EXPECT_CONTAINS(test::error_message<std::runtime_error>(
                      [&] { check_manifest_files(manifest, manifest_file); }),
                  "out.npy: No such file or directory");
}

}  // namespace
}  // namespace bert_embed
