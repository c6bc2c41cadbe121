#include "bert_embed/text/tokenizer.h"

#include <algorithm>
#include <stdexcept>
#include <string>

#include "bert_embed/text/sentencepiece_tokenizer.h"
#include "bert_embed/text/wordpiece_tokenizer.h"

namespace bert_embed {
namespace {

void check_max_length(std::size_t max_length, std::size_t special_tokens) {
  if (max_length != 0 && max_length < special_tokens) {
    throw std::invalid_argument("max_length " + std::to_string(max_length) + " leaves no room for the " +
                                std::to_string(special_tokens) + " special tokens (0 means no limit)");
  }
}

}  // namespace

Tokenizer::Tokenizer(std::unique_ptr<const PieceTokenizer> pieces, SpecialTokenIds special_ids, Framing framing)
    : pieces_(std::move(pieces)), special_ids_(special_ids) {
  switch (framing) {
    case Framing::kBert:
      single_ = {{Element::kSpecial, special_ids_.cls, 0},
                 {Element::kFirstText, -1, 0},
                 {Element::kSpecial, special_ids_.sep, 0}};
      pair_ = {{Element::kSpecial, special_ids_.cls, 0},
               {Element::kFirstText, -1, 0},
               {Element::kSpecial, special_ids_.sep, 0},
               {Element::kSecondText, -1, 1},
               {Element::kSpecial, special_ids_.sep, 1}};
      break;
  }
}

std::size_t Tokenizer::special_count(const Template& elements) {
  return static_cast<std::size_t>(std::count_if(elements.begin(), elements.end(), [](const Element& element) {
    return element.kind == Element::kSpecial;
  }));
}

Encoding Tokenizer::frame(const Template& elements, const std::vector<Token>& first, std::size_t first_kept,
                          const std::vector<Token>& second, std::size_t second_kept) {
  Encoding encoding;
  const std::size_t size = special_count(elements) + first_kept + second_kept;
  encoding.ids.reserve(size);
  encoding.type_ids.reserve(size);
  encoding.spans.reserve(size);
  encoding.special.reserve(size);
  for (const Element& element : elements) {
    if (element.kind == Element::kSpecial) {
      encoding.ids.push_back(element.special_id);
      encoding.type_ids.push_back(element.type_id);
      encoding.spans.push_back({});
      encoding.special.push_back(true);
      continue;
    }
    const bool is_first = element.kind == Element::kFirstText;
    const std::vector<Token>& tokens = is_first ? first : second;
    const std::size_t count = is_first ? first_kept : second_kept;
    for (std::size_t i = 0; i < count; ++i) {
      encoding.ids.push_back(tokens[i].id);
      encoding.type_ids.push_back(element.type_id);
      encoding.spans.push_back(tokens[i].span);
      encoding.special.push_back(false);
    }
  }
  encoding.truncated = first_kept < first.size() || second_kept < second.size();
  return encoding;
}

Encoding Tokenizer::encode(std::string_view text, std::size_t max_length) const {
  const std::size_t specials = special_count(single_);
  check_max_length(max_length, specials);
  const std::size_t budget = max_length == 0 ? kAllTokens : max_length - specials;
  const std::vector<Token> tokens = pieces_->tokenize(text, budget);
  return frame(single_, tokens, std::min(tokens.size(), budget), {}, 0);
}

Encoding Tokenizer::encode_pair(std::string_view first, std::string_view second, std::size_t max_length) const {
  const std::size_t specials = special_count(pair_);
  check_max_length(max_length, specials);
  const std::size_t budget = max_length == 0 ? kAllTokens : max_length - specials;
  // Longest-first truncation comes out the same whether a text has budget + 1
  // tokens or more, so neither text needs tokenizing further than that.
  const std::vector<Token> first_tokens = pieces_->tokenize(first, budget);
  const std::vector<Token> second_tokens = pieces_->tokenize(second, budget);
  std::size_t first_kept = first_tokens.size();
  std::size_t second_kept = second_tokens.size();
  if (max_length != 0 && first_kept + second_kept > budget) {
    first_kept = std::min(first_kept, budget + 1);
    second_kept = std::min(second_kept, budget + 1);
    // truncate_sequences(strategy="longest_first") removes one token at a
    // time from the end of the longer text, the second one on a tie.
    for (std::size_t to_remove = first_kept + second_kept - budget; to_remove > 0; --to_remove) {
      if (first_kept > second_kept) {
        --first_kept;
      } else {
        --second_kept;
      }
    }
  }
  return frame(pair_, first_tokens, first_kept, second_tokens, second_kept);
}

std::unique_ptr<Tokenizer> load_tokenizer(const std::filesystem::path& dir) {
  if (!std::filesystem::is_directory(dir)) {
    throw std::runtime_error("tokenizer directory " + dir.string() + " does not exist");
  }
  std::unique_ptr<const PieceTokenizer> pieces;
  if (std::filesystem::exists(dir / "spiece.model")) {
    pieces = SentencePieceTokenizer::from_directory(dir);
  } else if (std::filesystem::exists(dir / "vocab.txt") || std::filesystem::exists(dir / "tokenizer.json")) {
    pieces = WordPieceTokenizer::from_directory(dir);
  } else {
    throw std::runtime_error("no tokenizer in " + dir.string() +
                             ": expected spiece.model, vocab.txt or tokenizer.json");
  }
  const SpecialTokenIds special_ids = pieces->special_ids();
  return std::make_unique<Tokenizer>(std::move(pieces), special_ids);
}

}  // namespace bert_embed
