#include "bert_embed/model/attention_fusion.h"

#include <algorithm>
#include <cstdint>
#include <new>
#include <string>
#include <unordered_map>
#include <vector>

#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <cblas.h>
#include <torch/csrc/jit/ir/constants.h>
#include <torch/csrc/jit/ir/subgraph_matcher.h>
#include <torch/csrc/jit/passes/subgraph_rewrite.h>
#include <torch/csrc/jit/runtime/graph_iterator.h>
#include <torch/library.h>

namespace bert_embed {
namespace {

// fused_attention() of scripts/bert_embed_export/layers.py as torch::jit::freeze
// leaves it. Constants and the bias's dtype are pattern inputs, checked by
// inputs_match(): the matcher refuses a match whose inner values have uses
// outside it, and freezing pools each constant into one value used everywhere
// and, where the layers are not in loops, merges every layer's
// prim::dtype(bias) into one.
constexpr const char* kInputs =
    "%qkv, %bias, %bias_dtype, %heads_shape, %permutation, %heads_rows, %scale, %context_shape, %output_shape, "
    "%zero, %one, %two, %last, %false, %none";

const std::string kPattern = std::string("graph(") + kInputs + R"IR():
  %split = aten::view(%qkv, %heads_shape)
  %permuted = aten::permute(%split, %permutation)
  %converted = aten::to(%permuted, %bias_dtype, %false, %false, %zero)
  %heads = aten::reshape(%converted, %heads_rows)
  %query = aten::select(%heads, %zero, %zero)
  %key = aten::select(%heads, %zero, %one)
  %key_t = aten::transpose(%key, %one, %two)
  %scores = aten::baddbmm(%bias, %query, %key_t, %one, %scale)
  %probabilities = aten::softmax(%scores, %last, %none)
  %value = aten::select(%heads, %zero, %two)
  %context = aten::bmm(%probabilities, %value)
  %context_heads = aten::view(%context, %context_shape)
  %context_rows = aten::transpose(%context_heads, %one, %two)
  %qkv_dtype : int = prim::dtype(%qkv)
  %restored = aten::to(%context_rows, %qkv_dtype, %false, %false, %zero)
  %output = aten::reshape(%restored, %output_shape)
  return (%output))IR";

const std::string kReplacement = std::string("graph(") + kInputs + R"IR():
  %output = bert_embed::attention(%qkv, %bias, %heads_shape, %heads_rows, %context_shape, %output_shape, %scale)
  return (%output))IR";

constexpr const char* kOperator = "bert_embed::attention";

bool inputs_match(const torch::jit::Match& match,
                  const std::unordered_map<std::string, torch::jit::Value*>& pattern_values) {
  const auto matched = [&](const char* name) { return match.values_map.at(pattern_values.at(name)); };
  const auto constant = [&](const char* name) { return torch::jit::toIValue(matched(name)); };
  const torch::jit::Node* bias_dtype = matched("bias_dtype")->node();
  if (bias_dtype->kind() != c10::prim::dtype || bias_dtype->input() != matched("bias")) return false;
  const auto is_int = [&](const char* name, std::int64_t expected) {
    const auto value = constant(name);
    return value && value->isInt() && value->toInt() == expected;
  };
  const auto permutation = constant("permutation");
  const auto false_constant = constant("false");
  const auto none = constant("none");
  return is_int("zero", 0) && is_int("one", 1) && is_int("two", 2) && is_int("last", -1) && false_constant &&
         false_constant->isBool() && !false_constant->toBool() && none && none->isNone() && permutation &&
         permutation->isIntList() && permutation->toIntVector() == std::vector<std::int64_t>{2, 0, 3, 1, 4};
}

// The replaced operators, one for one: any dtype, device or shape.
at::Tensor unfused_attention(const at::Tensor& qkv, const at::Tensor& bias, at::IntArrayRef heads_shape,
                             at::IntArrayRef heads_rows, at::IntArrayRef context_shape,
                             at::IntArrayRef output_shape, double scale) {
  const at::Tensor heads = qkv.view(heads_shape)
                               .permute({2, 0, 3, 1, 4})
                               .to(bias.scalar_type(), false, false, at::MemoryFormat::Contiguous)
                               .reshape(heads_rows);
  const at::Tensor scores = at::baddbmm(bias, heads.select(0, 0), heads.select(0, 1).transpose(1, 2), 1, scale);
  return at::bmm(at::softmax(scores, -1), heads.select(0, 2))
      .view(context_shape)
      .transpose(1, 2)
      .to(qkv.scalar_type(), false, false, at::MemoryFormat::Contiguous)
      .reshape(output_shape);
}

struct HeadLayout {
  std::int64_t batch;
  std::int64_t seq;
  std::int64_t heads;
  std::int64_t head_size;
};

// The shapes fused_attention() builds: heads_shape [batch, seq, 3, heads,
// head], the rest derived from it. Anything else runs unfused.
bool float32_cpu_layout(const at::Tensor& qkv, const at::Tensor& bias, at::IntArrayRef heads_shape,
                        at::IntArrayRef heads_rows, at::IntArrayRef context_shape, at::IntArrayRef output_shape,
                        HeadLayout& layout) {
  if (!qkv.device().is_cpu() || !bias.device().is_cpu() || qkv.scalar_type() != at::kFloat ||
      bias.scalar_type() != at::kFloat || qkv.dim() != 3 || !qkv.is_contiguous() || heads_shape.size() != 5 ||
      bias.dim() != 3 || bias.stride(2) != 1) {
    return false;
  }
  layout = {heads_shape[0], heads_shape[1], heads_shape[3], heads_shape[4]};
  const auto [batch, seq, heads, head_size] = layout;
  const std::int64_t width = heads * head_size;
  return heads_shape[2] == 3 && qkv.sizes() == at::IntArrayRef({batch, seq, 3 * width}) &&
         heads_rows == at::IntArrayRef({3, batch * heads, seq, head_size}) &&
         context_shape == at::IntArrayRef({batch, heads, seq, head_size}) &&
         output_shape == at::IntArrayRef({batch, seq, width}) && bias.size(0) == batch * heads &&
         (bias.size(1) == 1 || bias.size(1) == seq) && bias.size(2) == seq;
}

// Each head's products read query, key and value where the projection wrote
// them (rows 3 * width apart) and write the context where the next linear
// layer reads it, so the two relayout copies go. One BLAS call per head, the
// heads split over the threads (OpenBLAS runs single-threaded inside an
// OpenMP parallel region); softmax stays ATen's (vectorized, parallel).
at::Tensor float32_cpu_attention(const at::Tensor& qkv, const at::Tensor& bias, const HeadLayout& layout,
                                 float scale) {
  // Plain copies: lambdas cannot capture structured bindings before C++20.
  const std::int64_t batch = layout.batch;
  const std::int64_t seq = layout.seq;
  const std::int64_t heads = layout.heads;
  const std::int64_t head_size = layout.head_size;
  const std::int64_t width = heads * head_size;
  const std::int64_t qkv_row = 3 * width;
  const float* qkv_data = qkv.data_ptr<float>();
  const auto head_start = [&](std::int64_t head_index) {
    return qkv_data + (head_index / heads) * seq * qkv_row + (head_index % heads) * head_size;
  };

  at::Tensor scores = at::empty({batch * heads, seq, seq}, qkv.options());
  float* scores_data = scores.data_ptr<float>();
  const float* bias_data = bias.data_ptr<float>();
  const std::int64_t bias_row_stride = bias.size(1) == 1 ? 0 : bias.stride(1);
  at::parallel_for(0, batch * heads, 1, [&](std::int64_t begin, std::int64_t end) {
    for (std::int64_t head_index = begin; head_index < end; ++head_index) {
      float* head_scores = scores_data + head_index * seq * seq;
      const float* head_bias = bias_data + head_index * bias.stride(0);
      for (std::int64_t row = 0; row < seq; ++row) {
        std::copy_n(head_bias + row * bias_row_stride, seq, head_scores + row * seq);
      }
      const float* query = head_start(head_index);
      const float* key = query + width;
      cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, seq, seq, head_size, scale, query, qkv_row, key,
                  qkv_row, 1.0F, head_scores, seq);
    }
  });

  const at::Tensor probabilities = at::softmax(scores, -1);
  const float* probabilities_data = probabilities.data_ptr<float>();
  at::Tensor output = at::empty({batch, seq, width}, qkv.options());
  float* output_data = output.data_ptr<float>();
  at::parallel_for(0, batch * heads, 1, [&](std::int64_t begin, std::int64_t end) {
    for (std::int64_t head_index = begin; head_index < end; ++head_index) {
      const float* value = head_start(head_index) + 2 * width;
      float* context = output_data + (head_index / heads) * seq * width + (head_index % heads) * head_size;
      cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, seq, head_size, seq, 1.0F,
                  probabilities_data + head_index * seq * seq, seq, value, qkv_row, 0.0F, context, width);
    }
  });
  return output;
}

at::Tensor attention(const at::Tensor& qkv, const at::Tensor& bias, at::IntArrayRef heads_shape,
                     at::IntArrayRef heads_rows, at::IntArrayRef context_shape, at::IntArrayRef output_shape,
                     double scale) {
  HeadLayout layout{};
  if (float32_cpu_layout(qkv, bias, heads_shape, heads_rows, context_shape, output_shape, layout)) {
    return float32_cpu_attention(qkv, bias, layout, static_cast<float>(scale));
  }
  return unfused_attention(qkv, bias, heads_shape, heads_rows, context_shape, output_shape, scale);
}

// The library that registers bert_embed::attention as the program starts,
// like TORCH_LIBRARY, but built in static storage and never destroyed:
// TORCH_LIBRARY's static unregisters the operator at exit, after libtorch's
// dispatcher may have gone (ThreadSanitizer: unlock of a destroyed mutex).
// In static storage rather than leaked from the heap, so that LeakSanitizer
// sees it, and what it registered, reachable.
alignas(torch::Library) unsigned char attention_library[sizeof(torch::Library)];

bool register_attention_operator() {
  auto* library = new (attention_library)
      torch::Library(torch::Library::DEF, "bert_embed", c10::nullopt, __FILE__, __LINE__);
  library->def(
      "attention(Tensor qkv, Tensor attention_bias, int[] heads_shape, int[] heads_rows, int[] context_shape, "
      "int[] output_shape, float scale) -> Tensor",
      &attention);
  return true;
}

const bool kAttentionRegistered = register_attention_operator();

int count_operator(std::shared_ptr<torch::jit::Graph>& graph, c10::Symbol kind) {
  int count = 0;
  torch::jit::DepthFirstGraphNodeIterator nodes(graph);
  for (const torch::jit::Node* node = nodes.next(); node != nullptr; node = nodes.next()) {
    count += node->kind() == kind;
  }
  return count;
}

}  // namespace

int fuse_attention(torch::jit::Module& module) {
  torch::jit::SubgraphRewriter rewriter;
  rewriter.RegisterRewritePattern(kPattern, kReplacement);
  const c10::Symbol kind = c10::Symbol::fromQualString(kOperator);
  int rewritten = 0;
  for (const torch::jit::Method& method : module.get_methods()) {
    std::shared_ptr<torch::jit::Graph> graph = method.graph();
    const int before = count_operator(graph, kind);
    rewriter.runOnGraph(graph, inputs_match);
    rewritten += count_operator(graph, kind) - before;
  }
  return rewritten;
}

}  // namespace bert_embed
