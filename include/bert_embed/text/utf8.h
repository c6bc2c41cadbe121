// UTF-8 validation and repair shared by the input readers and tokenizers.
#pragma once

#include <cstddef>
#include <stdexcept>
#include <string>
#include <string_view>

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

// Replaces each maximal ill-formed subsequence by U+FFFD, as Python's
// bytes.decode(errors="replace") does.
std::string replace_invalid_utf8(std::string_view text);

// Length of the sequence that starts with this lead byte of valid UTF-8.
inline std::size_t utf8_sequence_length(unsigned char lead) {
  if (lead < 0x80) return 1;
  if (lead < 0xE0) return 2;
  if (lead < 0xF0) return 3;
  return 4;
}

// Decodes one code point at text[pos] of valid UTF-8 and advances pos.
char32_t decode_utf8(std::string_view text, std::size_t& pos);

void append_utf8(std::string& out, char32_t cp);

}  // namespace bert_embed
