#include "bert_embed/text/tokenizer_description.h"

#include <algorithm>
#include <stdexcept>
#include <type_traits>
#include <utility>
#include <variant>

#include "bert_embed/text/bpe_tokenizer.h"
#include "bert_embed/text/sentencepiece_tokenizer.h"
#include "bert_embed/text/wordpiece_tokenizer.h"

namespace bert_embed {
namespace {

std::unique_ptr<PieceTokenizer> make_pieces(const TokenizerDescription& description) {
  const auto make = [&](const auto& settings) -> std::unique_ptr<PieceTokenizer> {
    using Settings = std::decay_t<decltype(settings)>;
    if constexpr (std::is_same_v<Settings, WordPieceSettings>) {
      return WordPieceTokenizer::from_description(description.vocabulary_file, settings, description.special_ids, description.origin);
    } else if constexpr (std::is_same_v<Settings, BytePairSettings>) {
      return BytePairTokenizer::from_description(description.vocabulary_file, settings.merges_file,
                                                 description.special_ids, description.origin);
    } else {
      return SentencePieceTokenizer::from_description(description.vocabulary_file, settings,
                                                      description.special_ids, description.origin);
    }
  };
  return std::visit(make, description.pieces);
}

bool is_added_token(const TokenizerDescription& description, std::int64_t id) {
  return std::any_of(description.added_tokens.begin(), description.added_tokens.end(),
                     [&](const AddedToken& token) { return token.id == id; });
}

// The tokens were taken from the vocabulary at the described ids; looking
// them up again must give those ids back. Ids past the vocabulary must be
// added tokens'.
void check_special_ids_agree(const PieceTokenizer& pieces, const TokenizerDescription& description) {
  const SpecialTokenIds& found = pieces.special_ids();
  const SpecialTokenIds& described = description.special_ids;
  const auto check = [&](std::int64_t found_id, std::int64_t described_id, const char* role) {
    if (described_id < 0 || found_id == described_id) return;
    if (static_cast<std::uint64_t>(described_id) >= pieces.vocab_size()) {
      if (is_added_token(description, described_id)) return;
      throw std::runtime_error(description.vocabulary_file.string() + ": has " +
                               std::to_string(pieces.vocab_size()) + " tokens, so no " + role + " token id " +
                               std::to_string(described_id) + " as " + description.origin + " gives");
    }
    throw std::runtime_error(description.vocabulary_file.string() + ": the " + role + " token \"" +
                             pieces.id_to_token(described_id) + "\" has id " + std::to_string(found_id) +
                             " there, but " + description.origin + " gives id " + std::to_string(described_id));
  };
  check(found.cls, described.cls, "cls");
  check(found.sep, described.sep, "sep");
  check(found.pad, described.pad, "pad");
  check(found.unk, described.unk, "unk");
  check(found.mask, described.mask, "mask");
}

}  // namespace

std::unique_ptr<Tokenizer> make_tokenizer(const TokenizerDescription& description) {
  std::unique_ptr<PieceTokenizer> pieces = make_pieces(description);
  check_special_ids_agree(*pieces, description);
  return std::make_unique<Tokenizer>(std::move(pieces), description.special_ids, description.framing,
                                     description.added_tokens);
}

}  // namespace bert_embed
