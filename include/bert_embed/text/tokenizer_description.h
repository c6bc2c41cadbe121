// What a tokenizer is, without the files read: the piece tokenizer and its
// text normalization, the framing and the special token ids. A bert-embed
// bundle's bundle.json holds one (read_bundle_info() in
// bert_embed/model/bundle.h); make_tokenizer() builds the tokenizer from it.
#pragma once

#include <filesystem>
#include <memory>
#include <string>
#include <variant>

#include "bert_embed/text/tokenizer.h"

namespace bert_embed {

// BertTokenizer's BasicTokenizer settings.
struct WordPieceSettings {
  bool lowercase = true;
  bool strip_accents = true;
  bool tokenize_chinese_chars = true;
};

// AlbertTokenizer's preprocessing settings.
struct SentencePieceSettings {
  bool lowercase = true;
  bool remove_space = true;
  bool keep_accents = false;
};

// The piece tokenizer: its kind is the alternative held (a byte-level BPE
// would be one more).
using PieceSettings = std::variant<WordPieceSettings, SentencePieceSettings>;

struct TokenizerDescription {
  PieceSettings pieces;
  // The vocabulary: vocab.txt or a tokenizer.json with a WordPiece model for
  // WordPiece, spiece.model for SentencePiece.
  std::filesystem::path vocabulary_file;
  Framing framing = Framing::kBert;
  // cls, sep, pad and unk are required; mask may be -1 (none).
  SpecialTokenIds special_ids;
  // Where the description came from (bundle.json and its section), named in
  // errors about the special ids.
  std::string origin;
};

// Reads the vocabulary file and builds the tokenizer. The special tokens are
// the vocabulary's tokens at the described ids; throws std::runtime_error
// naming the vocabulary file when an id is outside the vocabulary or is not
// that token's id there (a token listed twice keeps its last id), and when
// the file is not a regular file, is larger than kMaxTokenizerFileBytes
// (tokenizer.h) or is malformed.
std::unique_ptr<Tokenizer> make_tokenizer(const TokenizerDescription& description);

}  // namespace bert_embed
