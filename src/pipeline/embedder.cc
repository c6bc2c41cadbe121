#include "bert_embed/pipeline/embedder.h"

#include <algorithm>
#include <stdexcept>
#include <utility>

namespace bert_embed {
namespace {

// [layers, batch, seq, dim] -> [slots, batch, seq, dim']: layers are
// combined token by token, before pooling, so that the first-last average
// of max pooling is the maximum of averaged token vectors.
at::Tensor combine_layers(const at::Tensor& hidden, LayerAggregation aggregation) {
  if (aggregation == LayerAggregation::kNone) return hidden;
  const std::int64_t batch = hidden.size(1);
  const std::int64_t seq = hidden.size(2);
  const at::Tensor per_token = hidden.permute({1, 2, 0, 3}).reshape({batch * seq, hidden.size(0), hidden.size(3)});
  return aggregate_layers(per_token, aggregation).reshape({batch, seq, 1, -1}).permute({2, 0, 1, 3});
}

// [batch, seq] true where a token takes part: real tokens, minus the framing
// tokens with exclude_special. A pooled text with nothing but framing tokens
// (an empty line) keeps them, so that every line gets the vector of its
// framing rather than a zero vector; per token it simply has no rows.
at::Tensor included_tokens(const std::vector<const Encoding*>& encodings, std::int64_t seq, bool exclude_special,
                           bool pooled) {
  at::Tensor include = at::zeros({static_cast<std::int64_t>(encodings.size()), seq}, at::kBool);
  bool* flags = include.data_ptr<bool>();
  for (std::size_t row = 0; row < encodings.size(); ++row) {
    const Encoding& encoding = *encodings[row];
    const bool only_framing =
        std::all_of(encoding.special.begin(), encoding.special.end(), [](bool special) { return special; });
    const bool keep_framing = !exclude_special || (pooled && only_framing);
    for (std::size_t token = 0; token < encoding.size(); ++token) {
      flags[row * seq + token] = keep_framing || !encoding.special[token];
    }
  }
  return include;
}

// hidden [slots, seq, dim], include [seq] -> [tokens, slots, dim]
at::Tensor token_rows(const at::Tensor& hidden, const at::Tensor& include) {
  return hidden.index_select(1, include.nonzero().squeeze(1)).permute({1, 0, 2}).contiguous();
}

// Pooled rows [batch, slots, dim] go to the batch's window positions.
void store_rows(WindowVectors& vectors, const Batch& batch, const at::Tensor& batch_rows) {
  if (!vectors.rows.defined()) {
    vectors.rows =
        at::empty({static_cast<std::int64_t>(vectors.lines.size()), batch_rows.size(1), batch_rows.size(2)});
  }
  const std::vector<std::int64_t> positions(batch.begin(), batch.end());
  vectors.rows.index_copy_(0, at::tensor(positions, at::kLong), batch_rows);
}

void describe_line(const TokenizedLine& line, const OutputSpec& spec, const Tokenizer& tokenizer,
                   WindowVectors::Line& out) {
  out.index = line.index;
  out.id = line.id;
  if (spec.pooling != Pooling::kTokens) return;
  const Encoding& encoding = line.encoding;
  for (std::size_t token = 0; token < encoding.size(); ++token) {
    if (spec.exclude_special && encoding.special[token]) continue;
    out.tokens.push_back(tokenizer.id_to_token(encoding.ids[token]));
    out.spans.push_back(encoding.spans[token]);
  }
}

}  // namespace

OutputSpec plan_output(const std::string& layers, LayerAggregation aggregation, Pooling pooling,
                       bool exclude_special, const BundleInfo& info) {
  OutputSpec spec;
  spec.pooling = pooling;
  spec.exclude_special = exclude_special;
  const Framing framing = info.tokenizer.framing;
  if (pooling == Pooling::kCls && framing == Framing::kNone) {
    throw std::invalid_argument("--pooling cls: the model in " + info.dir.string() +
                                " has no classification token (a decoder such as GPT-2 adds no special tokens); "
                                "use last (the last token, which has seen the whole text) or mean");
  }
  spec.cls_position = framing == Framing::kXlnet ? ClsPosition::kLast : ClsPosition::kFirst;
  spec.dim = info.hidden_size;
  if (pooling == Pooling::kPooler) {
    if (!info.has_pooler) {
      throw std::invalid_argument("--pooling pooler: the model in " + info.dir.string() +
                                  " has no pooler (its checkpoint had none); use cls, mean or max");
    }
    // The encoder always returns some hidden state; the last one costs least.
    spec.layers = {info.num_layers};
    spec.slot_labels = {"pooler"};
    return spec;
  }
  const LayerSelection selection = parse_layers(layers, info.num_layers);
  spec.layers = selection.indices;
  spec.aggregation = selection.indices.size() > 1 ? aggregation : LayerAggregation::kNone;
  switch (spec.aggregation) {
    case LayerAggregation::kNone:
      spec.slot_labels = selection.labels;
      break;
    case LayerAggregation::kMean:
      spec.slot_labels = {"mean"};
      break;
    case LayerAggregation::kConcat:
      spec.slot_labels = {"concat"};
      spec.dim *= static_cast<std::int64_t>(selection.indices.size());
      break;
  }
  return spec;
}

VectorSource describe_source(const OutputSpec& spec, const BundleInfo& info, DType dtype) {
  VectorSource source;
  source.architecture = info.architecture;
  source.weights_sha256 = info.weights_sha256;
  source.layers = spec.layers;
  source.slot_labels = spec.slot_labels;
  source.layer_aggregation = std::string(name_of(kLayerAggregationNames, spec.aggregation));
  source.pooling = std::string(name_of(kPoolingNames, spec.pooling));
  source.exclude_special = spec.exclude_special;
  source.dtype = to_string(dtype);
  source.dim = spec.dim;
  return source;
}

Embedder::Embedder(const Encoder& encoder, std::shared_ptr<const Tokenizer> tokenizer, std::vector<OutputSpec> outputs)
    : encoder_(encoder), tokenizer_(std::move(tokenizer)), outputs_(std::move(outputs)) {
  if (outputs_.empty()) throw std::invalid_argument("Embedder: no output asked for");
  for (const OutputSpec& spec : outputs_) {
    encoded_layers_.insert(encoded_layers_.end(), spec.layers.begin(), spec.layers.end());
    wants_pooler_ = wants_pooler_ || spec.pooling == Pooling::kPooler;
  }
  std::sort(encoded_layers_.begin(), encoded_layers_.end());
  encoded_layers_.erase(std::unique(encoded_layers_.begin(), encoded_layers_.end()), encoded_layers_.end());
  for (const OutputSpec& spec : outputs_) {
    std::vector<std::int64_t> places;
    for (const int layer : spec.layers) {
      places.push_back(std::lower_bound(encoded_layers_.begin(), encoded_layers_.end(), layer) -
                       encoded_layers_.begin());
    }
    positions_.push_back(std::move(places));
  }
}

std::vector<WindowVectors> Embedder::embed(const Window& window,
                                           const std::function<void(const BatchDone&)>& on_batch) const {
  std::vector<WindowVectors> vectors(outputs_.size());
  // Per token: [tokens, slots, dim] for each output and line.
  std::vector<std::vector<at::Tensor>> line_rows(outputs_.size(), std::vector<at::Tensor>(window.lines.size()));
  for (WindowVectors& output : vectors) output.lines.resize(window.lines.size());
  for (const Batch& batch : window.batches) {
    // A text without tokens (GPT-2's empty line) is not run through the
    // model: pooled, it gets a zero vector; per token, no rows.
    Batch run;
    Batch empty;
    std::vector<const Encoding*> encodings;
    BatchDone done;
    done.lines = batch.size();
    for (const std::size_t position : batch) {
      const Encoding& encoding = window.lines[position].encoding;
      (encoding.size() == 0 ? empty : run).push_back(position);
      if (encoding.size() == 0) continue;
      encodings.push_back(&encoding);
      done.tokens += encoding.size();
    }
    for (std::size_t output = 0; output < outputs_.size() && !empty.empty(); ++output) {
      const OutputSpec& spec = outputs_[output];
      const auto slots = static_cast<std::int64_t>(spec.slot_labels.size());
      if (spec.pooling == Pooling::kTokens) {
        for (const std::size_t position : empty) line_rows[output][position] = at::empty({0, slots, spec.dim});
      } else {
        store_rows(vectors[output], empty, at::zeros({static_cast<std::int64_t>(empty.size()), slots, spec.dim}));
      }
    }
    if (run.empty()) {
      on_batch(done);
      continue;
    }
    const ModelInput input = make_model_input(encodings, tokenizer_->special_ids().pad);
    done.padded_tokens = static_cast<std::size_t>(input.input_ids.numel());
    const EncoderOutput encoded = encoder_.encode(input, encoded_layers_, wants_pooler_);
    const std::int64_t seq = input.input_ids.size(1);
    for (std::size_t output = 0; output < outputs_.size(); ++output) {
      const OutputSpec& spec = outputs_[output];
      if (spec.pooling == Pooling::kPooler) {
        store_rows(vectors[output], run, encoded.pooler.unsqueeze(1));
        continue;
      }
      const at::Tensor selected = encoded.hidden.index_select(0, at::tensor(positions_[output], at::kLong));
      const at::Tensor hidden = combine_layers(selected, spec.aggregation);
      const bool pooled = spec.pooling != Pooling::kTokens;
      const at::Tensor include = included_tokens(encodings, seq, spec.exclude_special, pooled);
      if (pooled) {
        store_rows(vectors[output], run, pool(hidden, include, spec.pooling, spec.cls_position));
        continue;
      }
      for (std::size_t row = 0; row < run.size(); ++row) {
        const auto batch_row = static_cast<std::int64_t>(row);
        line_rows[output][run[row]] = token_rows(hidden.select(1, batch_row), include[batch_row]);
      }
    }
    on_batch(done);
  }
  for (std::size_t output = 0; output < outputs_.size(); ++output) {
    const OutputSpec& spec = outputs_[output];
    WindowVectors& out = vectors[output];
    for (std::size_t position = 0; position < window.lines.size(); ++position) {
      describe_line(window.lines[position], spec, *tokenizer_, out.lines[position]);
    }
    if (spec.pooling != Pooling::kTokens) continue;
    out.offsets.push_back(0);
    for (const at::Tensor& rows : line_rows[output]) out.offsets.push_back(out.offsets.back() + rows.size(0));
    out.rows = line_rows[output].empty()
                   ? at::empty({0, static_cast<std::int64_t>(spec.slot_labels.size()), spec.dim})
                   : at::cat(line_rows[output]);
  }
  return vectors;
}

}  // namespace bert_embed
