// The tokenizer stage: text -> token ids with framing, byte spans and
// truncation. A Tokenizer is a piece tokenizer (WordPieceTokenizer,
// SentencePieceTokenizer) plus a framing template.
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <limits>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace bert_embed {

// Byte range [begin, end) of the original text a token came from. Special
// tokens added by framing have an empty span at 0.
struct Span {
  std::size_t begin = 0;
  std::size_t end = 0;
  bool operator==(const Span& other) const { return begin == other.begin && end == other.end; }
};

struct Token {
  std::int64_t id = 0;
  Span span;
};

struct SpecialTokenIds {
  std::int64_t cls = -1;
  std::int64_t sep = -1;
  std::int64_t pad = -1;
  std::int64_t unk = -1;
  std::int64_t mask = -1;
};

// One model input: ids framed as [CLS] a [SEP] (or [CLS] a [SEP] b [SEP]).
struct Encoding {
  std::vector<std::int64_t> ids;
  std::vector<std::int64_t> type_ids;
  std::vector<Span> spans;           // spans of the pair's second text index that text
  std::vector<bool> special;         // true for framing tokens
  bool truncated = false;
  std::size_t size() const { return ids.size(); }
};

// Asks tokenize() for every token of the text.
inline constexpr std::size_t kAllTokens = std::numeric_limits<std::size_t>::max();

// A piece tokenizer: text -> vocabulary tokens, without framing.
class PieceTokenizer {
 public:
  virtual ~PieceTokenizer() = default;

  // Splits valid UTF-8 text into vocabulary tokens. Throws InvalidUtf8Error
  // (utf8.h) when the text is not valid UTF-8. Once it has found more than
  // max_tokens tokens it may stop: the result then holds the first tokens of
  // the text, more than max_tokens of them, which is all that truncation
  // needs (how many more, and how much of the text it read, depends on the
  // tokenizer).
  virtual std::vector<Token> tokenize(std::string_view text, std::size_t max_tokens = kAllTokens) const = 0;

  virtual std::string id_to_token(std::int64_t id) const = 0;
  virtual std::size_t vocab_size() const = 0;
  // The ids of the special tokens the tokenizer was configured with, as its
  // vocabulary gives them (-1: not in the vocabulary).
  virtual const SpecialTokenIds& special_ids() const = 0;
};

// How special tokens frame one text or a pair, with the type id of each part
// (HuggingFace's post-processor). Only BERT's for now; RoBERTa's
// (<s> A </s></s> B </s>) or XLNet's (A <sep> B <sep> <cls>) are further
// templates over the same elements.
enum class Framing {
  kBert,  // [CLS] A [SEP], and [CLS] A [SEP] B [SEP] with type ids 0 then 1
};

// A piece tokenizer and a framing template: what a model reads.
class Tokenizer {
 public:
  // special_ids are those the framing inserts and the model pads with.
  Tokenizer(std::unique_ptr<const PieceTokenizer> pieces, SpecialTokenIds special_ids,
            Framing framing = Framing::kBert);

  std::vector<Token> tokenize(std::string_view text) const { return pieces_->tokenize(text); }
  std::string id_to_token(std::int64_t id) const { return pieces_->id_to_token(id); }
  std::size_t vocab_size() const { return pieces_->vocab_size(); }
  const SpecialTokenIds& special_ids() const { return special_ids_; }
  const PieceTokenizer& pieces() const { return *pieces_; }

  // The framed text, truncated so that the whole has at most max_length ids
  // (0 means no limit; otherwise at least the framing's special tokens, else
  // std::invalid_argument). Tokenizes no more of the text than truncation
  // needs, where the piece tokenizer allows.
  Encoding encode(std::string_view text, std::size_t max_length) const;

  // The framed pair; longest-first truncation as in HuggingFace transformers.
  Encoding encode_pair(std::string_view first, std::string_view second, std::size_t max_length) const;

 private:
  // One element of a template: a special token, or where a text goes.
  struct Element {
    enum Kind { kSpecial, kFirstText, kSecondText } kind;
    std::int64_t special_id;  // for kSpecial
    std::int64_t type_id;
  };
  using Template = std::vector<Element>;
  static std::size_t special_count(const Template& elements);
  static Encoding frame(const Template& elements, const std::vector<Token>& first, std::size_t first_kept,
                        const std::vector<Token>& second, std::size_t second_kept);

  std::unique_ptr<const PieceTokenizer> pieces_;
  SpecialTokenIds special_ids_;
  Template single_;
  Template pair_;
};

// Largest tokenizer file read (vocab.txt, tokenizer.json, spiece.model,
// tokenizer_config.json): 64 MiB, several times the largest public ones (for
// 250,000 pieces, a tokenizer.json is about 17 MB, a SentencePiece model
// about 5 MB). A file that is larger, or not a regular file (a device, a
// directory), is an error naming it, never read.
inline constexpr std::uintmax_t kMaxTokenizerFileBytes = std::uintmax_t{64} << 20;

// Reads the tokenizer of a HuggingFace checkpoint directory, choosing it from
// the files there: spiece.model -> SentencePiece; vocab.txt (+
// tokenizer_config.json) or tokenizer.json with a WordPiece model ->
// WordPiece; framed as BERT. For tests and benchmarks: a bert-embed bundle's
// tokenizer is what its bundle.json describes (make_tokenizer() in
// tokenizer_description.h).
std::unique_ptr<Tokenizer> load_tokenizer(const std::filesystem::path& dir);

}  // namespace bert_embed
