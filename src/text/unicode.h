// Character properties and mappings the tokenizers need, with the exact
// definitions HuggingFace's slow tokenizers use (Python's unicodedata and str
// methods), computed from utf8proc's Unicode data.
//
// utf8proc 2.8 carries Unicode 15.0 while the reference (Python 3.11) carries
// Unicode 14.0: characters first assigned in Unicode 15.0 are unassigned (Cn,
// so dropped as control characters) in the reference but classified by their
// Unicode 15.0 properties here. All other properties agree code point for code
// point (checked over the whole code space against Python 3.11).
#pragma once

#include <cstddef>
#include <vector>

namespace bert_embed::unicode {

// BERT's _is_control: any "C*" category (unassigned code points included),
// except \t, \n and \r, which count as whitespace.
bool is_control(char32_t cp);

// BERT's _is_whitespace: ' ', \t, \n, \r and the Zs category.
bool is_whitespace(char32_t cp);

// BERT's _is_punctuation: every non-alphanumeric printable ASCII character
// and the "P*" categories.
bool is_punctuation(char32_t cp);

// The CJK Unified Ideographs blocks BERT puts in words of their own.
bool is_cjk_ideograph(char32_t cp);

// Python's str.isspace(), which str.split() and str.strip() split on:
// bidirectional class WS, B or S, or category Zs.
bool is_python_whitespace(char32_t cp);

// Python's str.isdigit() for the characters it can meet in a SentencePiece
// piece: decimal digits (Nd) and characters whose compatibility decomposition
// is a single decimal digit (superscripts, circled digits, ...). Digits of
// Numeric_Type=Digit without such a decomposition (e.g. U+2776, Ethiopic
// digits) are not recognised: utf8proc has no Numeric_Type.
bool is_python_digit(char32_t cp);

// The classes of GPT-2's pre-tokenization pattern as the `regex` module
// defines them: \p{L} (categories L*), \p{N} (N*), and \s, the White_Space
// property (categories Zs, Zl, Zp and U+0009..U+000D, U+0085), which unlike
// str.isspace() leaves out U+001C..U+001F.
enum class RegexClass : unsigned char { kLetter, kNumber, kSpace, kOther };
RegexClass regex_class(char32_t cp);

// Category Mn, which BERT's accent stripping removes.
bool is_nonspacing_mark(char32_t cp);

// Canonical_Combining_Class (Python's unicodedata.combining()).
int combining_class(char32_t cp);

// Python's str.lower() of the one-character string cp: the full lowercase
// mapping. Writes one or two code points to out and returns how many.
std::size_t to_lower(char32_t cp, char32_t out[2]);

enum class Decomposition { kCanonical, kCompatibility };

// Appends the full canonical (NFD) or compatibility (NFKD) decomposition of
// one code point, before canonical reordering, which needs the neighbours.
void append_decomposition(char32_t cp, Decomposition kind, std::vector<char32_t>& out);

}  // namespace bert_embed::unicode
