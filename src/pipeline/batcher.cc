#include "bert_embed/pipeline/batcher.h"

#include <algorithm>
#include <limits>
#include <numeric>
#include <stdexcept>
#include <utility>

namespace bert_embed {

std::vector<Batch> plan_batches(const std::vector<std::size_t>& lengths, const BatchLimits& limits) {
  if (limits.max_tokens == 0 || limits.max_lines == 0) {
    throw std::invalid_argument("batch limits must be positive");
  }
  std::vector<std::size_t> order(lengths.size());
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(),
                   [&](std::size_t a, std::size_t b) { return lengths[a] > lengths[b]; });

  // Dynamic programming over the sorted order: cost[end] is the least cost
  // of batching its first `end` sequences, the last batch starting at
  // start[end]. A batch's first sequence is its longest.
  const std::size_t count = order.size();
  std::vector<std::size_t> cost(count + 1, std::numeric_limits<std::size_t>::max());
  std::vector<std::size_t> start(count + 1, 0);
  cost[0] = 0;
  for (std::size_t end = 1; end <= count; ++end) {
    for (std::size_t first = end; first-- > 0;) {
      const std::size_t lines = end - first;
      const std::size_t padded = lines * lengths[order[first]];
      // Starting earlier only adds lines and lengthens the longest.
      if (lines > limits.max_lines || (lines > 1 && padded > limits.max_tokens)) break;
      const std::size_t total = cost[first] + padded + limits.batch_cost;
      if (total < cost[end]) {
        cost[end] = total;
        start[end] = first;
      }
    }
  }
  std::vector<Batch> batches;
  for (std::size_t end = count; end > 0; end = start[end]) {
    batches.emplace_back(order.begin() + static_cast<std::ptrdiff_t>(start[end]),
                         order.begin() + static_cast<std::ptrdiff_t>(end));
  }
  std::reverse(batches.begin(), batches.end());
  return batches;
}

Batcher::Batcher(const BatchLimits& batch_limits, const WindowLimits& window_limits)
    : batch_limits_(batch_limits), window_limits_(window_limits) {
  if (window_limits.max_lines == 0 || window_limits.max_tokens == 0) {
    throw std::invalid_argument("window limits must be positive");
  }
}

void Batcher::add(TokenizedLine line) {
  tokens_ += line.encoding.size();
  lines_.push_back(std::move(line));
}

bool Batcher::full() const {
  return !lines_.empty() && (lines_.size() >= window_limits_.max_lines || tokens_ >= window_limits_.max_tokens ||
                             (lines_.back().index + 1) % window_limits_.max_lines == 0);
}

Window Batcher::take() {
  std::vector<std::size_t> lengths;
  lengths.reserve(lines_.size());
  for (const TokenizedLine& line : lines_) lengths.push_back(line.encoding.size());
  Window window;
  window.batches = plan_batches(lengths, batch_limits_);
  window.lines = std::move(lines_);
  lines_.clear();
  tokens_ = 0;
  return window;
}

}  // namespace bert_embed
