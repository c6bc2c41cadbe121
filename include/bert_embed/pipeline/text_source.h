// The first stage of every pipeline: reads the records of an input and
// tokenizes them on a thread of its own, a bounded number of lines ahead of
// the consumer, so that tokenizing never stalls the encoder.
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <limits>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>

#include "bert_embed/io/input_reader.h"
#include "bert_embed/pipeline/batcher.h"
#include "bert_embed/text/tokenizer.h"

namespace bert_embed {

struct TokenizeSettings {
  std::size_t max_length = 0;  // tokens per text, framing included; 0: no limit
  OverflowPolicy on_overflow = OverflowPolicy::kTruncate;
  // Put before the (first) text, after stripping: e5's "query: ".
  std::string prefix{};
  // Strip each text as Python's str.strip() does (sentence-transformers).
  bool strip_text = false;
};

// Records [first, end) of the input, by 0-based record index.
struct RecordRange {
  std::size_t first = 0;
  std::size_t end = std::numeric_limits<std::size_t>::max();
};

// Tokenizes one record: the encoding of its text (and pair) within the
// settings. Spans index the line as read: the prefix's tokens have an empty
// span at 0. InputError naming the input and line when the text cannot be
// tokenized or is too long under OverflowPolicy::kError.
TokenizedLine tokenize_record(InputRecord record, const Tokenizer& tokenizer, const TokenizeSettings& settings,
                              const std::string& input_name);

// What the source hands on: the next line, or word that the input has
// nothing more ready for now (a pipe or terminal waiting for its writer), so
// that the lines gathered so far can be embedded and written at once.
struct SourceItem {
  enum class Kind { kLine, kInputWaiting };
  Kind kind = Kind::kLine;
  TokenizedLine line;  // kLine only
};

class TextSource {
 public:
  // Opens the input ("-": stdin) at once, so that a missing file is reported
  // before the model loads; starts the thread. At most `lines_ahead` lines
  // wait tokenized for the consumer.
  TextSource(const std::filesystem::path& input, const InputOptions& options,
             std::shared_ptr<const Tokenizer> tokenizer, const TokenizeSettings& settings, RecordRange range,
             std::size_t lines_ahead);
  // Stops the thread, even one blocked reading a pipe or terminal, and joins it.
  ~TextSource();
  TextSource(const TextSource&) = delete;
  TextSource& operator=(const TextSource&) = delete;

  // The next item in input order, or nothing at the end of the range.
  // Rethrows the error that stopped the thread (bad input, read error).
  std::optional<SourceItem> next();

  const std::string& input_name() const;
  std::optional<std::uint64_t> input_size() const;

 private:
  struct State;
  std::unique_ptr<State> state_;
};

}  // namespace bert_embed
