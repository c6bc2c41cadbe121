// Fused attention for the frozen encoder. The exporter writes attention as
// standard operators (scripts/bert_embed_export/layers.py, fused_attention):
// query/key/value split into a [3, batch * heads, seq, head] copy, batched
// products (baddbmm, softmax, bmm), and a copy back to [batch, seq, width].
// libtorch 1.13 runs float32 batched products as a serial loop of one small
// BLAS call per head (5 GFLOP/s on bert-base, 11% of a float32 run). This pass
// replaces that subgraph with bert_embed::attention, which reads query, key
// and value in place from the projection's output, runs the heads in parallel
// and writes the result in its final layout.
#pragma once

#include <torch/script.h>

namespace bert_embed {

// Rewrites every attention subgraph in `module`'s methods into one
// bert_embed::attention call and returns how many it rewrote (each method
// holds one per layer it runs; 0 for modules whose attention is written
// otherwise, such as XLNet's, which then run unchanged). Call it on a frozen
// module before its first run. The operator computes exactly what it replaces:
// float32 on CPU through its own kernel, anything else through the same ATen
// operators.
int fuse_attention(torch::jit::Module& module);

}  // namespace bert_embed
