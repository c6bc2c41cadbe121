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

// Decodes one code point at text[pos] of valid UTF-8 and advances pos.
char32_t decode_utf8(std::string_view text, std::size_t& pos);

void append_utf8(std::string& out, char32_t cp);

}  // namespace bert_embed
