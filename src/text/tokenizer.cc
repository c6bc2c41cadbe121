#include "bert_embed/text/tokenizer.h"

#include <stdexcept>
#include <string>

#include "bert_embed/text/sentencepiece_tokenizer.h"
#include "bert_embed/text/wordpiece_tokenizer.h"

namespace bert_embed {
namespace {

void append_special(Encoding& encoding, std::int64_t id, std::int64_t type_id) {
  encoding.ids.push_back(id);
  encoding.type_ids.push_back(type_id);
  encoding.spans.push_back({});
  encoding.special.push_back(true);
}

void append_tokens(Encoding& encoding, const std::vector<Token>& tokens, std::size_t count,
                   std::int64_t type_id) {
  for (std::size_t i = 0; i < count; ++i) {
    encoding.ids.push_back(tokens[i].id);
    encoding.type_ids.push_back(type_id);
    encoding.spans.push_back(tokens[i].span);
    encoding.special.push_back(false);
  }
}

void reserve(Encoding& encoding, std::size_t size) {
  encoding.ids.reserve(size);
  encoding.type_ids.reserve(size);
  encoding.spans.reserve(size);
  encoding.special.reserve(size);
}

void check_max_length(std::size_t max_length, std::size_t special_tokens) {
  if (max_length != 0 && max_length < special_tokens) {
    throw std::invalid_argument("max_length " + std::to_string(max_length) + " leaves no room for the " +
                                std::to_string(special_tokens) + " special tokens (0 means no limit)");
  }
}

}  // namespace

Encoding Tokenizer::encode(std::string_view text, std::size_t max_length) const {
  check_max_length(max_length, 2);
  const std::vector<Token> tokens = tokenize(text);
  std::size_t kept = tokens.size();
  if (max_length != 0 && kept + 2 > max_length) kept = max_length - 2;

  Encoding encoding;
  reserve(encoding, kept + 2);
  const SpecialTokenIds& special = special_ids();
  append_special(encoding, special.cls, 0);
  append_tokens(encoding, tokens, kept, 0);
  append_special(encoding, special.sep, 0);
  encoding.truncated = kept < tokens.size();
  return encoding;
}

Encoding Tokenizer::encode_pair(std::string_view first, std::string_view second, std::size_t max_length) const {
  check_max_length(max_length, 3);
  const std::vector<Token> first_tokens = tokenize(first);
  const std::vector<Token> second_tokens = tokenize(second);
  std::size_t first_kept = first_tokens.size();
  std::size_t second_kept = second_tokens.size();
  if (max_length != 0 && first_kept + second_kept + 3 > max_length) {
    // truncate_sequences(strategy="longest_first") removes one token at a
    // time from the end of the longer text, the second one on a tie.
    std::size_t to_remove = first_kept + second_kept + 3 - max_length;
    for (; to_remove > 0; --to_remove) {
      if (first_kept > second_kept) {
        --first_kept;
      } else {
        --second_kept;
      }
    }
  }

  Encoding encoding;
  reserve(encoding, first_kept + second_kept + 3);
  const SpecialTokenIds& special = special_ids();
  append_special(encoding, special.cls, 0);
  append_tokens(encoding, first_tokens, first_kept, 0);
  append_special(encoding, special.sep, 0);
  append_tokens(encoding, second_tokens, second_kept, 1);
  append_special(encoding, special.sep, 1);
  encoding.truncated = first_kept < first_tokens.size() || second_kept < second_tokens.size();
  return encoding;
}

std::unique_ptr<Tokenizer> load_tokenizer(const std::filesystem::path& dir) {
  if (!std::filesystem::is_directory(dir)) {
    throw std::runtime_error("tokenizer directory " + dir.string() + " does not exist");
  }
  if (std::filesystem::exists(dir / "spiece.model")) return SentencePieceTokenizer::from_directory(dir);
  if (std::filesystem::exists(dir / "vocab.txt") || std::filesystem::exists(dir / "tokenizer.json")) {
    return WordPieceTokenizer::from_directory(dir);
  }
  throw std::runtime_error("no tokenizer in " + dir.string() +
                           ": expected spiece.model, vocab.txt or tokenizer.json");
}

}  // namespace bert_embed
