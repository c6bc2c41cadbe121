#include "bert_embed/batcher.h"

#include <algorithm>
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

  std::vector<Batch> batches;
  std::size_t longest = 0;  // of the current batch: its first line, as the order is decreasing
  for (const std::size_t position : order) {
    const bool fits = !batches.empty() && batches.back().size() < limits.max_lines &&
                      (batches.back().size() + 1) * longest <= limits.max_tokens;
    if (!fits) {
      batches.emplace_back();
      longest = lengths[position];
    }
    batches.back().push_back(position);
  }
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
  return lines_.size() >= window_limits_.max_lines || tokens_ >= window_limits_.max_tokens;
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
