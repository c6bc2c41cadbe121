// The pooling stage: per-token hidden states -> one vector per text.
#pragma once

#include <string_view>

#include <ATen/ATen.h>

namespace bert_embed {

enum class Pooling { kCls, kMean, kMax, kTokens, kPooler };

Pooling parse_pooling(std::string_view name);

// hidden: [layers, batch, seq, dim]; include: [batch, seq], 1 where a token
// takes part (real tokens, minus special ones with --exclude-special).
// Returns [batch, layers, dim]. kCls takes position 0; kTokens and kPooler
// are not reductions and are refused here.
at::Tensor pool(const at::Tensor& hidden, const at::Tensor& include, Pooling pooling);

}  // namespace bert_embed
