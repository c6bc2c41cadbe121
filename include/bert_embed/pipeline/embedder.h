// The embedding stage: runs the encoder once per batch of a window and turns
// its hidden states into every output asked for (layers x pooling), so that
// an experiment can score many combinations from one model pass.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <ATen/ATen.h>

#include "bert_embed/io/manifest.h"
#include "bert_embed/model/bundle.h"
#include "bert_embed/model/encoder.h"
#include "bert_embed/pipeline/batcher.h"
#include "bert_embed/text/tokenizer.h"
#include "bert_embed/vectors/layer_selection.h"
#include "bert_embed/vectors/pooling.h"

namespace bert_embed {

// One kind of vector computed from the hidden states, resolved against a model.
struct OutputSpec {
  std::vector<int> layers;  // hidden-state indices, in the order asked
  LayerAggregation aggregation = LayerAggregation::kNone;
  Pooling pooling = Pooling::kMean;
  ClsPosition cls_position = ClsPosition::kFirst;  // the framing's classification token
  bool exclude_special = false;
  std::vector<std::string> slot_labels;  // one per output slot
  std::int64_t dim = 0;                  // width of a slot, before post-processing
};

// Resolves --layers, --layer-agg and --pooling against the model. Throws
// std::invalid_argument for a layer spec out of range, for pooler on a model
// without one and for cls on a model without a classification token
// (framing none: GPT-2).
OutputSpec plan_output(const std::string& layers, LayerAggregation aggregation, Pooling pooling,
                       bool exclude_special, const BundleInfo& info);

// What makes these vectors comparable with others, for manifests and
// statistics files.
VectorSource describe_source(const OutputSpec& spec, const BundleInfo& info, DType dtype);

// The vectors of one window for one OutputSpec, before post-processing, and
// what the output needs of each line.
struct WindowVectors {
  struct Line {
    std::size_t index = 0;
    std::optional<std::string> id;
    std::vector<std::string> tokens;  // per token only
    std::vector<Span> spans;          // per token only
  };
  std::vector<Line> lines;            // in input order
  at::Tensor rows;                    // float32 [rows, slots, dim]
  std::vector<std::int64_t> offsets;  // per token: line i owns rows offsets[i] to offsets[i + 1]
};

struct BatchDone {
  std::size_t lines = 0;
  std::size_t tokens = 0;         // real tokens
  std::size_t padded_tokens = 0;  // what the model computed
};

class Embedder {
 public:
  Embedder(const Encoder& encoder, std::shared_ptr<const Tokenizer> tokenizer, std::vector<OutputSpec> outputs);

  const std::vector<OutputSpec>& outputs() const { return outputs_; }

  // One WindowVectors per OutputSpec, in their order; on_batch after each
  // batch, for progress.
  std::vector<WindowVectors> embed(const Window& window, const std::function<void(const BatchDone&)>& on_batch) const;

 private:
  const Encoder& encoder_;
  std::shared_ptr<const Tokenizer> tokenizer_;
  std::vector<OutputSpec> outputs_;
  std::vector<int> encoded_layers_;                    // the union of every output's layers, ascending
  std::vector<std::vector<std::int64_t>> positions_;   // per output: its layers' places in encoded_layers_
  bool wants_pooler_ = false;
};

}  // namespace bert_embed
