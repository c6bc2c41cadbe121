// The SentencePiece tokenizers, id for id as HuggingFace transformers' slow
// AlbertTokenizer and XLNetTokenizer (v4.29) constructed from a spiece.model
// (their text preprocessing, SentencePiece encoding and re-splitting of
// pieces that end in a digit and a comma), and XLMRobertaTokenizer (the text
// as it is, fairseq's ids).
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "bert_embed/text/tokenizer.h"
#include "bert_embed/text/tokenizer_description.h"

namespace bert_embed {

class NormalizedText;
class SentencePieceModel;

struct SentencePieceOptions {
  bool lowercase = true;
  // Collapse and trim whitespace as ' '.join(text.strip().split()) does.
  bool remove_space = true;
  // Unless set, NFKD and drop combining characters.
  bool keep_accents = false;
  // 1: XLMRobertaTokenizer's fairseq ids: <s>=0 <pad>=1 </s>=2 <unk>=3, a
  // piece's id + 1 (SentencePiece's unknown piece 0 -> 3), <mask> = pieces
  // + 1; the "``"/"''" quote rewriting and the digit-comma split, which
  // XLMRobertaTokenizer does not do, are left out. 0: the model's own ids.
  std::int64_t id_offset = 0;
  std::string unk_token = "<unk>";
  std::string sep_token = "[SEP]";
  std::string pad_token = "<pad>";
  std::string cls_token = "[CLS]";
  std::string mask_token = "[MASK]";
};

class SentencePieceTokenizer final : public PieceTokenizer {
 public:
  // Throws std::runtime_error naming model_file when it cannot be loaded.
  SentencePieceTokenizer(const std::filesystem::path& model_file, SentencePieceOptions options);
  ~SentencePieceTokenizer() override;

  // spiece.model with the settings of tokenizer_config.json beside it (if
  // any), or XLM-RoBERTa's sentencepiece.bpe.model (id_offset 1, text as it
  // is).
  static std::unique_ptr<SentencePieceTokenizer> from_directory(const std::filesystem::path& dir);
  // model_file with these settings; the special tokens are the pieces at the
  // given ids (see make_tokenizer()).
  static std::unique_ptr<SentencePieceTokenizer> from_description(const std::filesystem::path& model_file,
                                                                  const SentencePieceSettings& settings,
                                                                  const SpecialTokenIds& special_ids,
                                                                  const std::string& origin);

  // Always reads the whole text, whatever max_tokens: the SentencePiece model
  // segments its input as a whole (the best segmentation of a unigram model,
  // the merges of BPE), and the plugin hands over all pieces at once. Input
  // lines are bounded by the input reader's maximum line size.
  std::vector<Token> tokenize(std::string_view text, std::size_t max_tokens = kAllTokens) const override;
  std::string id_to_token(std::int64_t id) const override;
  std::int64_t token_to_id(const std::string& token) const override;
  std::size_t vocab_size() const override;
  const SpecialTokenIds& special_ids() const override { return special_ids_; }
  const SentencePieceOptions& options() const { return options_; }

 private:
  SentencePieceTokenizer(std::unique_ptr<SentencePieceModel> model, const std::filesystem::path& model_file,
                         SentencePieceOptions options);
  NormalizedText preprocess(const NormalizedText& text) const;
  std::int64_t piece_id(int model_id) const;
  void append_digit_comma_pieces(std::string_view piece, Span span, Span comma_span,
                                 std::vector<Token>& out) const;

  std::unique_ptr<SentencePieceModel> model_;
  SentencePieceOptions options_;
  std::vector<std::string> special_tokens_;
  SpecialTokenIds special_ids_;
};

}  // namespace bert_embed
