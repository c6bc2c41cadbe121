// What a tokenizer is, without the files read: the piece tokenizer and its
// text normalization, the framing and the special token ids. A bert-embed
// bundle's bundle.json holds one (read_bundle_info() in
// bert_embed/model/bundle.h); make_tokenizer() builds the tokenizer from it.
#pragma once

#include <filesystem>
#include <memory>
#include <string>
#include <variant>
#include <vector>

#include "bert_embed/text/tokenizer.h"

namespace bert_embed {

// BertTokenizer's BasicTokenizer settings.
struct WordPieceSettings {
  bool lowercase = true;
  bool strip_accents = true;
  bool tokenize_chinese_chars = true;
};

// AlbertTokenizer's preprocessing settings, and the id offset
// (SentencePieceOptions::id_offset).
struct SentencePieceSettings {
  bool lowercase = true;
  bool remove_space = true;
  bool keep_accents = false;
  std::int64_t id_offset = 0;
};

// GPT-2's byte-level BPE (add_prefix_space false, the only setting
// supported); the vocabulary is vocab.json, the merges merges_file.
struct BytePairSettings {
  std::filesystem::path merges_file;
};

// The piece tokenizer: its kind is the alternative held.
using PieceSettings = std::variant<WordPieceSettings, SentencePieceSettings, BytePairSettings>;

struct TokenizerDescription {
  PieceSettings pieces;
  // The vocabulary: vocab.txt or a tokenizer.json with a WordPiece model for
  // WordPiece, spiece.model (or another SentencePiece model file) for
  // SentencePiece, vocab.json for byte-level BPE.
  std::filesystem::path vocabulary_file;
  Framing framing = Framing::kBert;
  // pad and unk are required, cls and sep where the framing inserts them;
  // others may be -1 (none). Each is a token of the vocabulary or an added
  // token's id.
  SpecialTokenIds special_ids;
  // Tokens cut out of the text whole (Tokenizer); none: special tokens in
  // the text are left to the piece tokenizer.
  std::vector<AddedToken> added_tokens;
  // Where the description came from (bundle.json and its section), named in
  // errors about the special ids.
  std::string origin;
};

// Reads the vocabulary file and builds the tokenizer. The special tokens are
// the vocabulary's tokens at the described ids, or added tokens; throws
// std::runtime_error naming the vocabulary file when an id is neither in the
// vocabulary nor an added token's, or is not that token's id there (a token
// listed twice keeps its last id), and when
// the file is not a regular file, is larger than kMaxTokenizerFileBytes
// (tokenizer.h) or is malformed.
std::unique_ptr<Tokenizer> make_tokenizer(const TokenizerDescription& description);

}  // namespace bert_embed
