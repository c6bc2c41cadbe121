// The pooling stage: per-token hidden states -> one vector per text.
#pragma once

#include <ATen/ATen.h>

#include <string_view>

#include "bert_embed/enum_names.h"

namespace bert_embed {

enum class Pooling { kCls, kMean, kMax, kTokens, kPooler };

inline constexpr EnumNames<Pooling, 5> kPoolingNames{{{"cls", Pooling::kCls},
                                                      {"mean", Pooling::kMean},
                                                      {"max", Pooling::kMax},
                                                      {"tokens", Pooling::kTokens},
                                                      {"pooler", Pooling::kPooler}}};

// A name of kPoolingNames; throws std::invalid_argument otherwise.
inline Pooling parse_pooling(std::string_view name) { return parse_name(kPoolingNames, name, "pooling"); }

// hidden: float32 [layers, batch, seq, dim]; include: [batch, seq] (bool or
// 0/1 numbers), true where a token takes part (real tokens, minus special
// ones with --exclude-special). Returns float32 [batch, layers, dim].
// kMean averages the included tokens (sum / count, in float32), kMax takes
// their element-wise maximum, kCls takes position 0 whatever `include` says.
// A text with no included token gets a zero vector from kMean and kMax.
// kTokens and kPooler are not reductions of `hidden` and are refused here.
at::Tensor pool(const at::Tensor& hidden, const at::Tensor& include, Pooling pooling);

}  // namespace bert_embed
