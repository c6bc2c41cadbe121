// BERT's WordPiece tokenizer, id for id as HuggingFace transformers' slow
// BertTokenizer (v4.29) constructed from a vocabulary file: BasicTokenizer
// (clean-up, CJK and punctuation splitting, lowercasing and accent stripping)
// followed by greedy longest-match-first WordPiece. A special token such as
// "[MASK]" in the text stays whole when it is a word of its own; inside a
// longer word it is split like any text (BertTokenizer.from_pretrained would
// cut it out of the word).
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "bert_embed/text/tokenizer.h"
#include "bert_embed/text/tokenizer_description.h"

namespace bert_embed {

class NormalizedText;
class WordPieceVocabulary;

struct WordPieceOptions {
  bool lowercase = true;
  // Unset: strip accents exactly when lowercasing (HF strip_accents=None).
  std::optional<bool> strip_accents;
  bool tokenize_chinese_chars = true;
  std::string unk_token = "[UNK]";
  std::string sep_token = "[SEP]";
  std::string pad_token = "[PAD]";
  std::string cls_token = "[CLS]";
  std::string mask_token = "[MASK]";
  std::string continuing_subword_prefix = "##";
  // Longer words (in code points, after normalization) become the unknown token.
  std::size_t max_input_chars_per_word = 100;
};

class WordPieceTokenizer final : public PieceTokenizer {
 public:
  // vocabulary[id] is the token with that id. Throws std::invalid_argument
  // when the unknown, [CLS] or [SEP] token is not in the vocabulary.
  WordPieceTokenizer(std::vector<std::string> vocabulary, WordPieceOptions options);
  ~WordPieceTokenizer() override;

  // A vocab.txt as BertTokenizer reads it: one token per line, the id is the
  // line number (a repeated token gets the id of its last line). Errors,
  // such as a special token missing from the vocabulary, are
  // std::runtime_error naming the file.
  static std::unique_ptr<WordPieceTokenizer> from_vocab_file(const std::filesystem::path& vocab_file,
                                                             WordPieceOptions options);
  // The vocabulary of vocab.txt, else of a tokenizer.json whose model is
  // WordPiece (with its settings), and the settings of tokenizer_config.json
  // (if any), which take precedence.
  static std::unique_ptr<WordPieceTokenizer> from_directory(const std::filesystem::path& dir);
  // The vocabulary of vocabulary_file (vocab.txt, or tokenizer.json whose
  // WordPiece model gives the unknown token, subword prefix and word length
  // limit) with these settings; the special tokens are those at the given
  // ids (see make_tokenizer()).
  static std::unique_ptr<WordPieceTokenizer> from_description(const std::filesystem::path& vocabulary_file,
                                                              const WordPieceSettings& settings,
                                                              const SpecialTokenIds& special_ids,
                                                              const std::string& origin);

  // Works through the text in chunks of about 64 KiB that end at a word
  // boundary (whitespace, or before a CJK character), and stops after the
  // chunk in which it has found more than max_tokens tokens; so a long text
  // costs memory in proportion to the chunk, not to the text. (A text
  // without such boundaries, or any text when a special token contains
  // one, is a single chunk.)
  std::vector<Token> tokenize(std::string_view text, std::size_t max_tokens = kAllTokens) const override;
  std::string id_to_token(std::int64_t id) const override;
  std::int64_t token_to_id(const std::string& token) const override;
  std::size_t vocab_size() const override { return vocabulary_.size(); }
  const SpecialTokenIds& special_ids() const override { return special_ids_; }
  const WordPieceOptions& options() const { return options_; }

 private:
  struct Workspace;

  static std::unique_ptr<WordPieceTokenizer> make(std::vector<std::string> vocabulary, WordPieceOptions options,
                                                  const std::filesystem::path& file);
  std::size_t chunk_end(std::string_view text, std::size_t begin) const;
  void tokenize_chunk(std::string_view text, std::size_t offset, Workspace& work, std::vector<Token>& out) const;
  void tokenize_word(Workspace& work, std::vector<Token>& out) const;
  void split_on_punctuation(const NormalizedText& word, std::vector<Token>& out) const;
  void append_wordpieces(const NormalizedText& text, std::size_t begin, std::size_t end,
                         std::vector<Token>& out) const;

  std::vector<std::string> vocabulary_;
  WordPieceOptions options_;
  bool strip_accents_;
  std::unique_ptr<WordPieceVocabulary> index_;
  std::vector<std::string> special_tokens_;
  // Whether no special token holds a character at which tokenize() cuts the
  // text (which would keep it from being matched whole).
  bool cuts_keep_special_tokens_;
  SpecialTokenIds special_ids_;
};

}  // namespace bert_embed
