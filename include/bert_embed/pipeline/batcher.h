// Token-budget batching: tokenized lines are gathered in a window, sorted by
// length within it and cut into batches whose padded size stays within a
// budget. The window keeps input order, so results go back in place.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "bert_embed/text/tokenizer.h"

namespace bert_embed {

struct TokenizedLine {
  std::size_t index = 0;          // the input record's index
  std::optional<std::string> id;  // passed through to the output
  std::uint64_t input_end = 0;    // input bytes read up to the end of this line, for an ETA
  bool line_cut = false;          // the input line was longer than the longest read, and cut
  Encoding encoding;
};

struct BatchLimits {
  std::size_t max_tokens = 8192;  // padded tokens: lines in the batch x its longest line
  std::size_t max_lines = 256;
  // The fixed cost of running one more batch, in tokens, weighed against the
  // padding that fewer, wider batches would compute.
  std::size_t batch_cost = 64;
};

// A window bounds the memory of lines in flight and of their results. Windows
// lie on a grid of max_lines records: one never holds records on both sides of
// a multiple of max_lines, so that a run starting at such a multiple (a shard,
// a resumed run) makes the same windows, batches and bytes as a run over the
// whole input.
struct WindowLimits {
  std::size_t max_lines = 4096;  // also the grid
  std::size_t max_tokens = 65536;  // real tokens
};

// Positions in a window, longest line first.
using Batch = std::vector<std::size_t>;

// Sorts sequences by length, longest first (equal lengths keep their order,
// so the batches, and thus the numbers, do not depend on timing) and cuts
// them into batches within the limits that minimize the padded tokens plus
// batch_cost per batch. A sequence longer than the token budget makes a
// batch of its own.
std::vector<Batch> plan_batches(const std::vector<std::size_t>& lengths, const BatchLimits& limits);

struct Window {
  std::vector<TokenizedLine> lines;  // in input order
  std::vector<Batch> batches;        // every position exactly once
};

class Batcher {
 public:
  Batcher(const BatchLimits& batch_limits, const WindowLimits& window_limits);

  void add(TokenizedLine line);
  // True when the window has reached one of its limits, or the next record
  // would start a new cell of the grid, and the window should be taken.
  bool full() const;
  bool empty() const { return lines_.empty(); }
  // Hands over the window gathered so far with its batches, and starts a new one.
  Window take();

 private:
  BatchLimits batch_limits_;
  WindowLimits window_limits_;
  std::vector<TokenizedLine> lines_;
  std::size_t tokens_ = 0;
};

}  // namespace bert_embed
