// GPT-2's byte-level BPE tokenizer (also RoBERTa's), id for id as
// HuggingFace transformers' slow GPT2Tokenizer / RobertaTokenizer (v4.29)
// with add_prefix_space=False: GPT-2's pre-tokenization pattern splits the
// text into words, each word's UTF-8 bytes become printable characters
// (bytes_to_unicode), and the merges of merges.txt are applied by rank.
// Special tokens in the text are not this class's business: Tokenizer splits
// them out first (AddedToken in tokenizer.h).
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "bert_embed/text/tokenizer.h"
#include "bert_embed/text/tokenizer_description.h"

namespace bert_embed {

struct BytePairOptions {
  // GPT2Tokenizer's unk_token; RobertaTokenizer's is "<unk>".
  std::string unk_token = "<|endoftext|>";
  std::string sep_token;
  std::string pad_token;
  std::string cls_token;
  std::string mask_token;
};

class BytePairTokenizer final : public PieceTokenizer {
 public:
  // vocab.json (token -> id) and merges.txt ("#version" line, then one
  // "left right" merge a line, by rank). Errors are std::runtime_error
  // naming the file and line.
  BytePairTokenizer(const std::filesystem::path& vocab_file, const std::filesystem::path& merges_file,
                    BytePairOptions options);
  ~BytePairTokenizer() override;

  // vocab.json and merges.txt with the special tokens of
  // tokenizer_config.json beside them (if any). Throws std::runtime_error
  // when add_prefix_space is true there (not supported).
  static std::unique_ptr<BytePairTokenizer> from_directory(const std::filesystem::path& dir);
  // The special tokens are those at the given ids (see make_tokenizer()).
  static std::unique_ptr<BytePairTokenizer> from_description(const std::filesystem::path& vocab_file,
                                                             const std::filesystem::path& merges_file,
                                                             const SpecialTokenIds& special_ids,
                                                             const std::string& origin);

  // Works word by word (the pattern's matches) and stops after the word in
  // which it has found more than max_tokens tokens. A token that holds part
  // of a character's bytes spans the whole character. Each thread keeps the
  // merges of the words it has seen (up to kCachedWords words of up to
  // kCachedWordBytes bytes, then it starts afresh): english.txt went from
  // 4.7 to 11-15 MB/s once the cache is warm (bench/tokenizer_bench).
  std::vector<Token> tokenize(std::string_view text, std::size_t max_tokens = kAllTokens) const override;
  std::string id_to_token(std::int64_t id) const override;
  std::size_t vocab_size() const override { return vocabulary_.size(); }
  const SpecialTokenIds& special_ids() const override { return special_ids_; }
  std::int64_t token_to_id(const std::string& token) const override;

 private:
  // A merge of a pair of symbols (left << 32 | right), in an open-addressing
  // table: std::unordered_map's lookups took 42% of the time on english.txt
  // (2.2 MB/s); this table, a power of two at most half full, about a third.
  struct Merge {
    std::uint64_t pair = kNoPair;
    std::uint32_t rank = 0;
    std::uint32_t merged = 0;  // symbol
  };
  static constexpr std::uint64_t kNoPair = ~std::uint64_t{0};
  struct Symbol {
    std::int64_t id;          // vocabulary id, or the unknown token's
    std::uint32_t byte_count; // bytes of the original text it stands for
  };

  std::uint32_t intern(const std::string& text);
  void read_merges(const std::filesystem::path& merges_file);
  std::size_t slot_of(std::uint64_t pair) const;
  const Merge* find_merge(std::uint32_t left, std::uint32_t right) const;
  static constexpr std::size_t kCachedWords = 1 << 16;
  static constexpr std::size_t kCachedWordBytes = 48;
  struct Workspace;
  void merge_word(std::string_view word, Workspace& work) const;
  void append_word(std::string_view text, std::size_t begin, std::size_t end, Workspace& work,
                   std::vector<Token>& out) const;

  std::vector<std::string> vocabulary_;  // by id; "" where an id is unused
  std::unordered_map<std::string, std::int64_t> ids_;
  BytePairOptions options_;
  SpecialTokenIds special_ids_;
  // Every string a merge names or makes, and the 256 byte characters.
  std::unordered_map<std::string, std::uint32_t> symbol_index_;
  std::vector<Symbol> symbols_;
  std::uint32_t byte_symbols_[256];
  std::vector<Merge> merge_table_;
  // Tells this tokenizer's entries in a thread's word cache from those of
  // another one, even one at the same address.
  std::uint64_t serial_;
};

}  // namespace bert_embed
