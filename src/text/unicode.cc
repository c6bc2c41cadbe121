#include "text/unicode.h"

#include <utf8proc.h>

#include <array>
#include <stdexcept>
#include <string>

namespace bert_embed::unicode {
namespace {

utf8proc_propval_t category(char32_t cp) {
  return utf8proc_get_property(static_cast<utf8proc_int32_t>(cp))->category;
}

// Longest decomposition of one code point (U+FDFA decomposes to 18).
constexpr std::size_t kMaxDecompositionLength = 32;

}  // namespace

bool is_control(char32_t cp) {
  if (cp == '\t' || cp == '\n' || cp == '\r') return false;
  switch (category(cp)) {
    case UTF8PROC_CATEGORY_CN:
    case UTF8PROC_CATEGORY_CC:
    case UTF8PROC_CATEGORY_CF:
    case UTF8PROC_CATEGORY_CS:
    case UTF8PROC_CATEGORY_CO:
      return true;
    default:
      return false;
  }
}

bool is_whitespace(char32_t cp) {
  if (cp == ' ' || cp == '\t' || cp == '\n' || cp == '\r') return true;
  return category(cp) == UTF8PROC_CATEGORY_ZS;
}

bool is_punctuation(char32_t cp) {
  if ((cp >= 33 && cp <= 47) || (cp >= 58 && cp <= 64) || (cp >= 91 && cp <= 96) ||
      (cp >= 123 && cp <= 126)) {
    return true;
  }
  const utf8proc_propval_t c = category(cp);
  return c >= UTF8PROC_CATEGORY_PC && c <= UTF8PROC_CATEGORY_PO;
}

bool is_cjk_ideograph(char32_t cp) {
  return (cp >= 0x4E00 && cp <= 0x9FFF) || (cp >= 0x3400 && cp <= 0x4DBF) ||
         (cp >= 0x20000 && cp <= 0x2A6DF) || (cp >= 0x2A700 && cp <= 0x2B73F) ||
         (cp >= 0x2B740 && cp <= 0x2B81F) || (cp >= 0x2B820 && cp <= 0x2CEAF) ||
         (cp >= 0xF900 && cp <= 0xFAFF) || (cp >= 0x2F800 && cp <= 0x2FA1F);
}

namespace {

bool is_python_whitespace_in_data(char32_t cp) {
  const utf8proc_property_t* property = utf8proc_get_property(static_cast<utf8proc_int32_t>(cp));
  return property->category == UTF8PROC_CATEGORY_ZS || property->bidi_class == UTF8PROC_BIDI_CLASS_WS ||
         property->bidi_class == UTF8PROC_BIDI_CLASS_B || property->bidi_class == UTF8PROC_BIDI_CLASS_S;
}

}  // namespace

bool is_python_whitespace(char32_t cp) {
  // Called for every character of ALBERT input: ASCII answers come from a
  // table filled from the same data.
  static const std::array<bool, 128> ascii = [] {
    std::array<bool, 128> table{};
    for (char32_t c = 0; c < 128; ++c) table[c] = is_python_whitespace_in_data(c);
    return table;
  }();
  return cp < 0x80 ? ascii[cp] : is_python_whitespace_in_data(cp);
}

bool is_python_digit(char32_t cp) {
  if (cp < 0x80) return cp >= '0' && cp <= '9';
  if (category(cp) == UTF8PROC_CATEGORY_ND) return true;
  std::vector<char32_t> decomposition;
  append_decomposition(cp, Decomposition::kCompatibility, decomposition);
  return decomposition.size() == 1 && decomposition[0] != cp &&
         category(decomposition[0]) == UTF8PROC_CATEGORY_ND;
}

namespace {

RegexClass regex_class_in_data(char32_t cp) {
  if ((cp >= 0x9 && cp <= 0xD) || cp == 0x85) return RegexClass::kSpace;
  switch (category(cp)) {
    case UTF8PROC_CATEGORY_LU:
    case UTF8PROC_CATEGORY_LL:
    case UTF8PROC_CATEGORY_LT:
    case UTF8PROC_CATEGORY_LM:
    case UTF8PROC_CATEGORY_LO:
      return RegexClass::kLetter;
    case UTF8PROC_CATEGORY_ND:
    case UTF8PROC_CATEGORY_NL:
    case UTF8PROC_CATEGORY_NO:
      return RegexClass::kNumber;
    case UTF8PROC_CATEGORY_ZS:
    case UTF8PROC_CATEGORY_ZL:
    case UTF8PROC_CATEGORY_ZP:
      return RegexClass::kSpace;
    default:
      return RegexClass::kOther;
  }
}

}  // namespace

RegexClass regex_class(char32_t cp) {
  // Called for every character of byte-level BPE input: ASCII answers come
  // from a table filled from the same data.
  static const std::array<RegexClass, 128> ascii = [] {
    std::array<RegexClass, 128> table{};
    for (char32_t c = 0; c < 128; ++c) table[c] = regex_class_in_data(c);
    return table;
  }();
  return cp < 0x80 ? ascii[cp] : regex_class_in_data(cp);
}

bool is_nonspacing_mark(char32_t cp) { return category(cp) == UTF8PROC_CATEGORY_MN; }

int combining_class(char32_t cp) {
  if (cp < 0x80) return 0;  // ASCII characters are all starters
  return utf8proc_get_property(static_cast<utf8proc_int32_t>(cp))->combining_class;
}

std::size_t to_lower(char32_t cp, char32_t out[2]) {
  // U+0130 is the only character whose full lowercase mapping
  // (SpecialCasing.txt, unconditional) differs from the simple one that
  // utf8proc provides: Python lowers it to "i" + U+0307.
  if (cp == 0x130) {
    out[0] = 'i';
    out[1] = 0x307;
    return 2;
  }
  out[0] = static_cast<char32_t>(utf8proc_tolower(static_cast<utf8proc_int32_t>(cp)));
  return 1;
}

void append_decomposition(char32_t cp, Decomposition kind, std::vector<char32_t>& out) {
  if (cp < 0x80) {  // ASCII characters have no decomposition
    out.push_back(cp);
    return;
  }
  utf8proc_int32_t buffer[kMaxDecompositionLength];
  int boundclass = 0;
  const int options =
      kind == Decomposition::kCompatibility ? UTF8PROC_DECOMPOSE | UTF8PROC_COMPAT : UTF8PROC_DECOMPOSE;
  const utf8proc_ssize_t length = utf8proc_decompose_char(
      static_cast<utf8proc_int32_t>(cp), buffer, kMaxDecompositionLength,
      static_cast<utf8proc_option_t>(options), &boundclass);
  if (length < 0 || static_cast<std::size_t>(length) > kMaxDecompositionLength) {
    throw std::logic_error("utf8proc cannot decompose code point " + std::to_string(static_cast<unsigned long>(cp)));
  }
  out.insert(out.end(), buffer, buffer + length);
}

}  // namespace bert_embed::unicode
