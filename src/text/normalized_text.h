// Text that the tokenizers rewrite (lowercase, clean, decompose, ...) while
// remembering, for every character, the bytes of the original text it came
// from, so that each token can point back into the original text.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

#include "bert_embed/text/tokenizer.h"
#include "bert_embed/text/utf8.h"
#include "text/unicode.h"

namespace bert_embed {

class NormalizedText {
 public:
  // The original text itself: every character is its own origin.
  static NormalizedText copy_of(std::string_view original);

  std::string_view text() const { return text_; }
  std::size_t size() const { return text_.size(); }
  bool empty() const { return text_.empty(); }
  void clear();
  void reserve(std::size_t bytes) { text_.reserve(bytes); }

  // Appends cp, produced from the original bytes [origin.begin, origin.end).
  void append(char32_t cp, Span origin) {
    if (cp < 0x80 && identity_ && !text_.empty() && origin.begin == base_ + text_.size() &&
        origin.end == origin.begin + 1) {
      text_.push_back(static_cast<char>(cp));  // the common case, kept inline
      return;
    }
    append_any(cp, origin);
  }

  // Appends count ASCII characters, the i-th from original byte origin + i,
  // and returns where the caller is to write them.
  char* append_ascii(std::size_t count, std::size_t origin);

  // Original bytes of the character that starts at text()[pos].
  Span origin(std::size_t pos) const {
    if (!identity_) return origins_[pos];
    return {base_ + pos, base_ + pos + utf8_sequence_length(static_cast<unsigned char>(text_[pos]))};
  }
  // Original bytes covered by the characters in text()[begin, end).
  Span original_span(std::size_t begin, std::size_t end) const;

 private:
  void append_any(char32_t cp, Span origin);
  void materialize_origins();

  std::string text_;
  // While every character so far sits at the same offset (shifted by base_)
  // and has the same length as its origin, which is the rule for ASCII and
  // most lowercasing, origins are implied and origins_ stays empty; after
  // that, origins_ holds the origin of each byte.
  bool identity_ = true;
  std::size_t base_ = 0;
  std::vector<Span> origins_;
};

// Appends Python's str.lower() of cp (one or two code points), all from origin.
void append_lowercase(char32_t cp, Span origin, NormalizedText& out);
// Appends source lowercased one character at a time, which is str.lower()
// but for the final-sigma rule.
void append_lowercase(const NormalizedText& source, NormalizedText& out);

struct LowercasedText {
  NormalizedText text;
  bool kept_any = false;  // whether some of keep_as_is were found and kept
};

// What PreTrainedTokenizer.tokenize does to text when do_lower_case: a regex
// lowercases it one character at a time with str.lower() (so a final capital
// sigma becomes "σ", not "ς"), except where one of keep_as_is matches
// (alternatives tried in order at each position).
LowercasedText lowercase_except(std::string_view original, const std::vector<std::string>& keep_as_is);

// Scratch space for decompose(), kept between calls to save allocations.
struct DecompositionBuffer {
  struct Item {
    char32_t cp;
    int combining_class;
    Span origin;
    bool dropped;
  };
  std::vector<char32_t> code_points;
  std::vector<Item> items;
};

// Appends to out the NFD or NFKD form of source[begin, end) (which must not
// split a run of combining marks), leaving out every code point for which
// drop(cp) is true. Each code point keeps the origin of the character it was
// decomposed from, widened to cover the dropped code points next to it.
void decompose(const NormalizedText& source, std::size_t begin, std::size_t end,
               unicode::Decomposition kind, bool (*drop)(char32_t), DecompositionBuffer& buffer,
               NormalizedText& out);

}  // namespace bert_embed
