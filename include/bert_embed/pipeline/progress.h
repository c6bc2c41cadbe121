// What a run reports on stderr: a live progress line and a closing summary.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>

namespace bert_embed {

struct RunSummary {
  std::size_t lines = 0;
  std::size_t tokens = 0;         // real tokens given to the model, special ones included
  std::size_t padded_tokens = 0;  // batch rows x their longest: what the model computed
  std::size_t truncated_lines = 0;
  // Lines without a token (GPT-2's empty line): never run through the model,
  // they get zero vectors (no rows per token).
  std::size_t empty_lines = 0;
  double seconds = 0;
};

// "2910 lines, 48213 tokens (3 truncated lines, 4.2% padding) in 12.30 s: 236.6 lines/s",
// with ", 2 empty lines given zero vectors" after the padding when there are some.
std::string format_summary(const RunSummary& summary);

// A line on stderr, redrawn at most four times a second; nothing when disabled.
class ProgressLine {
 public:
  ProgressLine(bool enabled, std::optional<std::uint64_t> input_size);
  // bytes_done: input bytes behind the lines done, for the ETA.
  void update(std::size_t lines, std::size_t tokens, std::uint64_t bytes_done);
  void clear();

 private:
  using Clock = std::chrono::steady_clock;
  bool enabled_;
  std::optional<std::uint64_t> input_size_;
  Clock::time_point start_;
  Clock::time_point last_;
  bool shown_ = false;
};

}  // namespace bert_embed
