// The tokenizer stage: text -> token ids with BERT framing, byte spans and
// truncation. WordPieceTokenizer and SentencePieceTokenizer implement it;
// load_tokenizer() picks one from the files in a checkpoint or bundle directory.
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
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

class Tokenizer {
 public:
  virtual ~Tokenizer() = default;

  // Splits valid UTF-8 text into vocabulary tokens, without framing. Throws
  // InvalidUtf8Error (utf8.h) when the text is not valid UTF-8.
  virtual std::vector<Token> tokenize(std::string_view text) const = 0;

  virtual std::string id_to_token(std::int64_t id) const = 0;
  virtual std::size_t vocab_size() const = 0;
  virtual const SpecialTokenIds& special_ids() const = 0;

  // [CLS] text [SEP], truncated so that the whole has at most max_length ids
  // (0 means no limit; otherwise at least 2, else std::invalid_argument).
  Encoding encode(std::string_view text, std::size_t max_length) const;

  // [CLS] a [SEP] b [SEP] with type ids 0 then 1; longest-first truncation as
  // in HuggingFace transformers (max_length 0 or at least 3).
  Encoding encode_pair(std::string_view first, std::string_view second,
                       std::size_t max_length) const;
};

// Reads the tokenizer of a HuggingFace checkpoint or bert-embed bundle
// directory: spiece.model -> SentencePiece; vocab.txt (+ tokenizer_config.json)
// or tokenizer.json with a WordPiece model -> WordPiece.
std::unique_ptr<Tokenizer> load_tokenizer(const std::filesystem::path& dir);

}  // namespace bert_embed
