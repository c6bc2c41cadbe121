#include "bert_embed/io/npy_writer.h"

#include <gtest/gtest.h>

#include <cstring>
#include <fstream>
#include <iterator>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

#include "command.h"
#include "expect_error.h"
#include "npy_reader.h"
#include "temp_dir.h"

namespace bert_embed {
namespace {

namespace fs = std::filesystem;

// Writers of these tests describe their outputs with no provenance.
const Manifest kNoProvenance;

WriterOptions npy_options(const fs::path& output, std::vector<std::string> labels = {"-1"},
                          bool per_token = false) {
  WriterOptions options;
  options.format = OutputFormat::kNpy;
  options.output = output;
  options.slot_labels = std::move(labels);
  options.per_token = per_token;
  return options;
}

void finish_without_records(const WriterOptions& options) {
  OutputSet outputs;
  make_embedding_writer(outputs, options, kNoProvenance)->finish();
  outputs.commit();
}

std::string hex(const void* data, std::size_t size) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string out;
  for (std::size_t i = 0; i < size; ++i) {
    const auto byte = static_cast<const unsigned char*>(data)[i];
    out += kDigits[byte >> 4];
    out += kDigits[byte & 0xf];
  }
  return out;
}

// What numpy.load makes of a file: "shape dtype hex-of-the-data".
std::string numpy_view(const fs::path& file) {
  const test::CommandResult python = test::run_command(
      "/usr/bin/python3 -c 'import sys, numpy; a = numpy.load(sys.argv[1]); "
      "print(a.shape, a.dtype, a.tobytes().hex())' " +
      test::shell_quote(file.string()));
  EXPECT_EQ(python.exit_status, 0) << "numpy.load failed on " << file;
  return python.output;
}

std::string expected_view(const std::string& shape, const char* dtype, const at::Tensor& values) {
  const at::Tensor flat = values.contiguous();
  return shape + " " + dtype + " " + hex(flat.data_ptr(), flat.numel() * flat.element_size()) +
         "\n";
}

std::string file_bytes(const fs::path& file) {
  std::ifstream in(file, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

// Format 1.0 as numpy writes it: magic, version, a little-endian header length
// such that the data starts at a multiple of 64, a header ending in '\n'.
void expect_valid_header(const fs::path& file) {
  const std::string bytes = file_bytes(file);
  ASSERT_GE(bytes.size(), 10u);
  EXPECT_EQ(bytes.substr(0, 8), std::string("\x93NUMPY\x01\x00", 8));
  const std::size_t header_length =
      static_cast<unsigned char>(bytes[8]) | static_cast<unsigned char>(bytes[9]) << 8;
  EXPECT_EQ((10 + header_length) % 64, 0u);
  ASSERT_LE(10 + header_length, bytes.size());
  EXPECT_EQ(bytes[10 + header_length - 1], '\n');
  EXPECT_EQ(bytes.substr(10, 11), "{'descr': '");
}

TEST(NpyWriter, PooledVectorsAreRowsOfAMatrix) {
  const test::TempDir dir;
  const fs::path output = dir.path() / "out.npy";
  const at::Tensor vectors = at::randn({3, 1, 5});
  OutputSet outputs;
  auto writer = make_embedding_writer(outputs, npy_options(output), kNoProvenance);
  for (std::int64_t i = 0; i < 3; ++i) writer->write(PooledRecord{i, std::nullopt, vectors[i]});
  EXPECT_FALSE(fs::exists(output));
  writer->finish();
  outputs.commit();

  expect_valid_header(output);
  EXPECT_EQ(numpy_view(output), expected_view("(3, 5)", "float32", vectors));
  const test::NpyArray read = test::read_npy(output);
  EXPECT_EQ(read.shape, (std::vector<std::int64_t>{3, 5}));
  EXPECT_FALSE(fs::exists(npy_offsets_path(output)));
}

TEST(NpyWriter, LayersKeptApartAreStackedInTheOrderAsked) {
  const test::TempDir dir;
  const fs::path output = dir.path() / "out.npy";
  const at::Tensor vectors = at::randn({4, 3, 2});  // [lines, slots, dim]
  OutputSet outputs;
  auto writer =
      make_embedding_writer(outputs, npy_options(output, {"-3", "-2", "-1"}), kNoProvenance);
  for (std::int64_t i = 0; i < 4; ++i) writer->write(PooledRecord{i, std::nullopt, vectors[i]});
  writer->finish();
  outputs.commit();
  EXPECT_EQ(numpy_view(output), expected_view("(4, 3, 2)", "float32", vectors));
}

TEST(NpyWriter, PerTokenRowsWithOffsetsBeside) {
  const test::TempDir dir;
  const fs::path output = dir.path() / "tokens.npy";
  const std::vector<at::Tensor> lines = {at::randn({1, 3, 4}), at::randn({1, 0, 4}),
                                         at::randn({1, 2, 4})};
  OutputSet outputs;
  auto writer = make_embedding_writer(outputs, npy_options(output, {"-1"}, true), kNoProvenance);
  for (std::size_t i = 0; i < lines.size(); ++i) {
    const auto tokens = static_cast<std::size_t>(lines[i].size(1));
    writer->write(TokenRecord{static_cast<std::int64_t>(i), std::nullopt,
                              std::vector<std::string>(tokens, "t"), std::vector<Span>(tokens),
                              lines[i]});
  }
  EXPECT_FALSE(fs::exists(npy_offsets_path(output)));
  writer->finish();
  outputs.commit();

  const fs::path offsets = dir.path() / "tokens.offsets.npy";
  expect_valid_header(output);
  expect_valid_header(offsets);
  EXPECT_EQ(numpy_view(output),
            expected_view("(5, 4)", "float32", at::cat({lines[0][0], lines[2][0]})));
  EXPECT_EQ(numpy_view(offsets),
            expected_view("(4,)", "int64", at::tensor({0, 3, 3, 5}, at::kLong)));
}

TEST(NpyWriter, PerTokenLayersKeptApartAreTokenMajor) {
  const test::TempDir dir;
  const fs::path output = dir.path() / "tokens.npy";
  const at::Tensor embeddings = at::randn({2, 3, 4});  // [slots, tokens, dim]
  OutputSet outputs;
  auto writer =
      make_embedding_writer(outputs, npy_options(output, {"1", "2"}, true), kNoProvenance);
  writer->write(TokenRecord{0, std::nullopt, {"a", "b", "c"}, std::vector<Span>(3), embeddings});
  writer->finish();
  outputs.commit();
  EXPECT_EQ(numpy_view(output), expected_view("(3, 2, 4)", "float32", embeddings.transpose(0, 1)));
  EXPECT_EQ(numpy_view(npy_offsets_path(output)),
            expected_view("(2,)", "int64", at::tensor({0, 3}, at::kLong)));
}

TEST(NpyWriter, EmptyOutputHasZeroRows) {
  const test::TempDir dir;
  WriterOptions known = npy_options(dir.path() / "known.npy");
  known.dim = 7;
  finish_without_records(known);
  EXPECT_EQ(numpy_view(dir.path() / "known.npy"), "(0, 7) float32 \n");

  finish_without_records(npy_options(dir.path() / "unknown.npy"));
  EXPECT_EQ(numpy_view(dir.path() / "unknown.npy"), "(0, 0) float32 \n");

  finish_without_records(npy_options(dir.path() / "tokens.npy", {"-1"}, true));
  EXPECT_EQ(numpy_view(dir.path() / "tokens.offsets.npy"),
            expected_view("(1,)", "int64", at::zeros({1}, at::kLong)));
}

TEST(NpyWriter, LargeRowCountsFitTheReservedHeader) {
  const test::TempDir dir;
  const fs::path output = dir.path() / "out.npy";
  const at::Tensor vectors = at::randn({12345, 1, 3});
  OutputSet outputs;
  auto writer = make_embedding_writer(outputs, npy_options(output), kNoProvenance);
  for (std::int64_t i = 0; i < vectors.size(0); ++i)
    writer->write(PooledRecord{i, std::nullopt, vectors[i]});
  writer->finish();
  outputs.commit();
  const test::NpyArray read = test::read_npy(output);
  EXPECT_EQ(read.shape, (std::vector<std::int64_t>{12345, 3}));
  EXPECT_EQ(
      std::memcmp(read.f32.data(), vectors.data_ptr<float>(), read.f32.size() * sizeof(float)), 0);
}

TEST(NpyWriter, StandardOutputIsRefused) {
  try {
    OutputSet outputs;
    make_embedding_writer(outputs, npy_options("-"), kNoProvenance);
    FAIL() << "NPY on stdout was accepted";
  } catch (const std::runtime_error& error) {
    EXPECT_PRED_FORMAT2(::testing::IsSubstring, "NPY output needs a regular output file",
                        error.what());
    EXPECT_PRED_FORMAT2(::testing::IsSubstring, "<stdout>", error.what());
  }
}

TEST(NpyWriter, UnfinishedOutputLeavesNoFiles) {
  const test::TempDir dir;
  {
    OutputSet outputs;
    auto writer = make_embedding_writer(
        outputs, npy_options(dir.path() / "tokens.npy", {"-1"}, true), kNoProvenance);
    writer->write(TokenRecord{0, std::nullopt, {"a"}, std::vector<Span>(1), at::ones({1, 1, 2})});
  }
  EXPECT_TRUE(fs::is_empty(dir.path()));
}

// numpy's own conversions of the same float32 vectors, compared byte for byte.
TEST(NpyWriter, CompactDtypesAreWhatNumpyMakesOfTheVectors) {
  const test::TempDir dir;
  const at::Tensor vectors = at::randn({6, 2, 11});  // 11 dimensions: the last byte of bits is padded
  const fs::path floats = dir.path() / "float32.npy";
  const auto write = [&](const fs::path& output, OutputDtype dtype) {
    WriterOptions options = npy_options(output, {"-2", "-1"});
    options.dtype = dtype;
    OutputSet outputs;
    auto writer = make_embedding_writer(outputs, options, kNoProvenance);
    for (std::int64_t i = 0; i < 6; ++i) writer->write(PooledRecord{i, std::nullopt, vectors[i]});
    writer->finish();
    outputs.commit();
  };
  write(floats, OutputDtype::kFloat32);
  write(dir.path() / "float16.npy", OutputDtype::kFloat16);
  write(dir.path() / "int8.npy", OutputDtype::kInt8);
  write(dir.path() / "binary.npy", OutputDtype::kBinary);
  for (const char* name : {"float16.npy", "int8.npy", "binary.npy"}) expect_valid_header(dir.path() / name);
  const std::string script = R"(
import json, sys
import numpy as np
folder = sys.argv[1]
x = np.load(folder + "/float32.npy")
ranges = np.stack((x.min(0), x.max(0)))
expected = {"float16": x.astype(np.float16), "binary": np.packbits(x > 0, axis=-1),
            "int8": ((x - ranges[0]) / ((ranges[1] - ranges[0]) / 255) - 128).astype(np.int8)}
for name, want in expected.items():
    got = np.load(folder + "/" + name + ".npy")
    print(name, got.dtype, list(got.shape), np.array_equal(got, want))
ranges_json = json.load(open(folder + "/int8.npy.manifest.json"))["int8_ranges"]
print("ranges", np.array_equal(np.array(ranges_json["min"], dtype=np.float32), ranges[0]),
      np.array_equal(np.array(ranges_json["max"], dtype=np.float32), ranges[1]))
)";
  const test::CommandResult python = test::run_command("/usr/bin/python3 -c " + test::shell_quote(script) + " " +
                                                       test::shell_quote(dir.path().string()));
  ASSERT_EQ(python.exit_status, 0) << python.output;
  EXPECT_CONTAINS(python.output, "float16 float16 [6, 2, 11] True");
  EXPECT_CONTAINS(python.output, "binary uint8 [6, 2, 2] True");
  EXPECT_CONTAINS(python.output, "int8 int8 [6, 2, 11] True");
  EXPECT_CONTAINS(python.output, "ranges True True");
  // Calibrating spools the vectors beside the output: nothing is left of it.
  for (const auto& entry : fs::directory_iterator(dir.path())) {
    EXPECT_TRUE(entry.path().extension() == ".npy" || entry.path().extension() == ".json") << entry.path();
  }
}

TEST(NpyWriter, Int8RangesOfAnotherShapeAreRefused) {
  const test::TempDir dir;
  WriterOptions options = npy_options(dir.path() / "out.npy");
  options.dim = 3;
  options.dtype = OutputDtype::kInt8;
  options.int8_ranges = Int8Ranges{"stats.json", {{0, 0}}, {{1, 1}}};
  OutputSet outputs;
  EXPECT_CONTAINS(test::error_message<std::invalid_argument>(
                      [&] { make_embedding_writer(outputs, options, kNoProvenance); }),
                  "int8 ranges from stats.json are of [1, 2]");
}

TEST(JsonlWriter, CompactDtypesAreRefused) {
  WriterOptions options;
  options.dtype = OutputDtype::kBinary;
  OutputSet outputs;
  EXPECT_CONTAINS(test::error_message<std::invalid_argument>(
                      [&] { make_embedding_writer(outputs, options, kNoProvenance); }),
                  "--output-dtype binary needs NPY output");
}

TEST(NpyOffsetsPath, ReplacesTheNpyExtension) {
  EXPECT_EQ(npy_offsets_path("out/tokens.npy"), fs::path("out/tokens.offsets.npy"));
  EXPECT_EQ(npy_offsets_path("tokens"), fs::path("tokens.offsets.npy"));
  EXPECT_EQ(npy_offsets_path("tokens.bin"), fs::path("tokens.bin.offsets.npy"));
}

}  // namespace
}  // namespace bert_embed
