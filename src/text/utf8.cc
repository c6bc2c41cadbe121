#include "bert_embed/text/utf8.h"

#include <algorithm>
#include <cstdint>
#include <cstring>

#include "text/unicode.h"

namespace bert_embed {
namespace {

// Bytes [lowest, highest] allowed as the second byte after a lead byte; the
// third and fourth bytes are always 80..BF (Unicode Table 3-7).
struct LeadByte {
  std::size_t length;  // 0: cannot start a sequence
  unsigned char lowest;
  unsigned char highest;
};

LeadByte classify_lead(unsigned char b) {
  if (b < 0x80) return {1, 0, 0};
  if (b < 0xC2) return {0, 0, 0};
  if (b < 0xE0) return {2, 0x80, 0xBF};
  if (b == 0xE0) return {3, 0xA0, 0xBF};
  if (b == 0xED) return {3, 0x80, 0x9F};  // excludes surrogates
  if (b < 0xF0) return {3, 0x80, 0xBF};
  if (b == 0xF0) return {4, 0x90, 0xBF};
  if (b < 0xF4) return {4, 0x80, 0xBF};
  if (b == 0xF4) return {4, 0x80, 0x8F};  // nothing above U+10FFFF
  return {0, 0, 0};
}

// At text[pos]: the length of the well-formed sequence starting there, or,
// when it is ill-formed, minus the length of its maximal subpart (the longest
// prefix of a well-formed sequence, at least one byte).
std::ptrdiff_t measure_sequence(std::string_view text, std::size_t pos) {
  const auto byte = [&](std::size_t i) { return static_cast<unsigned char>(text[i]); };
  const LeadByte lead = classify_lead(byte(pos));
  if (lead.length == 0) return -1;
  std::size_t i = 1;
  for (; i < lead.length; ++i) {
    if (pos + i >= text.size()) break;
    const unsigned char b = byte(pos + i);
    const unsigned char lowest = i == 1 ? lead.lowest : 0x80;
    const unsigned char highest = i == 1 ? lead.highest : 0xBF;
    if (b < lowest || b > highest) break;
  }
  if (i == lead.length) return static_cast<std::ptrdiff_t>(i);
  return -static_cast<std::ptrdiff_t>(i);
}

// Skips a run of ASCII bytes eight at a time.
std::size_t skip_ascii(std::string_view text, std::size_t pos) {
  constexpr std::uint64_t kHighBits = 0x8080808080808080ULL;
  while (pos + 8 <= text.size()) {
    std::uint64_t chunk;
    std::memcpy(&chunk, text.data() + pos, sizeof chunk);
    if (chunk & kHighBits) break;
    pos += 8;
  }
  while (pos < text.size() && static_cast<unsigned char>(text[pos]) < 0x80) ++pos;
  return pos;
}

}  // namespace

InvalidUtf8Error::InvalidUtf8Error(std::size_t byte_offset)
    : std::runtime_error("invalid UTF-8 at byte offset " + std::to_string(byte_offset)),
      byte_offset_(byte_offset) {}

std::size_t find_invalid_utf8(std::string_view text) {
  std::size_t pos = 0;
  while (true) {
    pos = skip_ascii(text, pos);
    if (pos >= text.size()) return std::string_view::npos;
    const std::ptrdiff_t length = measure_sequence(text, pos);
    if (length < 0) return pos;
    pos += static_cast<std::size_t>(length);
  }
}

std::size_t Utf8Repairs::original_offset(std::size_t repaired_offset) const {
  const auto after = std::upper_bound(ends_.begin(), ends_.end(), repaired_offset,
                                      [](std::size_t offset, const End& end) { return offset < end.repaired; });
  if (after == ends_.begin()) return repaired_offset;
  const End& last = *(after - 1);
  return repaired_offset - last.repaired + last.original;
}

std::string replace_invalid_utf8(std::string_view text, Utf8Repairs* repairs) {
  std::string out;
  out.reserve(text.size());
  std::size_t pos = 0;
  while (pos < text.size()) {
    const std::size_t ascii_end = skip_ascii(text, pos);
    out.append(text.data() + pos, ascii_end - pos);
    pos = ascii_end;
    if (pos >= text.size()) break;
    const std::ptrdiff_t length = measure_sequence(text, pos);
    if (length > 0) {
      out.append(text.data() + pos, static_cast<std::size_t>(length));
      pos += static_cast<std::size_t>(length);
    } else {
      append_utf8(out, 0xFFFD);
      pos += static_cast<std::size_t>(-length);
      if (repairs) repairs->add(out.size(), pos);
    }
  }
  return out;
}

char32_t decode_utf8(std::string_view text, std::size_t& pos) {
  const auto byte = [&](std::size_t i) { return static_cast<char32_t>(static_cast<unsigned char>(text[i])); };
  const char32_t lead = byte(pos);
  const std::size_t length = utf8_sequence_length(static_cast<unsigned char>(lead));
  char32_t cp;
  switch (length) {
    case 1:
      cp = lead;
      break;
    case 2:
      cp = ((lead & 0x1F) << 6) | (byte(pos + 1) & 0x3F);
      break;
    case 3:
      cp = ((lead & 0x0F) << 12) | ((byte(pos + 1) & 0x3F) << 6) | (byte(pos + 2) & 0x3F);
      break;
    default:
      cp = ((lead & 0x07) << 18) | ((byte(pos + 1) & 0x3F) << 12) | ((byte(pos + 2) & 0x3F) << 6) |
           (byte(pos + 3) & 0x3F);
      break;
  }
  pos += length;
  return cp;
}

void append_utf8(std::string& out, char32_t cp) {
  if (cp < 0x80) {
    out.push_back(static_cast<char>(cp));
  } else if (cp < 0x800) {
    out.push_back(static_cast<char>(0xC0 | (cp >> 6)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else if (cp < 0x10000) {
    out.push_back(static_cast<char>(0xE0 | (cp >> 12)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else {
    out.push_back(static_cast<char>(0xF0 | (cp >> 18)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 12) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  }
}

std::string_view lstrip_python_whitespace(std::string_view text) {
  std::size_t begin = 0;
  while (begin < text.size()) {
    std::size_t next = begin;
    if (!unicode::is_python_whitespace(decode_utf8(text, next))) break;
    begin = next;
  }
  return text.substr(begin);
}

std::string_view rstrip_python_whitespace(std::string_view text) {
  std::size_t end = text.size();
  while (end > 0) {
    std::size_t last = end - 1;
    while (last > 0 && (static_cast<unsigned char>(text[last]) & 0xC0) == 0x80) --last;
    std::size_t next = last;
    if (!unicode::is_python_whitespace(decode_utf8(text, next))) break;
    end = last;
  }
  return text.substr(0, end);
}

std::size_t count_code_points(std::string_view text) {
  return static_cast<std::size_t>(std::count_if(text.begin(), text.end(), [](char c) {
    return (static_cast<unsigned char>(c) & 0xC0) != 0x80;
  }));
}

}  // namespace bert_embed
