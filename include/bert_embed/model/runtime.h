// Process-wide settings for inference, in one visible place: a command
// applies them once, before it loads a model. Nothing else in bert-embed sets
// libtorch's thread count, oneDNN's cache or glibc's allocator policy.
#pragma once

#include "bert_embed/model/encoder.h"

namespace bert_embed {

struct RuntimeSettings {
  int threads = 0;                // intra-op threads; 0: all cores
  DType dtype = DType::kFloat32;  // the number format the model will run in
};

// Sets libtorch's intra-op thread count, bounds oneDNN's primitive cache
// (unless the environment sets a capacity) and keeps large blocks in glibc's
// heap. Throws std::invalid_argument for a negative thread count.
void apply_runtime_settings(const RuntimeSettings& settings);

// Hands the heap's free pages back to the system; the encoder calls it after
// every batch, a two-pass fit after every window it replays (see runtime.cc
// for the measurements behind both policies).
void release_free_heap_pages();

}  // namespace bert_embed
