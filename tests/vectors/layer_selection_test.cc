#include "bert_embed/vectors/layer_selection.h"

#include <gtest/gtest.h>

#include <stdexcept>
#include <string>
#include <vector>

#include "expect_error.h"

namespace bert_embed {
namespace {

// The message of the std::invalid_argument that parse_layers throws.
std::string layer_error(const std::string& spec, int num_layers) {
  SCOPED_TRACE("parse_layers(\"" + spec + "\", " + std::to_string(num_layers) + ")");
  return test::error_message<std::invalid_argument>([&] { parse_layers(spec, num_layers); });
}

TEST(ParseLayers, LastLayerIsMinusOne) {
  const LayerSelection selection = parse_layers("-1", 12);
  EXPECT_EQ(selection.indices, (std::vector<int>{12}));
  EXPECT_EQ(selection.labels, (std::vector<std::string>{"-1"}));
}

TEST(ParseLayers, ZeroIsTheEmbeddingOutput) {
  EXPECT_EQ(parse_layers("0", 12).indices, (std::vector<int>{0}));
  EXPECT_EQ(parse_layers("-13", 12).indices, (std::vector<int>{0}));
}

TEST(ParseLayers, ListKeepsOrderAndLabels) {
  const LayerSelection selection = parse_layers("-4,-3,-2,-1", 12);
  EXPECT_EQ(selection.indices, (std::vector<int>{9, 10, 11, 12}));
  EXPECT_EQ(selection.labels, (std::vector<std::string>{"-4", "-3", "-2", "-1"}));

  const LayerSelection reversed = parse_layers("-1,1", 12);
  EXPECT_EQ(reversed.indices, (std::vector<int>{12, 1}));
  EXPECT_EQ(reversed.labels, (std::vector<std::string>{"-1", "1"}));
}

TEST(ParseLayers, RangeIsInclusiveAndLabelledWithAbsoluteIndices) {
  const LayerSelection selection = parse_layers("1:4", 12);
  EXPECT_EQ(selection.indices, (std::vector<int>{1, 2, 3, 4}));
  EXPECT_EQ(selection.labels, (std::vector<std::string>{"1", "2", "3", "4"}));
}

TEST(ParseLayers, RangeWithNegativeBounds) {
  const LayerSelection selection = parse_layers("-3:-1", 12);
  EXPECT_EQ(selection.indices, (std::vector<int>{10, 11, 12}));
  EXPECT_EQ(selection.labels, (std::vector<std::string>{"10", "11", "12"}));
  EXPECT_EQ(parse_layers("0:-2", 3).indices, (std::vector<int>{0, 1, 2}));
  EXPECT_EQ(parse_layers("2:2", 3).indices, (std::vector<int>{2}));
}

TEST(ParseLayers, ListMixesNumbersAndRanges) {
  const LayerSelection selection = parse_layers("0, 2:3 ,-1", 4);
  EXPECT_EQ(selection.indices, (std::vector<int>{0, 2, 3, 4}));
  EXPECT_EQ(selection.labels, (std::vector<std::string>{"0", "2", "3", "-1"}));
}

TEST(ParseLayers, AllIncludesTheEmbeddingOutput) {
  const LayerSelection selection = parse_layers("all", 2);
  EXPECT_EQ(selection.indices, (std::vector<int>{0, 1, 2}));
  EXPECT_EQ(selection.labels, (std::vector<std::string>{"0", "1", "2"}));
}

TEST(ParseLayers, OutOfRangeNamesThePartAndTheValidRange) {
  const std::string too_high = layer_error("1,3", 2);
  EXPECT_PRED_FORMAT2(::testing::IsSubstring, "\"3\"", too_high);
  EXPECT_PRED_FORMAT2(::testing::IsSubstring, "out of range", too_high);
  EXPECT_PRED_FORMAT2(::testing::IsSubstring, "0..2", too_high);
  EXPECT_PRED_FORMAT2(::testing::IsSubstring, "-3..-1", too_high);

  EXPECT_PRED_FORMAT2(::testing::IsSubstring, "\"-4\"", layer_error("-4", 2));
  EXPECT_PRED_FORMAT2(::testing::IsSubstring, "\"7\"", layer_error("1:7", 2));
}

TEST(ParseLayers, MalformedPartsAreNamed) {
  EXPECT_PRED_FORMAT2(::testing::IsSubstring, "\"x\" is not a layer number", layer_error("1,x", 2));
  EXPECT_PRED_FORMAT2(::testing::IsSubstring, "\"1.5\"", layer_error("1.5", 2));
  EXPECT_PRED_FORMAT2(::testing::IsSubstring, "\"+1\"", layer_error("+1", 2));
  EXPECT_PRED_FORMAT2(::testing::IsSubstring, "\"1:\"", layer_error("1:", 2));
  EXPECT_PRED_FORMAT2(::testing::IsSubstring, "\"1:2:3\"", layer_error("1:2:3", 2));
  EXPECT_PRED_FORMAT2(::testing::IsSubstring, "\"all\"", layer_error("all,1", 2));
  EXPECT_PRED_FORMAT2(::testing::IsSubstring, "\"99999999999\"", layer_error("99999999999", 2));
  EXPECT_PRED_FORMAT2(::testing::IsSubstring, "empty entry", layer_error("1,,2", 2));
  EXPECT_PRED_FORMAT2(::testing::IsSubstring, "empty entry", layer_error("", 2));
}

TEST(ParseLayers, BackwardsRangeIsRefused) {
  EXPECT_PRED_FORMAT2(::testing::IsSubstring, "range \"2:1\" runs backwards",
                      layer_error("2:1", 2));
  EXPECT_PRED_FORMAT2(::testing::IsSubstring, "runs backwards", layer_error("-1:-2", 2));
}

TEST(ParseLayers, LayerAskedTwiceIsRefused) {
  EXPECT_PRED_FORMAT2(::testing::IsSubstring, "layer 1 again", layer_error("1,1", 2));
  // -1 and 2 are the same layer of a 2-layer model.
  EXPECT_PRED_FORMAT2(::testing::IsSubstring, "already asked as \"-1\"", layer_error("-1,2", 2));
  EXPECT_PRED_FORMAT2(::testing::IsSubstring, "layer 1 again", layer_error("0:2,1", 2));
}

TEST(ParseLayerAggregation, KnownNames) {
  EXPECT_EQ(parse_layer_aggregation("none"), LayerAggregation::kNone);
  EXPECT_EQ(parse_layer_aggregation("mean"), LayerAggregation::kMean);
  EXPECT_EQ(parse_layer_aggregation("concat"), LayerAggregation::kConcat);
}

TEST(ParseLayerAggregation, UnknownNameListsTheValidOnes) {
  const std::string message =
      test::error_message<std::invalid_argument>([] { parse_layer_aggregation("sum"); });
  EXPECT_PRED_FORMAT2(::testing::IsSubstring, "\"sum\"", message);
  EXPECT_PRED_FORMAT2(::testing::IsSubstring, "none, mean or concat", message);
}

at::Tensor three_layers() {
  // [rows=2, layers=3, dim=4] with distinct values.
  return at::arange(24, at::kFloat).reshape({2, 3, 4});
}

TEST(AggregateLayers, NoneKeepsLayersApart) {
  const at::Tensor per_layer = three_layers();
  EXPECT_TRUE(at::equal(aggregate_layers(per_layer, LayerAggregation::kNone), per_layer));
}

TEST(AggregateLayers, MeanAveragesTheLayers) {
  const at::Tensor mean = aggregate_layers(three_layers(), LayerAggregation::kMean);
  ASSERT_EQ(mean.sizes(), (std::vector<std::int64_t>{2, 1, 4}));
  // Row 0: layers hold 0..3, 4..7, 8..11; their mean is 4..7.
  EXPECT_TRUE(at::allclose(mean[0][0], at::arange(4, 8, at::kFloat)));
  EXPECT_TRUE(at::allclose(mean[1][0], at::arange(16, 20, at::kFloat)));
}

TEST(AggregateLayers, ConcatJoinsLayersInTheOrderAsked) {
  const at::Tensor per_layer = three_layers();
  const at::Tensor joined = aggregate_layers(per_layer, LayerAggregation::kConcat);
  ASSERT_EQ(joined.sizes(), (std::vector<std::int64_t>{2, 1, 12}));
  EXPECT_TRUE(at::equal(joined[1][0], at::arange(12, 24, at::kFloat)));
  // A non-contiguous input (layers reordered) is joined in its own order.
  const at::Tensor reordered = per_layer.index_select(1, at::tensor({2, 0}, at::kLong));
  const at::Tensor joined_reordered = aggregate_layers(
      reordered.transpose(0, 1).contiguous().transpose(0, 1), LayerAggregation::kConcat);
  EXPECT_TRUE(at::equal(joined_reordered[0][0],
                        at::cat({at::arange(8, 12, at::kFloat), at::arange(0, 4, at::kFloat)})));
}

TEST(AggregateLayers, RefusesOtherShapes) {
  EXPECT_THROW(aggregate_layers(at::zeros({2, 3}), LayerAggregation::kMean), std::invalid_argument);
}

}  // namespace
}  // namespace bert_embed
