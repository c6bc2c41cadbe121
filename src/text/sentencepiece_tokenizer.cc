#include "bert_embed/text/sentencepiece_tokenizer.h"

#include <algorithm>
#include <stdexcept>
#include <utility>

#include "bert_embed/text/utf8.h"
#include "text/json_settings.h"
#include "text/normalized_text.h"
#include "text/sentencepiece_model.h"
#include "text/tokenizer_files.h"
#include "text/unicode.h"

namespace bert_embed {
namespace {

// U+2581, which SentencePiece writes for a space.
constexpr std::string_view kSpaceMark = "\xE2\x96\x81";

bool has_combining_class(char32_t cp) { return unicode::combining_class(cp) != 0; }

// Start of the last character of text[0, end).
std::size_t last_char_start(std::string_view text, std::size_t end) {
  std::size_t pos = end - 1;
  while (pos > 0 && (static_cast<unsigned char>(text[pos]) & 0xC0) == 0x80) --pos;
  return pos;
}

std::size_t skip_whitespace(std::string_view text, std::size_t begin, std::size_t end) {
  while (begin < end) {
    std::size_t next = begin;
    if (!unicode::is_python_whitespace(decode_utf8(text, next))) break;
    begin = next;
  }
  return begin;
}

// AlbertTokenizer._tokenize re-splits a piece of two or more characters that
// ends in a digit and a comma, such as "▁2010,".
bool ends_in_digit_and_comma(std::string_view piece) {
  if (piece.size() < 2 || piece.back() != ',') return false;
  const std::size_t digit_start = last_char_start(piece, piece.size() - 1);
  std::size_t pos = digit_start;
  return unicode::is_python_digit(decode_utf8(piece, pos));
}

std::string remove_space_marks(std::string_view piece) {
  std::string out;
  std::size_t pos = 0;
  while (pos < piece.size()) {
    const std::size_t mark = piece.find(kSpaceMark, pos);
    out.append(piece.substr(pos, mark == std::string_view::npos ? std::string_view::npos : mark - pos));
    if (mark == std::string_view::npos) break;
    pos = mark + kSpaceMark.size();
  }
  return out;
}

bool starts_with_space_mark(std::string_view piece) { return piece.substr(0, kSpaceMark.size()) == kSpaceMark; }

}  // namespace

SentencePieceTokenizer::SentencePieceTokenizer(const std::filesystem::path& model_file,
                                               SentencePieceOptions options)
    : SentencePieceTokenizer(std::make_unique<SentencePieceModel>(model_file), model_file, std::move(options)) {}

SentencePieceTokenizer::SentencePieceTokenizer(std::unique_ptr<SentencePieceModel> model,
                                               const std::filesystem::path& model_file, SentencePieceOptions options)
    : model_(std::move(model)), options_(std::move(options)) {
  if (options_.id_offset != 0 && options_.id_offset != 1) {
    throw std::invalid_argument(model_file.string() + ": id offset " + std::to_string(options_.id_offset) +
                                " is neither 0 nor 1");
  }
  // What the model gives for unknown text, whatever unk_token says.
  special_ids_.unk = piece_id(model_->unk_id());
  special_ids_.cls = token_to_id(options_.cls_token);
  special_ids_.sep = token_to_id(options_.sep_token);
  special_ids_.pad = token_to_id(options_.pad_token);
  special_ids_.mask = token_to_id(options_.mask_token);
  // AlbertTokenizer's all_special_tokens (bos = [CLS], eos = [SEP]), in its order.
  for (const std::string* token : {&options_.cls_token, &options_.sep_token, &options_.unk_token,
                                   &options_.pad_token, &options_.mask_token}) {
    if (std::find(special_tokens_.begin(), special_tokens_.end(), *token) == special_tokens_.end()) {
      special_tokens_.push_back(*token);
    }
  }
}

SentencePieceTokenizer::~SentencePieceTokenizer() = default;

std::unique_ptr<SentencePieceTokenizer> SentencePieceTokenizer::from_directory(const std::filesystem::path& dir) {
  SentencePieceOptions options;
  if (!std::filesystem::exists(dir / "spiece.model") && std::filesystem::exists(dir / "sentencepiece.bpe.model")) {
    options.lowercase = false;
    options.remove_space = false;
    options.keep_accents = true;
    options.id_offset = 1;
    options.unk_token = "<unk>";
    options.sep_token = "</s>";
    options.cls_token = "<s>";
    options.mask_token = "<mask>";
    return std::make_unique<SentencePieceTokenizer>(dir / "sentencepiece.bpe.model", std::move(options));
  }
  const std::filesystem::path config_file = dir / "tokenizer_config.json";
  if (std::filesystem::exists(config_file)) {
    const JsonSettings config = JsonSettings::read(config_file);
    options.lowercase = config.optional_bool("do_lower_case").value_or(options.lowercase);
    options.remove_space = config.optional_bool("remove_space").value_or(options.remove_space);
    options.keep_accents = config.optional_bool("keep_accents").value_or(options.keep_accents);
    options.unk_token = config.optional_token("unk_token").value_or(options.unk_token);
    options.sep_token = config.optional_token("sep_token").value_or(options.sep_token);
    options.pad_token = config.optional_token("pad_token").value_or(options.pad_token);
    options.cls_token = config.optional_token("cls_token").value_or(options.cls_token);
    options.mask_token = config.optional_token("mask_token").value_or(options.mask_token);
  }
  return std::make_unique<SentencePieceTokenizer>(dir / "spiece.model", std::move(options));
}

std::unique_ptr<SentencePieceTokenizer> SentencePieceTokenizer::from_description(
    const std::filesystem::path& model_file, const SentencePieceSettings& settings,
    const SpecialTokenIds& special_ids, const std::string& origin) {
  auto model = std::make_unique<SentencePieceModel>(model_file);
  SentencePieceOptions options;
  options.lowercase = settings.lowercase;
  options.remove_space = settings.remove_space;
  options.keep_accents = settings.keep_accents;
  options.id_offset = settings.id_offset;
  // The special tokens' names come from the ids, through the ids' mapping.
  auto tokenizer = std::unique_ptr<SentencePieceTokenizer>(
      new SentencePieceTokenizer(std::move(model), model_file, options));
  set_special_tokens(options, special_ids, tokenizer->vocab_size(),
                     [&](std::int64_t id) { return tokenizer->id_to_token(id); }, model_file, origin);
  return std::unique_ptr<SentencePieceTokenizer>(
      new SentencePieceTokenizer(std::move(tokenizer->model_), model_file, std::move(options)));
}

namespace {

// XLMRobertaTokenizer's fairseq_tokens_to_ids, <mask> aside (after the pieces).
constexpr std::string_view kFairseqTokens[] = {"<s>", "<pad>", "</s>", "<unk>"};
constexpr std::int64_t kFairseqUnknownId = 3;

}  // namespace

std::string SentencePieceTokenizer::id_to_token(std::int64_t id) const {
  if (id < 0 || static_cast<std::size_t>(id) >= vocab_size()) {
    throw std::out_of_range("token id " + std::to_string(id) + " is outside the vocabulary of " +
                            std::to_string(vocab_size()));
  }
  if (options_.id_offset == 0) return model_->id_to_piece(static_cast<int>(id));
  if (id <= kFairseqUnknownId) return std::string(kFairseqTokens[id]);
  if (id == model_->piece_count() + options_.id_offset) return "<mask>";
  return model_->id_to_piece(static_cast<int>(id - options_.id_offset));
}

std::int64_t SentencePieceTokenizer::token_to_id(const std::string& token) const {
  if (options_.id_offset != 0) {
    for (std::int64_t id = 0; id <= kFairseqUnknownId; ++id) {
      if (token == kFairseqTokens[id]) return id;
    }
    if (token == "<mask>") return model_->piece_count() + options_.id_offset;
  }
  const int id = model_->piece_to_id(token);
  return model_->id_to_piece(id) == token ? piece_id(id) : -1;
}

std::int64_t SentencePieceTokenizer::piece_id(int model_id) const {
  if (options_.id_offset == 0) return model_id;
  // XLMRobertaTokenizer._convert_token_to_id: "spm_id + offset if spm_id
  // else unk_token_id".
  return model_id == 0 ? kFairseqUnknownId : model_id + options_.id_offset;
}

std::size_t SentencePieceTokenizer::vocab_size() const {
  // With the fairseq offset: the four fairseq tokens take the places of the
  // model's first piece (its unknown) and the offset, and <mask> follows.
  return static_cast<std::size_t>(model_->piece_count() + 2 * options_.id_offset);
}

std::vector<Token> SentencePieceTokenizer::tokenize(std::string_view text, std::size_t /*max_tokens*/) const {
  const std::size_t invalid = find_invalid_utf8(text);
  if (invalid != std::string_view::npos) throw InvalidUtf8Error(invalid);

  // PreTrainedTokenizer.tokenize lowercases all but special tokens. Special
  // tokens in the text are not kept whole: an AlbertTokenizer constructed
  // from its model file (as the reference is) has no no-split tokens, and
  // preprocess() lowercases them anyway.
  const NormalizedText source = options_.lowercase ? lowercase_except(text, special_tokens_).text
                                                   : NormalizedText::copy_of(text);
  const NormalizedText input = preprocess(source);

  const std::vector<SentencePieceModel::Piece> pieces = model_->encode(input.text());
  std::vector<Token> tokens;
  tokens.reserve(pieces.size());
  for (const SentencePieceModel::Piece& piece : pieces) {
    // A piece's surface includes the space before it; its span starts after.
    const std::size_t begin = skip_whitespace(input.text(), piece.begin, piece.end);
    const std::size_t end = piece.end;
    if (options_.id_offset != 0 || !ends_in_digit_and_comma(piece.text) || begin == end) {
      tokens.push_back({piece_id(piece.id), input.original_span(begin, end)});
      continue;
    }
    const std::size_t comma_start = last_char_start(input.text(), end);
    append_digit_comma_pieces(piece.text, input.original_span(begin, comma_start),
                              input.original_span(comma_start, end), tokens);
  }
  return tokens;
}

NormalizedText SentencePieceTokenizer::preprocess(const NormalizedText& text) const {
  const std::string_view chars = text.text();

  // remove_space: ' '.join(text.strip().split()), each joining space coming
  // from the whitespace it replaces; then `` and '' become ".
  NormalizedText joined;
  std::size_t pos = 0;
  std::size_t space_begin = std::string_view::npos;  // start of pending whitespace
  while (pos < chars.size()) {
    const std::size_t begin = pos;
    const char32_t cp = decode_utf8(chars, pos);
    if (options_.remove_space && unicode::is_python_whitespace(cp)) {
      if (space_begin == std::string_view::npos) space_begin = begin;
      continue;
    }
    if (space_begin != std::string_view::npos) {
      if (!joined.empty()) joined.append(' ', text.original_span(space_begin, begin));
      space_begin = std::string_view::npos;
    }
    const bool quote_pair = options_.id_offset == 0 && (cp == '`' || cp == '\'') && pos < chars.size() &&
                            chars[pos] == static_cast<char>(cp);
    if (quote_pair) {
      joined.append('"', text.original_span(begin, pos + 1));
      ++pos;
    } else {
      joined.append(cp, text.origin(begin));
    }
  }

  NormalizedText decomposed;
  if (options_.keep_accents) {
    decomposed = std::move(joined);
  } else {
    DecompositionBuffer buffer;
    decompose(joined, 0, joined.size(), unicode::Decomposition::kCompatibility, has_combining_class, buffer,
              decomposed);
  }
  if (!options_.lowercase) return decomposed;

  // str.lower() of the whole text; the final-sigma rule is not applied, as
  // only NFKD can bring a capital sigma here (from U+1D6BA and the like).
  NormalizedText lowered;
  append_lowercase(decomposed, lowered);
  return lowered;
}

void SentencePieceTokenizer::append_digit_comma_pieces(std::string_view piece, Span span, Span comma_span,
                                                       std::vector<Token>& out) const {
  // piece[:-1] without space marks, encoded again; its leading space mark is
  // dropped unless the piece had one.
  std::vector<std::string> digits;
  for (SentencePieceModel::Piece& digit : model_->encode(remove_space_marks(piece.substr(0, piece.size() - 1)))) {
    digits.push_back(std::move(digit.text));
  }
  if (!digits.empty() && !starts_with_space_mark(piece) && starts_with_space_mark(digits.front())) {
    if (digits.front() == kSpaceMark) {
      digits.erase(digits.begin());
    } else {
      digits.front().erase(0, kSpaceMark.size());
    }
  }
  for (const std::string& digit_piece : digits) out.push_back({model_->piece_to_id(digit_piece), span});
  out.push_back({model_->piece_to_id(","), comma_span});
}

}  // namespace bert_embed
