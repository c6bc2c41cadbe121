#include "bert_embed/vectors/pooling.h"

#include <limits>
#include <stdexcept>
#include <string>

namespace bert_embed {
namespace {

void check_shapes(const at::Tensor& hidden, const at::Tensor& include) {
  if (hidden.dim() != 4 || hidden.scalar_type() != at::kFloat) {
    throw std::invalid_argument(
        "pool: hidden states must be float32 [layers, batch, seq, dim], got " +
        c10::str(hidden.scalar_type(), " ", hidden.sizes()));
  }
  if (include.dim() != 2 || include.size(0) != hidden.size(1) ||
      include.size(1) != hidden.size(2)) {
    throw std::invalid_argument("pool: include mask " + c10::str(include.sizes()) +
                                " does not match hidden states " + c10::str(hidden.sizes()));
  }
}

// [layers, batch, dim] -> [batch, layers, dim]
at::Tensor batch_first(const at::Tensor& per_layer) {
  return per_layer.permute({1, 0, 2}).contiguous();
}

// [layers, batch, seq, dim] -> [batch, layers, dim]: each text's last
// included token, zeros where it has none.
at::Tensor last_included(const at::Tensor& hidden, const at::Tensor& include) {
  const at::Tensor included = include.to(at::kBool);
  const at::Tensor positions = at::arange(hidden.size(2), at::kLong).expand_as(included);
  const at::Tensor last = positions.masked_fill(included.logical_not(), -1).amax(1);  // [batch]
  const at::Tensor none = last.lt(0).view({1, hidden.size(1), 1});
  const at::Tensor index = last.clamp_min(0).view({1, hidden.size(1), 1, 1}).expand(
      {hidden.size(0), hidden.size(1), 1, hidden.size(3)});
  return batch_first(hidden.gather(2, index).squeeze(2).masked_fill(none, 0.0));
}

}  // namespace

at::Tensor pool(const at::Tensor& hidden, const at::Tensor& include, Pooling pooling, ClsPosition cls_position) {
  check_shapes(hidden, include);
  if (pooling == Pooling::kCls && cls_position == ClsPosition::kFirst) return batch_first(hidden.select(2, 0));
  if (pooling == Pooling::kCls || pooling == Pooling::kLast) return last_included(hidden, include);
  if (pooling != Pooling::kMean && pooling != Pooling::kMax) {
    throw std::invalid_argument(
        "pool: tokens and pooler outputs are not pooled from hidden states");
  }

  const at::Tensor included = include.to(at::kBool);
  const at::Tensor excluded = included.logical_not().view({1, hidden.size(1), hidden.size(2), 1});
  const at::Tensor counts = included.sum(1).view({1, hidden.size(1), 1});  // [1, batch, 1]
  const at::Tensor no_token = counts.eq(0);

  at::Tensor pooled;
  if (pooling == Pooling::kMean) {
    // Excluded positions are filled rather than multiplied by 0, so that
    // whatever padding holds (even inf) cannot leak into the sum.
    pooled = hidden.masked_fill(excluded, 0.0).sum(2).div(counts.clamp_min(1).to(at::kFloat));
  } else {
    pooled = hidden.masked_fill(excluded, -std::numeric_limits<float>::infinity())
                 .amax(2)
                 .masked_fill(no_token, 0.0);
  }
  return batch_first(pooled);
}

}  // namespace bert_embed
