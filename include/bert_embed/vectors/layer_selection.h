// Which hidden states to keep, and how to combine several of them.
#pragma once

#include <ATen/ATen.h>

#include <string>
#include <string_view>
#include <vector>

#include "bert_embed/enum_names.h"

namespace bert_embed {

struct LayerSelection {
  std::vector<int> indices;         // hidden-state indices in [0, num_layers], in the order asked
  std::vector<std::string> labels;  // how the user named each one ("-1", "3"), for output keys
};

// SPEC: "all" (0 to num_layers), or a comma-separated list of indices and
// inclusive ranges "a:b". 0 is the embedding output, k the output of layer k;
// negative indices count from the end (-1 is the last layer, -(num_layers+1)
// the embedding output). Range members are labelled with their absolute
// index. Throws std::invalid_argument naming the bad part and the valid range;
// a layer asked twice is refused, as its output key would be ambiguous.
LayerSelection parse_layers(std::string_view spec, int num_layers);

enum class LayerAggregation { kNone, kMean, kConcat };

inline constexpr EnumNames<LayerAggregation, 3> kLayerAggregationNames{
    {{"none", LayerAggregation::kNone}, {"mean", LayerAggregation::kMean}, {"concat", LayerAggregation::kConcat}}};

// A name of kLayerAggregationNames; throws std::invalid_argument otherwise.
inline LayerAggregation parse_layer_aggregation(std::string_view name) {
  return parse_name(kLayerAggregationNames, name, "layer aggregation");
}

// per_layer: [rows, layers, dim] -> [rows, 1, dim] (mean),
// [rows, 1, layers*dim] (concat, in the order asked) or unchanged (none).
at::Tensor aggregate_layers(const at::Tensor& per_layer, LayerAggregation aggregation);

}  // namespace bert_embed
