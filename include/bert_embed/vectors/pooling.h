// The pooling stage: per-token hidden states -> one vector per text.
#pragma once

#include <ATen/ATen.h>

#include <string_view>

#include "bert_embed/enum_names.h"

namespace bert_embed {

enum class Pooling { kCls, kMean, kMax, kLast, kTokens, kPooler };

inline constexpr EnumNames<Pooling, 6> kPoolingNames{{{"cls", Pooling::kCls},
                                                      {"mean", Pooling::kMean},
                                                      {"max", Pooling::kMax},
                                                      {"last", Pooling::kLast},
                                                      {"tokens", Pooling::kTokens},
                                                      {"pooler", Pooling::kPooler}}};

// Where a model's classification token is: first (BERT's [CLS], RoBERTa's
// <s>) or the last real token (XLNet's <cls>, after the text).
enum class ClsPosition { kFirst, kLast };

// A name of kPoolingNames; throws std::invalid_argument otherwise.
inline Pooling parse_pooling(std::string_view name) { return parse_name(kPoolingNames, name, "pooling"); }

// hidden: float32 [layers, batch, seq, dim]; include: [batch, seq] (bool or
// 0/1 numbers), true where a token takes part (real tokens, minus special
// ones with --exclude-special). Returns float32 [batch, layers, dim].
// kMean averages the included tokens (sum / count, in float32), kMax takes
// their element-wise maximum, kLast takes the last included token. kCls takes
// position 0 whatever `include` says, or with ClsPosition::kLast the last
// included token (pass the real tokens). A text with no included token gets
// a zero vector from kMean, kMax and kLast. kTokens and kPooler are not
// reductions of `hidden` and are refused here.
at::Tensor pool(const at::Tensor& hidden, const at::Tensor& include, Pooling pooling,
                ClsPosition cls_position = ClsPosition::kFirst);

}  // namespace bert_embed
