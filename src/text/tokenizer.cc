#include "bert_embed/text/tokenizer.h"

#include <algorithm>
#include <map>
#include <optional>
#include <utility>
#include <stdexcept>
#include <string>

#include "bert_embed/text/bpe_tokenizer.h"
#include "bert_embed/text/sentencepiece_tokenizer.h"
#include "bert_embed/text/utf8.h"
#include "bert_embed/text/wordpiece_tokenizer.h"
#include "text/json_settings.h"

namespace bert_embed {
namespace {

void check_max_length(std::size_t max_length, std::size_t special_tokens) {
  if (max_length != 0 && max_length < special_tokens) {
    throw std::invalid_argument("max_length " + std::to_string(max_length) + " leaves no room for the " +
                                std::to_string(special_tokens) + " special tokens (0 means no limit)");
  }
}

}  // namespace

Tokenizer::Tokenizer(std::unique_ptr<const PieceTokenizer> pieces, SpecialTokenIds special_ids, Framing framing,
                     std::vector<AddedToken> added_tokens)
    : pieces_(std::move(pieces)),
      special_ids_(special_ids),
      framing_(framing),
      added_tokens_(std::move(added_tokens)),
      vocab_size_(pieces_->vocab_size()) {
  for (const AddedToken& token : added_tokens_) {
    if (token.content.empty() || token.id < 0) {
      throw std::invalid_argument("added token \"" + token.content + "\" needs a content and an id");
    }
    starts_added_token_[static_cast<unsigned char>(token.content[0])] = true;
    vocab_size_ = std::max(vocab_size_, static_cast<std::size_t>(token.id) + 1);
  }
  const SpecialTokenIds& ids = special_ids_;
  switch (framing) {
    case Framing::kBert:
      single_ = {{Element::kSpecial, ids.cls, 0}, {Element::kFirstText, -1, 0}, {Element::kSpecial, ids.sep, 0}};
      pair_ = {{Element::kSpecial, ids.cls, 0},
               {Element::kFirstText, -1, 0},
               {Element::kSpecial, ids.sep, 0},
               {Element::kSecondText, -1, 1},
               {Element::kSpecial, ids.sep, 1}};
      break;
    case Framing::kRoberta:
      single_ = {{Element::kSpecial, ids.cls, 0}, {Element::kFirstText, -1, 0}, {Element::kSpecial, ids.sep, 0}};
      pair_ = {{Element::kSpecial, ids.cls, 0},  {Element::kFirstText, -1, 0},  {Element::kSpecial, ids.sep, 0},
               {Element::kSpecial, ids.sep, 0},  {Element::kSecondText, -1, 0}, {Element::kSpecial, ids.sep, 0}};
      break;
    case Framing::kXlnet:
      single_ = {{Element::kFirstText, -1, 0}, {Element::kSpecial, ids.sep, 0}, {Element::kSpecial, ids.cls, 2}};
      pair_ = {{Element::kFirstText, -1, 0},
               {Element::kSpecial, ids.sep, 0},
               {Element::kSecondText, -1, 1},
               {Element::kSpecial, ids.sep, 1},
               {Element::kSpecial, ids.cls, 2}};
      break;
    case Framing::kNone:
      single_ = {{Element::kFirstText, -1, 0}};
      pair_ = {{Element::kFirstText, -1, 0}, {Element::kSecondText, -1, 0}};
      break;
  }
  for (const Template* elements : {&single_, &pair_}) {
    for (const Element& element : *elements) {
      if (element.kind == Element::kSpecial && element.special_id < 0) {
        throw std::invalid_argument(std::string("the ") + std::string(name_of(kFramingNames, framing)) +
                                    " framing needs cls and sep token ids");
      }
    }
  }
}

std::string Tokenizer::id_to_token(std::int64_t id) const {
  for (const AddedToken& token : added_tokens_) {
    if (token.id == id) return token.content;
  }
  return pieces_->id_to_token(id);
}

const AddedToken* Tokenizer::added_token_at(std::string_view text, std::size_t pos) const {
  const AddedToken* longest = nullptr;
  for (const AddedToken& token : added_tokens_) {
    if (text.compare(pos, token.content.size(), token.content) != 0) continue;
    if (!longest || token.content.size() > longest->content.size()) longest = &token;
  }
  return longest;
}

void Tokenizer::append_pieces(std::string_view text, std::size_t begin, std::size_t end, std::size_t max_tokens,
                              std::vector<Token>& out) const {
  if (begin >= end) return;
  const std::size_t first = out.size();
  const std::size_t wanted = max_tokens == kAllTokens ? kAllTokens : max_tokens - std::min(max_tokens, first);
  std::vector<Token> pieces = pieces_->tokenize(text.substr(begin, end - begin), wanted);
  for (Token& token : pieces) {
    token.span.begin += begin;
    token.span.end += begin;
    out.push_back(token);
  }
}

std::vector<Token> Tokenizer::tokenize(std::string_view text, std::size_t max_tokens) const {
  if (added_tokens_.empty()) return pieces_->tokenize(text, max_tokens);
  const std::size_t invalid = find_invalid_utf8(text);
  if (invalid != std::string_view::npos) throw InvalidUtf8Error(invalid);
  // PreTrainedTokenizer.tokenize: the text is cut at its no-split tokens
  // (Trie.split: the leftmost match, the longest there), a token that strips
  // a side eats the whitespace next to it, and what remains between them is
  // split by the piece tokenizer.
  std::vector<Token> tokens;
  std::size_t text_begin = 0;  // of the text after the last added token
  std::size_t pos = 0;
  while (pos < text.size() && tokens.size() <= max_tokens) {
    const AddedToken* token =
        starts_added_token_[static_cast<unsigned char>(text[pos])] ? added_token_at(text, pos) : nullptr;
    if (!token) {
      ++pos;
      continue;
    }
    const std::string_view before = text.substr(text_begin, pos - text_begin);
    const std::size_t text_end = text_begin + (token->lstrip ? rstrip_python_whitespace(before) : before).size();
    append_pieces(text, text_begin, text_end, max_tokens, tokens);
    tokens.push_back({token->id, Span{pos, pos + token->content.size()}});
    pos += token->content.size();
    if (token->rstrip) pos = text.size() - lstrip_python_whitespace(text.substr(pos)).size();
    text_begin = pos;
  }
  if (tokens.size() <= max_tokens) append_pieces(text, text_begin, text.size(), max_tokens, tokens);
  return tokens;
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
  encoding.sequence_ids.reserve(size);
  for (const Element& element : elements) {
    if (element.kind == Element::kSpecial) {
      encoding.ids.push_back(element.special_id);
      encoding.type_ids.push_back(element.type_id);
      encoding.spans.push_back({});
      encoding.special.push_back(true);
      encoding.sequence_ids.push_back(-1);
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
      encoding.sequence_ids.push_back(is_first ? 0 : 1);
    }
  }
  encoding.truncated = first_kept < first.size() || second_kept < second.size();
  return encoding;
}

Encoding Tokenizer::encode(std::string_view text, std::size_t max_length) const {
  const std::size_t specials = special_count(single_);
  check_max_length(max_length, specials);
  const std::size_t budget = max_length == 0 ? kAllTokens : max_length - specials;
  const std::vector<Token> tokens = tokenize(text, budget);
  return frame(single_, tokens, std::min(tokens.size(), budget), {}, 0);
}

Encoding Tokenizer::encode_pair(std::string_view first, std::string_view second, std::size_t max_length) const {
  const std::size_t specials = special_count(pair_);
  check_max_length(max_length, specials);
  const std::size_t budget = max_length == 0 ? kAllTokens : max_length - specials;
  // Longest-first truncation comes out the same whether a text has budget + 1
  // tokens or more, so neither text needs tokenizing further than that.
  const std::vector<Token> first_tokens = tokenize(first, budget);
  const std::vector<Token> second_tokens = tokenize(second, budget);
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

namespace {

// tokenizer_config.json's tokenizer_class, else config.json's model_type,
// else "".
std::string tokenizer_class(const std::filesystem::path& dir) {
  const std::filesystem::path config_file = dir / "tokenizer_config.json";
  if (std::filesystem::exists(config_file)) {
    if (auto name = JsonSettings::read(config_file).optional_string("tokenizer_class")) return *name;
  }
  const std::filesystem::path model_config_file = dir / "config.json";
  if (std::filesystem::exists(model_config_file)) {
    return JsonSettings::read(model_config_file).optional_string("model_type").value_or("");
  }
  return "";
}

Framing framing_of(const std::string& tokenizer_class) {
  for (const char* prefix : {"RobertaTokenizer", "XLMRobertaTokenizer", "MPNetTokenizer", "roberta", "xlm-roberta",
                             "mpnet"}) {
    if (tokenizer_class == prefix) return Framing::kRoberta;
  }
  if (tokenizer_class == "XLNetTokenizer" || tokenizer_class == "xlnet") return Framing::kXlnet;
  if (tokenizer_class == "GPT2Tokenizer" || tokenizer_class == "gpt2") return Framing::kNone;
  return Framing::kBert;
}

std::unique_ptr<const PieceTokenizer> load_pieces(const std::filesystem::path& dir) {
  if (std::filesystem::exists(dir / "spiece.model") || std::filesystem::exists(dir / "sentencepiece.bpe.model")) {
    return SentencePieceTokenizer::from_directory(dir);
  }
  if (std::filesystem::exists(dir / "vocab.json") && std::filesystem::exists(dir / "merges.txt")) {
    return BytePairTokenizer::from_directory(dir);
  }
  if (std::filesystem::exists(dir / "vocab.txt") || std::filesystem::exists(dir / "tokenizer.json")) {
    return WordPieceTokenizer::from_directory(dir);
  }
  throw std::runtime_error("no tokenizer in " + dir.string() +
                           ": expected spiece.model, sentencepiece.bpe.model, vocab.json and merges.txt, "
                           "vocab.txt or tokenizer.json");
}

// A special token as special_tokens_map.json (or tokenizer_config.json)
// gives it: a plain string strips both sides in tokenize(), an AddedToken
// object what it says.
std::optional<AddedToken> special_token(const JsonSettings& settings, const std::string& field) {
  const std::optional<std::string> content = settings.optional_token(field);
  if (!content) return std::nullopt;
  const nlohmann::json& value = settings.json().at(field);
  if (!value.is_object()) return AddedToken{*content, -1, true, true};
  const JsonSettings object = settings.object(field);
  return AddedToken{*content, -1, object.optional_bool("lstrip").value_or(false),
                    object.optional_bool("rstrip").value_or(false)};
}

}  // namespace

std::unique_ptr<Tokenizer> load_tokenizer(const std::filesystem::path& dir) {
  if (!std::filesystem::is_directory(dir)) {
    throw std::runtime_error("tokenizer directory " + dir.string() + " does not exist");
  }
  std::unique_ptr<const PieceTokenizer> pieces = load_pieces(dir);
  const Framing framing = framing_of(tokenizer_class(dir));
  SpecialTokenIds special_ids = pieces->special_ids();

  const std::filesystem::path map_file = dir / "special_tokens_map.json";
  const std::filesystem::path added_file = dir / "added_tokens.json";
  std::vector<AddedToken> added_tokens;
  if (std::filesystem::exists(map_file) || std::filesystem::exists(added_file)) {
    std::map<std::string, std::int64_t> added_ids;
    if (std::filesystem::exists(added_file)) {
      const JsonSettings added = JsonSettings::read(added_file);
      for (const auto& [content, id] : added.json().items()) {
        if (!id.is_number_unsigned()) added.fail(content, "expected a token id");
        added_ids[content] = id.get<std::int64_t>();
      }
    }
    const auto id_of = [&](const std::string& content) {
      const auto found = added_ids.find(content);
      const std::int64_t id = found != added_ids.end() ? found->second : pieces->token_to_id(content);
      if (id < 0) {
        throw std::runtime_error(dir.string() + ": special token \"" + content +
                                 "\" is neither in the vocabulary nor in added_tokens.json");
      }
      return id;
    };
    // from_pretrained sets the special tokens of special_tokens_map.json over
    // those of tokenizer_config.json.
    const std::filesystem::path config_file = dir / "tokenizer_config.json";
    const JsonSettings settings = JsonSettings::read(std::filesystem::exists(map_file) ? map_file : config_file);
    const auto add = [&](AddedToken token) {
      for (const AddedToken& known : added_tokens) {
        if (known.content == token.content) return;
      }
      token.id = id_of(token.content);
      added_tokens.push_back(std::move(token));
    };
    const std::pair<const char*, std::int64_t*> roles[] = {
        {"cls_token", &special_ids.cls}, {"sep_token", &special_ids.sep}, {"pad_token", &special_ids.pad},
        {"unk_token", &special_ids.unk}, {"mask_token", &special_ids.mask}};
    for (const auto& [field, id] : roles) {
      if (std::optional<AddedToken> token = special_token(settings, field)) {
        *id = id_of(token->content);
        add(*std::move(token));
      }
    }
    for (const char* field : {"bos_token", "eos_token"}) {
      if (std::optional<AddedToken> token = special_token(settings, field)) add(*std::move(token));
    }
    if (settings.json().contains("additional_special_tokens")) {
      for (const nlohmann::json& extra : settings.json().at("additional_special_tokens")) {
        const bool object = extra.is_object();
        add(AddedToken{object ? extra.value("content", "") : extra.get<std::string>(), -1,
                       object ? extra.value("lstrip", false) : true, object ? extra.value("rstrip", false) : true});
      }
    }
    // Tokens added to the vocabulary that are not special strip both sides.
    for (const auto& [content, id] : added_ids) add(AddedToken{content, id, true, true});
  }
  // GPT-2 has no padding token: batches are padded with its unknown token
  // (<|endoftext|>), which attention masks out.
  if (special_ids.pad < 0) special_ids.pad = special_ids.unk;
  return std::make_unique<Tokenizer>(std::move(pieces), special_ids, framing, std::move(added_tokens));
}

}  // namespace bert_embed
