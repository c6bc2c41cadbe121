// The input stage: records (text, optional pair and id) from lines of plain
// text, JSON Lines or tab-separated values, read from a file or stdin.
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <istream>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "bert_embed/enum_names.h"
#include "bert_embed/text/utf8.h"

namespace bert_embed {

enum class InputFormat { kText, kJsonl, kTsv };
inline constexpr EnumNames<InputFormat, 3> kInputFormatNames{
    {{"text", InputFormat::kText}, {"jsonl", InputFormat::kJsonl}, {"tsv", InputFormat::kTsv}}};
inline InputFormat parse_input_format(std::string_view name) {
  return parse_name(kInputFormatNames, name, "input format");
}

enum class InvalidUtf8Policy { kError, kReplace };
inline constexpr EnumNames<InvalidUtf8Policy, 2> kInvalidUtf8PolicyNames{
    {{"error", InvalidUtf8Policy::kError}, {"replace", InvalidUtf8Policy::kReplace}}};
inline InvalidUtf8Policy parse_invalid_utf8_policy(std::string_view name) {
  return parse_name(kInvalidUtf8PolicyNames, name, "invalid UTF-8 policy");
}

// What becomes of a text longer than its limit (a line longer than
// InputOptions::max_line_bytes, a text of more tokens than the model reads):
// cut to the limit, or an error naming the line.
enum class OverflowPolicy { kTruncate, kError };
inline constexpr EnumNames<OverflowPolicy, 2> kOverflowPolicyNames{
    {{"truncate", OverflowPolicy::kTruncate}, {"error", OverflowPolicy::kError}}};

// Default InputOptions::max_line_bytes: 1 MiB, some 200,000 words, far more
// than the 512 tokens a model reads, yet small next to the memory of a run.
inline constexpr std::size_t kDefaultMaxLineBytes = std::size_t{1} << 20;

// Deepest nesting of arrays and objects a jsonl line may have. Deeper JSON
// is an InputError, as no record needs it and deep values cost stack.
inline constexpr int kMaxJsonDepth = 64;

// Which fields make a record. jsonl: keys of each object (the text field
// defaults to "text"). tsv: a column name, read from the first line, which is
// then a header and not a record; or a 1-based column number (the text
// column defaults to 1). Without any column name there is no header line.
struct InputOptions {
  InputFormat format = InputFormat::kText;
  std::string text_field;  // empty: the format's default
  std::string pair_field;  // empty: single texts
  std::string id_field;    // empty: no ids
  InvalidUtf8Policy on_invalid_utf8 = InvalidUtf8Policy::kError;
  // Longest line read, in bytes, not counting its line end; at least 1. A
  // longer line is cut to this many bytes, back to a UTF-8 character
  // boundary, and the rest of it skipped without being stored (kTruncate,
  // InputRecord::line_truncated tells), or is an InputError (kError). A jsonl
  // line cannot be cut: it is always an InputError.
  std::size_t max_line_bytes = kDefaultMaxLineBytes;
  OverflowPolicy on_long_line = OverflowPolicy::kTruncate;
};

struct InputRecord {
  std::size_t index = 0;        // 0-based, counts records (a tsv header is not one)
  std::size_t line_number = 0;  // 1-based line of the input, for messages
  std::string text;
  std::optional<std::string> pair;
  // The id field as text: a JSON string's value, any other JSON value as
  // written in the line (7 -> "7").
  std::optional<std::string> id;
  std::uint64_t end_offset = 0;  // input bytes consumed up to the end of this record's line
  bool line_truncated = false;   // the line was longer than max_line_bytes and cut
  // Where --on-invalid-utf8 replace repaired text (pair): maps byte offsets
  // in it, such as token spans, back to the bytes of the input (text and tsv
  // input; a jsonl text is the decoded JSON string, whose offsets are its own).
  Utf8Repairs text_repairs;
  Utf8Repairs pair_repairs;
};

// A tsv field given as a 1-based column number: its 0-based index; nothing
// for a column name. Throws std::invalid_argument for 0 or a number too large.
std::optional<std::size_t> tsv_column_index(std::string_view field);

// A malformed input line; what() reads "<input>:<line>: <problem>".
class InputError : public std::runtime_error {
 public:
  InputError(const std::string& input_name, std::size_t line_number, const std::string& problem);
};

class InputReader {
 public:
  // "-" reads stdin. Throws std::runtime_error when the file cannot be
  // opened, std::invalid_argument when options.max_line_bytes is 0.
  InputReader(const std::filesystem::path& path, InputOptions options);
  // Reads an already open stream; name is used in messages.
  InputReader(std::istream& in, std::string name, InputOptions options);
  ~InputReader();
  InputReader(const InputReader&) = delete;
  InputReader& operator=(const InputReader&) = delete;

  // The next record, or nothing at the end of the input. Lines are split on
  // '\n'; a trailing '\r' and a UTF-8 byte order mark at the start of the
  // input are dropped. Throws InputError for invalid UTF-8 (unless repaired),
  // malformed jsonl/tsv lines and lines too long to keep, and
  // std::runtime_error naming the input on read errors (a read error is never
  // taken for the end of the input).
  std::optional<InputRecord> next();

  const std::string& name() const { return name_; }
  // Size in bytes when the input is a regular file (for an ETA).
  std::optional<std::uint64_t> size_bytes() const { return size_bytes_; }

 private:
  class Source;
  class DescriptorSource;
  class StreamSource;
  struct FieldColumns;

  bool read_line(std::string& line);
  bool fill_buffer();
  // Whether line is valid UTF-8; throws InputError unless the policy is to
  // repair it.
  bool check_utf8(std::string_view line) const;
  void read_tsv_header();
  InputRecord parse_jsonl(std::string_view line) const;
  InputRecord parse_tsv(std::string_view line, bool valid_utf8) const;

  std::unique_ptr<Source> source_;
  std::vector<char> buffer_;
  std::size_t buffer_begin_ = 0;  // unread bytes of buffer_ are [begin, end)
  std::size_t buffer_end_ = 0;
  bool line_truncated_ = false;  // the current line was cut
  std::string name_;
  InputOptions options_;
  std::optional<std::uint64_t> size_bytes_;
  std::unique_ptr<FieldColumns> columns_;  // tsv only
  std::size_t line_number_ = 0;
  std::size_t records_ = 0;
  std::uint64_t offset_ = 0;
  std::size_t line_prefix_bytes_ = 0;  // byte order mark dropped from the current line
};

}  // namespace bert_embed
