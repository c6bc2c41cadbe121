// Compact encodings of float32 vectors, as sentence-transformers'
// quantize_embeddings makes them: int8 with per-dimension ranges, and packed
// sign bits. Each vector is encoded on its own, so outputs written in pieces
// (windows, shards) are those of one pass.
#pragma once

#include <ATen/ATen.h>

#include <filesystem>
#include <string>

#include "bert_embed/io/manifest.h"

namespace bert_embed {

// rows float32 [n, slots, dim] -> int8 [n, slots, dim], with minimum and
// maximum float32 [slots, dim]: trunc((v - min) / ((max - min) / 255) - 128)
// computed in float32 as numpy does it, clamped to [-128, 127] (values outside
// the range saturate; sentence-transformers' astype(int8) wraps them around),
// and -128 where max == min (numpy divides by zero there).
at::Tensor quantize_int8(const at::Tensor& rows, const at::Tensor& minimum, const at::Tensor& maximum);

// rows float32 [n, slots, dim] -> uint8 [n, slots, ceil(dim / 8)]: bit 7 - j
// of byte b is set when dimension 8 b + j is > 0 (numpy.packbits(rows > 0,
// axis=-1), big-endian bit order).
at::Tensor pack_sign_bits(const at::Tensor& rows);

// Between the manifest's form and float32 [slots, dim] tensors.
Int8Ranges int8_ranges_of(const at::Tensor& minimum, const at::Tensor& maximum, std::string calibration);
at::Tensor int8_minimum(const Int8Ranges& ranges);
at::Tensor int8_maximum(const Int8Ranges& ranges);

// The ranges of a statistics file (bert-embed stats, embed --save-stats), for
// vectors of `source` (named `vectors_name` in messages) post-processed as
// `postprocess` says (a postprocess_label). The statistics count the vectors
// before post-processing, so they are refused, naming the file, for
// post-processed vectors, for vectors of another source, and when they hold
// no range.
Int8Ranges int8_ranges_from_statistics(const std::filesystem::path& file, const VectorSource& source,
                                       const std::string& vectors_name, const std::string& postprocess);

}  // namespace bert_embed
