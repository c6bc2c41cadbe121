// Which hidden states to keep, and how to combine several of them.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include <ATen/ATen.h>

namespace bert_embed {

struct LayerSelection {
  std::vector<int> indices;         // hidden-state indices in [0, num_layers], in the order asked
  std::vector<std::string> labels;  // how the user named each one ("-1", "3"), for output keys
};

// SPEC: "all", a comma-separated list of indices (negatives count from the
// end, -1 is the last layer) and inclusive ranges "a:b". Throws
// std::invalid_argument naming the bad part.
LayerSelection parse_layers(std::string_view spec, int num_layers);

enum class LayerAggregation { kNone, kMean, kConcat };
LayerAggregation parse_layer_aggregation(std::string_view name);

// [rows, layers, dim] -> [rows, 1, dim] (mean), [rows, 1, layers*dim] (concat)
// or unchanged (none).
at::Tensor aggregate_layers(const at::Tensor& per_layer, LayerAggregation aggregation);

}  // namespace bert_embed
