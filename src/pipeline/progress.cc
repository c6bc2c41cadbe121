#include "bert_embed/pipeline/progress.h"

#include <algorithm>
#include <cstdio>
#include <iostream>

namespace bert_embed {

std::string format_summary(const RunSummary& summary) {
  const double padding =
      summary.padded_tokens > 0
          ? 100.0 * static_cast<double>(summary.padded_tokens - summary.tokens) / static_cast<double>(summary.padded_tokens)
          : 0.0;
  char empty[64] = "";
  if (summary.empty_lines > 0) {
    std::snprintf(empty, sizeof(empty), ", %zu empty lines given zero vectors", summary.empty_lines);
  }
  char text[320];
  std::snprintf(text, sizeof(text),
                "%zu lines, %zu tokens (%zu truncated lines, %.1f%% padding%s) in %.2f s: %.1f lines/s",
                summary.lines, summary.tokens, summary.truncated_lines, padding, empty, summary.seconds,
                summary.seconds > 0 ? static_cast<double>(summary.lines) / summary.seconds : 0.0);
  return text;
}

ProgressLine::ProgressLine(bool enabled, std::optional<std::uint64_t> input_size)
    : enabled_(enabled), input_size_(input_size), start_(Clock::now()), last_(start_) {}

void ProgressLine::update(std::size_t lines, std::size_t tokens, std::uint64_t bytes_done) {
  if (!enabled_) return;
  const Clock::time_point now = Clock::now();
  if (now - last_ < std::chrono::milliseconds(250)) return;
  last_ = now;
  const double elapsed = std::chrono::duration<double>(now - start_).count();
  std::string text = "\rbert-embed: " + std::to_string(lines) + " lines, " +
                     std::to_string(static_cast<long long>(tokens / elapsed)) + " tokens/s";
  if (input_size_ && *input_size_ > 0 && bytes_done > 0) {
    const double done = std::min(1.0, static_cast<double>(bytes_done) / static_cast<double>(*input_size_));
    const auto remaining = static_cast<long long>(elapsed * (1 - done) / done);
    char eta[64];
    std::snprintf(eta, sizeof(eta), ", %.0f%%, ETA %lld:%02lld", done * 100, remaining / 60, remaining % 60);
    text += eta;
  }
  text += "\x1b[K";
  std::cerr << text << std::flush;
  shown_ = true;
}

void ProgressLine::clear() {
  if (shown_) std::cerr << "\r\x1b[K" << std::flush;
  shown_ = false;
}

}  // namespace bert_embed
