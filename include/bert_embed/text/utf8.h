// UTF-8 validation and repair shared by the input readers and tokenizers.
#pragma once

#include <cstddef>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace bert_embed {

class InvalidUtf8Error : public std::runtime_error {
 public:
  explicit InvalidUtf8Error(std::size_t byte_offset);
  std::size_t byte_offset() const { return byte_offset_; }

 private:
  std::size_t byte_offset_;
};

// Offset of the first byte that does not start a well-formed UTF-8 sequence
// (overlongs, surrogates and code points above U+10FFFF are ill-formed), or
// std::string_view::npos when the whole text is valid.
std::size_t find_invalid_utf8(std::string_view text);

// Where replace_invalid_utf8() put each U+FFFD: maps offsets in the repaired
// text back to the original bytes.
class Utf8Repairs {
 public:
  bool empty() const { return ends_.empty(); }
  // A U+FFFD that ends at repaired_end stands for original bytes that end at
  // original_end; recorded in order.
  void add(std::size_t repaired_end, std::size_t original_end) { ends_.push_back({repaired_end, original_end}); }
  // Offset in the original of an offset in the repaired text, which must lie
  // on a character boundary: a U+FFFD covers the bytes it replaced.
  std::size_t original_offset(std::size_t repaired_offset) const;

 private:
  struct End {
    std::size_t repaired;
    std::size_t original;
  };
  std::vector<End> ends_;
};

// Replaces each maximal ill-formed subsequence by U+FFFD, as Python's
// bytes.decode(errors="replace") does; records the replacements in repairs
// when given.
std::string replace_invalid_utf8(std::string_view text, Utf8Repairs* repairs = nullptr);

// Length of the sequence that starts with this lead byte of valid UTF-8.
inline std::size_t utf8_sequence_length(unsigned char lead) {
  if (lead < 0x80) return 1;
  if (lead < 0xE0) return 2;
  if (lead < 0xF0) return 3;
  return 4;
}

// Valid UTF-8 text without the leading and/or trailing whitespace that
// Python's str.lstrip(), str.rstrip() and str.strip() remove (str.isspace()
// characters).
std::string_view lstrip_python_whitespace(std::string_view text);
std::string_view rstrip_python_whitespace(std::string_view text);
inline std::string_view strip_python_whitespace(std::string_view text) {
  return rstrip_python_whitespace(lstrip_python_whitespace(text));
}

// Number of code points of valid UTF-8 text.
std::size_t count_code_points(std::string_view text);

// Decodes one code point at text[pos] of valid UTF-8 and advances pos.
char32_t decode_utf8(std::string_view text, std::size_t& pos);

void append_utf8(std::string& out, char32_t cp);

}  // namespace bert_embed
