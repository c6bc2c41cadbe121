#include "bert_embed/vectors/quantize.h"

#include <gtest/gtest.h>

#include <stdexcept>
#include <string>
#include <vector>

#include "bert_embed/vectors/postprocess.h"
#include "command.h"
#include "expect_error.h"
#include "temp_dir.h"

namespace bert_embed {
namespace {

namespace fs = std::filesystem;

at::Tensor rows_of(const std::vector<float>& values, std::int64_t slots, std::int64_t dim) {
  return at::tensor(values, at::kFloat).reshape({-1, slots, dim});
}

TEST(Quantize, Int8IsSentenceTransformersFormula) {
  // Dimension 0 spans [-1, 1.55], steps of 0.01 rounded in float32;
  // dimension 1 [0, 255], steps of 1 exactly.
  const at::Tensor minimum = at::tensor({-1.0f, 0.0f}).reshape({1, 2});
  const at::Tensor maximum = at::tensor({1.55f, 255.0f}).reshape({1, 2});
  const at::Tensor rows = rows_of({-1.0f, 0.0f, 1.55f, 255.0f, 0.0f, 1.0f, 0.3f, 127.9f}, 1, 2);
  const at::Tensor quantized = quantize_int8(rows, minimum, maximum);
  ASSERT_EQ(quantized.scalar_type(), at::kChar);
  // float32 arithmetic as numpy's: ((x - start) / step - 128).astype(int8), truncating toward zero.
  const at::Tensor step = (maximum - minimum) / 255.0f;
  const at::Tensor expected = ((rows - minimum) / step - 128.0f).trunc().to(at::kChar);
  EXPECT_TRUE(at::equal(quantized, expected));
  EXPECT_EQ(quantized[0][0][0].item<int>(), -128);
  EXPECT_EQ(quantized[1][0][1].item<int>(), 127);
  EXPECT_EQ(quantized[3][0][1].item<int>(), -0);  // -0.1 truncated toward zero
}

TEST(Quantize, Int8SaturatesOutsideTheRangeAndMapsConstantDimensionsToTheBottom) {
  const at::Tensor minimum = at::tensor({0.0f, 5.0f}).reshape({1, 2});
  const at::Tensor maximum = at::tensor({1.0f, 5.0f}).reshape({1, 2});
  const at::Tensor quantized = quantize_int8(rows_of({-3.0f, 5.0f, 9.0f, 7.0f}, 1, 2), minimum, maximum);
  EXPECT_EQ(quantized[0][0][0].item<int>(), -128);
  EXPECT_EQ(quantized[1][0][0].item<int>(), 127);
  EXPECT_EQ(quantized[0][0][1].item<int>(), -128);
  EXPECT_EQ(quantized[1][0][1].item<int>(), -128);
  EXPECT_THROW(quantize_int8(rows_of({1, 2, 3}, 1, 3), minimum, maximum), std::invalid_argument);
}

TEST(Quantize, SignBitsArePackedAsNumpyPackbitsWithTheFirstDimensionHighest) {
  // 10 dimensions: two bytes, the second padded with zeros.
  const at::Tensor rows = rows_of({1, -1, 0, 2, -3, 4, 0.5f, -0.5f, 7, 1,
                                   -1, -1, -1, -1, -1, -1, -1, -1, -1, 3}, 1, 10);
  const at::Tensor packed = pack_sign_bits(rows);
  ASSERT_EQ(packed.scalar_type(), at::kByte);
  ASSERT_EQ(packed.sizes(), (std::vector<std::int64_t>{2, 1, 2}));
  EXPECT_EQ(packed[0][0][0].item<int>(), 0b10010110);
  EXPECT_EQ(packed[0][0][1].item<int>(), 0b11000000);
  EXPECT_EQ(packed[1][0][0].item<int>(), 0);
  EXPECT_EQ(packed[1][0][1].item<int>(), 0b01000000);
}

TEST(Quantize, RangesRoundTripThroughTheManifestForm) {
  const at::Tensor minimum = at::tensor({-1.5f, 0.25f, 3.0f, 1e-7f}).reshape({2, 2});
  const at::Tensor maximum = minimum + 1;
  const Int8Ranges ranges = int8_ranges_of(minimum, maximum, "data");
  EXPECT_EQ(ranges.calibration, "data");
  EXPECT_TRUE(at::equal(int8_minimum(ranges), minimum));
  EXPECT_TRUE(at::equal(int8_maximum(ranges), maximum));
}

VectorSource source_of(std::int64_t dim) {
  VectorSource source;
  source.architecture = "bert";
  source.slot_labels = {"-1"};
  source.dim = dim;
  return source;
}

TEST(Quantize, RangesFromStatisticsAreThoseOfTheSameRawVectorsOnly) {
  const test::TempDir dir;
  const fs::path file = dir.path() / "stats.json";
  const at::Tensor rows = at::randn({50, 1, 4});
  PostProcessor counted(PostProcessOptions{});
  counted.fit(rows);
  counted.save(file, source_of(4));
  const Int8Ranges ranges = int8_ranges_from_statistics(file, source_of(4), "out.npy", "none");
  EXPECT_EQ(ranges.calibration, file.string());
  EXPECT_TRUE(at::equal(int8_minimum(ranges), rows.amin(0)));
  std::string message = test::error_message<std::invalid_argument>(
      [&] { int8_ranges_from_statistics(file, source_of(4), "out.npy", "whiten:2"); });
  EXPECT_CONTAINS(message, file.string());
  EXPECT_CONTAINS(message, "out.npy are post-processed (whiten:2)");
  VectorSource other = source_of(4);
  other.pooling = "cls";
  message = test::error_message<std::runtime_error>(
      [&] { int8_ranges_from_statistics(file, other, "out.npy", "none"); });
  EXPECT_CONTAINS(message, "pooling: mean in stats.json, cls in out.npy");
}

}  // namespace
}  // namespace bert_embed
