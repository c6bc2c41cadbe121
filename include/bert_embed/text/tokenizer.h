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

#include "bert_embed/enum_names.h"

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

// One model input: the texts' ids framed with special tokens (Framing).
struct Encoding {
  std::vector<std::int64_t> ids;
  std::vector<std::int64_t> type_ids;
  std::vector<Span> spans;           // spans of the pair's second text index that text
  std::vector<bool> special;         // true for framing tokens
  bool truncated = false;
  // Which text each token came from: 0 the first, 1 the second of a pair,
  // -1 for framing tokens (HuggingFace's sequence_ids()).
  std::vector<std::int8_t> sequence_ids{};
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
  // The id of a vocabulary token, -1 when there is none.
  virtual std::int64_t token_to_id(const std::string& token) const = 0;
  virtual std::size_t vocab_size() const = 0;
  // The ids of the special tokens the tokenizer was configured with, as its
  // vocabulary gives them (-1: not in the vocabulary).
  virtual const SpecialTokenIds& special_ids() const = 0;
};

// How special tokens frame one text or a pair, with the type id of each part
// (HuggingFace's build_inputs_with_special_tokens and
// create_token_type_ids_from_sequences).
enum class Framing {
  kBert,     // [CLS] A [SEP], and [CLS] A [SEP] B [SEP] with type ids 0 then 1
  kRoberta,  // <s> A </s>, and <s> A </s></s> B </s>, type ids all 0
  kXlnet,    // A <sep> <cls>, and A <sep> B <sep> <cls>: types 0, then 1 for B <sep>, 2 for <cls>
  kNone,     // A, and A B concatenated (GPT-2), type ids all 0
};

inline constexpr EnumNames<Framing, 4> kFramingNames{{{"bert", Framing::kBert},
                                                      {"roberta", Framing::kRoberta},
                                                      {"xlnet", Framing::kXlnet},
                                                      {"none", Framing::kNone}}};

// A token of the vocabulary that the text may hold literally: a special token
// (or one added to the vocabulary), cut out of the text whole before the
// piece tokenizer sees the rest, as the slow tokenizers' tokenize() does
// with their no-split tokens. lstrip/rstrip: the token eats the whitespace
// on its left / right (str.rstrip() / str.lstrip() of the neighbouring text).
// A special token given as a plain string (not an AddedToken) in
// HuggingFace's files strips both sides.
struct AddedToken {
  std::string content;
  std::int64_t id = -1;
  bool lstrip = false;
  bool rstrip = false;
};

// A piece tokenizer, the literal tokens cut out before it and a framing
// template: what a model reads.
class Tokenizer {
 public:
  // special_ids are those the framing inserts and the model pads with. With
  // no added tokens, special tokens in the text are left to the piece
  // tokenizer (WordPiece keeps one whole when it is a word of its own, as
  // the slow tokenizers constructed from a vocabulary file do).
  Tokenizer(std::unique_ptr<const PieceTokenizer> pieces, SpecialTokenIds special_ids,
            Framing framing = Framing::kBert, std::vector<AddedToken> added_tokens = {});

  // Added tokens cut out, the rest split by the piece tokenizer; stops once
  // it has more than max_tokens tokens, as PieceTokenizer::tokenize().
  std::vector<Token> tokenize(std::string_view text, std::size_t max_tokens = kAllTokens) const;
  std::string id_to_token(std::int64_t id) const;
  // The piece tokenizer's vocabulary and the added tokens' ids past it.
  std::size_t vocab_size() const { return vocab_size_; }
  const SpecialTokenIds& special_ids() const { return special_ids_; }
  const PieceTokenizer& pieces() const { return *pieces_; }
  Framing framing() const { return framing_; }
  const std::vector<AddedToken>& added_tokens() const { return added_tokens_; }

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
  // The longest added token at text[pos], if any.
  const AddedToken* added_token_at(std::string_view text, std::size_t pos) const;
  void append_pieces(std::string_view text, std::size_t begin, std::size_t end, std::size_t max_tokens,
                     std::vector<Token>& out) const;

  std::unique_ptr<const PieceTokenizer> pieces_;
  SpecialTokenIds special_ids_;
  Framing framing_;
  std::vector<AddedToken> added_tokens_;
  bool starts_added_token_[256] = {};  // by first byte
  std::size_t vocab_size_;
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
// the files there: spiece.model or sentencepiece.bpe.model -> SentencePiece;
// vocab.json + merges.txt -> byte-level BPE; vocab.txt or tokenizer.json
// with a WordPiece model -> WordPiece; with the settings and special tokens
// of tokenizer_config.json, special_tokens_map.json and added_tokens.json.
// The framing follows tokenizer_config.json's tokenizer_class (else
// config.json's model_type): RoBERTa, XLM-RoBERTa and MPNet -> kRoberta
// (XLM-RoBERTa with the fairseq id offset), XLNet -> kXlnet, GPT-2 -> kNone,
// others -> kBert. When special_tokens_map.json or added_tokens.json is
// there (a directory written by from_pretrained/save_pretrained), every
// special token is an AddedToken, as from_pretrained registers them. For
// tests and benchmarks: a bert-embed bundle's tokenizer is what its
// bundle.json describes (make_tokenizer() in tokenizer_description.h).
std::unique_ptr<Tokenizer> load_tokenizer(const std::filesystem::path& dir);

}  // namespace bert_embed
