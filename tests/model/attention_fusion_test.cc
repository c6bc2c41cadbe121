#include "bert_embed/model/attention_fusion.h"

#include "bert_embed/model/bundle.h"

#include <cstdint>
#include <limits>
#include <string>
#include <vector>

#include <ATen/ATen.h>
#include <gtest/gtest.h>
#include <torch/csrc/jit/runtime/graph_iterator.h>
#include <torch/script.h>

#include "fixtures.h"

namespace bert_embed {
namespace {

using AttentionOperator = at::Tensor(const at::Tensor&, const at::Tensor&, at::IntArrayRef, at::IntArrayRef,
                                     at::IntArrayRef, at::IntArrayRef, double);

// fused_attention() of scripts/bert_embed_export/layers.py, written out in ATen.
at::Tensor reference_attention(const at::Tensor& qkv, const at::Tensor& bias, std::int64_t heads, double scale) {
  const std::int64_t batch = qkv.size(0);
  const std::int64_t seq = qkv.size(1);
  const std::int64_t head_size = qkv.size(2) / 3 / heads;
  const at::Tensor split =
      qkv.view({batch, seq, 3, heads, head_size}).permute({2, 0, 3, 1, 4}).to(bias.scalar_type());
  const at::Tensor scores =
      at::matmul(split[0], split[1].transpose(-1, -2)) * scale + bias.view({batch, heads, -1, seq});
  return at::matmul(at::softmax(scores, -1), split[2])
      .transpose(1, 2)
      .reshape({batch, seq, heads * head_size})
      .to(qkv.scalar_type());
}

// bert_embed::attention as the rewritten graph calls it.
at::Tensor attention_operator(const at::Tensor& qkv, const at::Tensor& bias, std::int64_t heads, double scale) {
  const std::int64_t batch = qkv.size(0);
  const std::int64_t seq = qkv.size(1);
  const std::int64_t head_size = qkv.size(2) / 3 / heads;
  static const auto op =
      c10::Dispatcher::singleton().findSchemaOrThrow("bert_embed::attention", "").typed<AttentionOperator>();
  return op.call(qkv, bias, {batch, seq, 3, heads, head_size}, {3, batch * heads, seq, head_size},
                 {batch, heads, seq, head_size}, {batch, seq, heads * head_size}, scale);
}

// [batch * heads, rows, seq]: random scores added, and the last key of the
// second row padding (the lowest float, as padding_bias() gives it).
at::Tensor attention_bias(std::int64_t batch, std::int64_t heads, std::int64_t rows, std::int64_t seq,
                          at::ScalarType type) {
  at::Tensor bias = at::randn({batch, heads, rows, seq});
  bias.select(0, 1).select(2, seq - 1).fill_(std::numeric_limits<float>::lowest());
  return bias.reshape({batch * heads, rows, seq}).to(type);
}

struct Model {
  torch::jit::Module frozen;
  std::int64_t num_layers;
};

// As the encoder prepares a bundle's model: eval, freeze keeping encode().
Model frozen_model(const std::string& bundle) {
  const BundleInfo info = read_bundle_info(test::test_bundle(bundle));
  torch::jit::Module module = torch::jit::load((info.dir / "model.pt").string());
  module.eval();
  return {torch::jit::freeze(module, std::vector<std::string>{"encode"}), info.num_layers};
}

at::Tensor encode(Model& model) {
  // Two rows, the second padded: 7 and 4 real tokens.
  const at::Tensor ids = at::tensor({101, 2023, 2003, 1037, 3231, 1012, 102, 101, 7592, 2088, 102, 0, 0, 0},
                                    at::kLong)
                             .view({2, 7});
  const at::Tensor mask = ids.ne(0).to(at::kLong);
  const at::Tensor types = at::zeros_like(ids);
  c10::List<std::int64_t> every_layer;
  for (std::int64_t layer = 0; layer <= model.num_layers; ++layer) every_layer.push_back(layer);
  const c10::IValue result = model.frozen.get_method("encode")({ids, mask, types, every_layer, false});
  return result.toTupleRef().elements()[0].toTensor();
}

TEST(AttentionOperator, MatchesTheUnfusedOperatorsWithPaddingAndPerRowBias) {
  at::manual_seed(7);
  constexpr std::int64_t kBatch = 3, kSeq = 5, kHeads = 4, kHeadSize = 8;
  const at::Tensor qkv = at::randn({kBatch, kSeq, 3 * kHeads * kHeadSize});
  for (const std::int64_t rows : {std::int64_t{1}, kSeq}) {  // padding bias; GPT-2's causal bias
    const at::Tensor bias = attention_bias(kBatch, kHeads, rows, kSeq, at::kFloat);
    const at::Tensor fused = attention_operator(qkv, bias, kHeads, 0.35);
    ASSERT_EQ(fused.sizes(), at::IntArrayRef({kBatch, kSeq, kHeads * kHeadSize}));
    EXPECT_TRUE(fused.is_contiguous());
    EXPECT_LT((fused - reference_attention(qkv, bias, kHeads, 0.35)).abs().max().item<float>(), 1e-5)
        << "bias rows " << rows;
  }
}

// A bfloat16 model's attention runs the replaced operators themselves.
TEST(AttentionOperator, RunsBfloat16Unfused) {
  at::manual_seed(8);
  constexpr std::int64_t kBatch = 2, kSeq = 6, kHeads = 2, kHeadSize = 4;
  const at::Tensor qkv = at::randn({kBatch, kSeq, 3 * kHeads * kHeadSize});
  const at::Tensor bfloat16_qkv = qkv.to(at::kBFloat16);
  const at::Tensor bfloat16_bias = attention_bias(kBatch, kHeads, 1, kSeq, at::kBFloat16);
  const at::Tensor bfloat16 = attention_operator(bfloat16_qkv, bfloat16_bias, kHeads, 0.5);
  EXPECT_EQ(bfloat16.scalar_type(), at::kBFloat16);
  EXPECT_LT((bfloat16.to(at::kFloat) - reference_attention(bfloat16_qkv, bfloat16_bias, kHeads, 0.5).to(at::kFloat))
                .abs()
                .max()
                .item<float>(),
            2e-2);
}

// aten::baddbmm nodes (the attention scores) in every method's graph.
int count_baddbmm(const torch::jit::Module& module) {
  int count = 0;
  for (const torch::jit::Method& method : module.get_methods()) {
    std::shared_ptr<torch::jit::Graph> graph = method.graph();
    torch::jit::DepthFirstGraphNodeIterator nodes(graph);
    for (const torch::jit::Node* node = nodes.next(); node != nullptr; node = nodes.next()) {
      count += node->kind() == c10::aten::baddbmm;
    }
  }
  return count;
}

// Every architecture written with fused_attention(): every layer's attention
// in every method rewritten (forward() and encode(); ALBERT's shared layer
// also where it runs in a loop), and the hidden states of every layer unchanged.
TEST(FuseAttention, RewritesEveryAttentionAndKeepsTheHiddenStates) {
  for (const char* bundle : {"tiny-uncased", "tiny-albert", "tiny-distilbert", "tiny-roberta", "tiny-mpnet",
                             "tiny-electra", "tiny-gpt2"}) {
    SCOPED_TRACE(bundle);
    Model unfused = frozen_model(bundle);
    Model fused = frozen_model(bundle);
    const int attention_subgraphs = count_baddbmm(fused.frozen);
    EXPECT_GE(attention_subgraphs, 2);
    EXPECT_EQ(fuse_attention(fused.frozen), attention_subgraphs);
    EXPECT_EQ(count_baddbmm(fused.frozen), 0);
    c10::InferenceMode guard;
    const at::Tensor expected = encode(unfused);
    const at::Tensor actual = encode(fused);
    ASSERT_EQ(actual.sizes(), expected.sizes());
    EXPECT_LT((actual - expected).abs().max().item<float>(), 1e-5);
  }
}

TEST(FuseAttention, LeavesOtherGraphsAlone) {
  Model model = frozen_model("tiny-xlnet");  // relative attention, written otherwise
  EXPECT_EQ(fuse_attention(model.frozen), 0);
}

}  // namespace
}  // namespace bert_embed
