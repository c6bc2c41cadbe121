#include "bert_embed/text/wordpiece_tokenizer.h"

#include <algorithm>
#include <array>
#include <stdexcept>
#include <utility>

#include "bert_embed/text/utf8.h"
#include "text/json_settings.h"
#include "text/normalized_text.h"
#include "text/tokenizer_files.h"
#include "text/unicode.h"
#include "text/wordpiece_vocabulary.h"

namespace bert_embed {
namespace {

// What BasicTokenizer does with each ASCII character, derived once from the
// general definitions in unicode.h.
enum class AsciiRole : unsigned char { kDropped, kSpace, kPunctuation, kWord };

std::array<AsciiRole, 128> make_ascii_roles() {
  std::array<AsciiRole, 128> roles{};
  for (char32_t c = 0; c < 128; ++c) {
    if (c == 0 || unicode::is_control(c)) {
      roles[c] = AsciiRole::kDropped;
    } else if (unicode::is_whitespace(c) || unicode::is_python_whitespace(c)) {
      roles[c] = AsciiRole::kSpace;
    } else if (unicode::is_punctuation(c)) {
      roles[c] = AsciiRole::kPunctuation;
    } else {
      roles[c] = AsciiRole::kWord;
    }
  }
  return roles;
}

const std::array<AsciiRole, 128> kAsciiRoles = make_ascii_roles();

// Bytes of text tokenize() normalizes at a time: its buffers (the lowercased
// copy with the origin of each byte, the tokens) grow with the chunk, so a
// long text costs a few MiB rather than some 30 bytes per byte of text (a
// 20 MB line of multilingual text took 634 MB whole, 66 MB in chunks,
// counting the line itself and the vocabulary).
constexpr std::size_t kChunkBytes = std::size_t{64} << 10;

// Lines as Python's readlines() gives them in text mode, whose universal
// newlines end a line at "\n", "\r\n" or "\r".
std::vector<std::string> read_vocabulary_lines(const std::filesystem::path& file) {
  const std::string text = read_tokenizer_file(file);

  std::vector<std::string> lines;
  std::size_t start = 0;
  while (start < text.size()) {
    const std::size_t end = text.find_first_of("\r\n", start);
    if (end == std::string::npos) {
      lines.push_back(text.substr(start));
      break;
    }
    lines.push_back(text.substr(start, end - start));
    start = end + (text.compare(end, 2, "\r\n") == 0 ? 2 : 1);
  }
  for (std::size_t i = 0; i < lines.size(); ++i) {
    if (find_invalid_utf8(lines[i]) != std::string_view::npos) {
      throw std::runtime_error(file.string() + ": line " + std::to_string(i + 1) + " is not valid UTF-8");
    }
  }
  if (lines.empty()) throw std::runtime_error(file.string() + ": empty vocabulary");
  return lines;
}

// BertTokenizer arguments saved in tokenizer_config.json.
void apply_tokenizer_config(const JsonSettings& config, WordPieceOptions& options) {
  options.lowercase = config.optional_bool("do_lower_case").value_or(options.lowercase);
  if (const auto strip = config.optional_bool("strip_accents")) options.strip_accents = strip;
  options.tokenize_chinese_chars =
      config.optional_bool("tokenize_chinese_chars").value_or(options.tokenize_chinese_chars);
  options.unk_token = config.optional_token("unk_token").value_or(options.unk_token);
  options.sep_token = config.optional_token("sep_token").value_or(options.sep_token);
  options.pad_token = config.optional_token("pad_token").value_or(options.pad_token);
  options.cls_token = config.optional_token("cls_token").value_or(options.cls_token);
  options.mask_token = config.optional_token("mask_token").value_or(options.mask_token);
}

// The vocabulary of a tokenizer.json with a WordPiece model, whose settings
// and BertNormalizer options go into options.
std::vector<std::string> read_tokenizer_json(const std::filesystem::path& file, WordPieceOptions& options) {
  const JsonSettings settings = JsonSettings::read(file);
  const JsonSettings model = settings.object("model");
  // Older files leave the type out (the tokenizers library tells models
  // apart by their fields).
  const std::optional<std::string> type = model.optional_string("type");
  if (type && *type != "WordPiece") model.fail("type", "expected \"WordPiece\", found \"" + *type + "\"");
  options.unk_token = model.optional_string("unk_token").value_or(options.unk_token);
  options.continuing_subword_prefix =
      model.optional_string("continuing_subword_prefix").value_or(options.continuing_subword_prefix);
  options.max_input_chars_per_word =
      model.optional_size("max_input_chars_per_word").value_or(options.max_input_chars_per_word);

  if (const std::optional<JsonSettings> normalizer = settings.optional_object("normalizer")) {
    if (normalizer->optional_string("type") != "BertNormalizer") {
      normalizer->fail("type", "only BertNormalizer is supported");
    }
    if (normalizer->optional_bool("clean_text") == false) {
      normalizer->fail("clean_text", "false is not supported (BertTokenizer always cleans text)");
    }
    options.lowercase = normalizer->optional_bool("lowercase").value_or(true);
    options.strip_accents = normalizer->optional_bool("strip_accents");
    options.tokenize_chinese_chars = normalizer->optional_bool("handle_chinese_chars").value_or(true);
  }

  const JsonSettings vocab = model.object("vocab");
  if (vocab.json().empty()) model.fail("vocab", "empty vocabulary");
  std::vector<std::string> vocabulary(vocab.json().size());
  std::vector<bool> seen(vocabulary.size(), false);
  for (const auto& [token, id] : vocab.json().items()) {
    if (!id.is_number_unsigned() || id.get<std::size_t>() >= vocabulary.size() || seen[id.get<std::size_t>()]) {
      vocab.fail(token, "ids must run from 0 to " + std::to_string(vocabulary.size() - 1) + ", each used once");
    }
    vocabulary[id.get<std::size_t>()] = token;
    seen[id.get<std::size_t>()] = true;
  }
  return vocabulary;
}

}  // namespace

// Buffers reused across the words of one tokenize() call.
struct WordPieceTokenizer::Workspace {
  NormalizedText word;  // a whitespace-delimited token after clean-up
  bool word_is_ascii = true;
  // Special tokens kept as they are by the first lowercasing may sit inside
  // longer words, which BasicTokenizer lowercases again.
  bool lowercase_words = false;
  NormalizedText lowercased;
  NormalizedText stripped;  // after accent stripping
  DecompositionBuffer decomposition;
};

WordPieceTokenizer::WordPieceTokenizer(std::vector<std::string> vocabulary, WordPieceOptions options)
    : vocabulary_(std::move(vocabulary)),
      options_(std::move(options)),
      strip_accents_(options_.strip_accents.value_or(options_.lowercase)),
      index_(std::make_unique<WordPieceVocabulary>(vocabulary_, options_.continuing_subword_prefix)) {
  const auto require = [&](const std::string& token, const char* role) {
    const std::int64_t id = index_->find(token);
    if (id < 0) throw std::invalid_argument(std::string(role) + " token \"" + token + "\" is not in the vocabulary");
    return id;
  };
  special_ids_.unk = require(options_.unk_token, "unknown");
  special_ids_.cls = require(options_.cls_token, "[CLS]");
  special_ids_.sep = require(options_.sep_token, "[SEP]");
  special_ids_.pad = index_->find(options_.pad_token);
  special_ids_.mask = index_->find(options_.mask_token);
  // BertTokenizer's all_special_tokens, in its order.
  for (const std::string* token : {&options_.unk_token, &options_.sep_token, &options_.pad_token,
                                   &options_.cls_token, &options_.mask_token}) {
    if (std::find(special_tokens_.begin(), special_tokens_.end(), *token) == special_tokens_.end()) {
      special_tokens_.push_back(*token);
    }
  }
  const auto holds_no_cut = [&](const std::string& token) {
    return find_invalid_utf8(token) == std::string_view::npos && chunk_end(token, 0) == token.size();
  };
  cuts_keep_special_tokens_ = std::all_of(special_tokens_.begin(), special_tokens_.end(), holds_no_cut);
}

WordPieceTokenizer::~WordPieceTokenizer() = default;

std::unique_ptr<WordPieceTokenizer> WordPieceTokenizer::make(std::vector<std::string> vocabulary,
                                                             WordPieceOptions options,
                                                             const std::filesystem::path& file) {
  try {
    return std::make_unique<WordPieceTokenizer>(std::move(vocabulary), std::move(options));
  } catch (const std::invalid_argument& error) {
    throw std::runtime_error(file.string() + ": " + error.what());
  }
}

std::unique_ptr<WordPieceTokenizer> WordPieceTokenizer::from_vocab_file(const std::filesystem::path& vocab_file,
                                                                        WordPieceOptions options) {
  return make(read_vocabulary_lines(vocab_file), std::move(options), vocab_file);
}

std::unique_ptr<WordPieceTokenizer> WordPieceTokenizer::from_directory(const std::filesystem::path& dir) {
  WordPieceOptions options;
  const bool has_vocab_txt = std::filesystem::exists(dir / "vocab.txt");
  const std::filesystem::path vocabulary_file = dir / (has_vocab_txt ? "vocab.txt" : "tokenizer.json");
  std::vector<std::string> vocabulary =
      has_vocab_txt ? read_vocabulary_lines(vocabulary_file) : read_tokenizer_json(vocabulary_file, options);
  // tokenizer_config.json has the last word, as with HuggingFace's fast
  // tokenizers, which adjust the normalizer of tokenizer.json to it.
  const std::filesystem::path config_file = dir / "tokenizer_config.json";
  if (std::filesystem::exists(config_file)) apply_tokenizer_config(JsonSettings::read(config_file), options);
  return make(std::move(vocabulary), std::move(options), vocabulary_file);
}

std::unique_ptr<WordPieceTokenizer> WordPieceTokenizer::from_description(
    const std::filesystem::path& vocabulary_file, const WordPieceSettings& settings,
    const SpecialTokenIds& special_ids, const std::string& origin) {
  WordPieceOptions options;
  std::vector<std::string> vocabulary = vocabulary_file.filename() == "tokenizer.json"
                                            ? read_tokenizer_json(vocabulary_file, options)
                                            : read_vocabulary_lines(vocabulary_file);
  // The description's settings, not tokenizer.json's normalizer.
  options.lowercase = settings.lowercase;
  options.strip_accents = settings.strip_accents;
  options.tokenize_chinese_chars = settings.tokenize_chinese_chars;
  const auto token_at = [&](std::int64_t id) { return vocabulary[static_cast<std::size_t>(id)]; };
  set_special_tokens(options, special_ids, vocabulary.size(), token_at, vocabulary_file, origin);
  return make(std::move(vocabulary), std::move(options), vocabulary_file);
}

std::string WordPieceTokenizer::id_to_token(std::int64_t id) const {
  if (id < 0 || static_cast<std::size_t>(id) >= vocabulary_.size()) {
    throw std::out_of_range("token id " + std::to_string(id) + " is outside the vocabulary of " +
                            std::to_string(vocabulary_.size()));
  }
  return vocabulary_[static_cast<std::size_t>(id)];
}

std::int64_t WordPieceTokenizer::token_to_id(const std::string& token) const { return index_->find(token); }

std::vector<Token> WordPieceTokenizer::tokenize(std::string_view text, std::size_t max_tokens) const {
  const std::size_t invalid = find_invalid_utf8(text);
  if (invalid != std::string_view::npos) throw InvalidUtf8Error(invalid);

  std::vector<Token> tokens;
  // About a token a word of English, for a chunk: more grows as it must.
  tokens.reserve(std::min(std::min(text.size(), kChunkBytes) / 4, max_tokens) + 1);
  Workspace work;
  std::size_t begin = 0;
  while (begin < text.size() && tokens.size() <= max_tokens) {
    const std::size_t end = cuts_keep_special_tokens_ ? chunk_end(text, begin + kChunkBytes) : text.size();
    tokenize_chunk(text.substr(begin, end - begin), begin, work, tokens);
    begin = end;
  }
  return tokens;
}

std::size_t WordPieceTokenizer::chunk_end(std::string_view text, std::size_t from) const {
  // The first word boundary at or after from: after a space, or before a CJK
  // character, which BasicTokenizer makes a word of its own.
  std::size_t pos = from;
  while (pos < text.size() && (static_cast<unsigned char>(text[pos]) & 0xC0) == 0x80) ++pos;
  while (pos < text.size()) {
    const std::size_t begin = pos;
    const auto byte = static_cast<unsigned char>(text[pos]);
    if (byte < 0x80) {
      ++pos;
      if (kAsciiRoles[byte] == AsciiRole::kSpace) return pos;
      continue;
    }
    pos = std::min(text.size(), pos + utf8_sequence_length(byte));
    if (!options_.tokenize_chinese_chars || pos - begin != utf8_sequence_length(byte)) continue;
    std::size_t decoded = begin;
    if (unicode::is_cjk_ideograph(decode_utf8(text, decoded)) && begin > 0) return begin;
  }
  return text.size();
}

void WordPieceTokenizer::tokenize_chunk(std::string_view text, std::size_t offset, Workspace& work,
                                        std::vector<Token>& out) const {
  // PreTrainedTokenizer.tokenize lowercases everything but special tokens
  // before BasicTokenizer sees the text.
  const LowercasedText lowercased = options_.lowercase ? lowercase_except(text, special_tokens_)
                                                       : LowercasedText{NormalizedText::copy_of(text), false};
  const NormalizedText& source = lowercased.text;
  const std::string_view chars = source.text();
  work.lowercase_words = lowercased.kept_any;

  const std::size_t first_token = out.size();
  std::size_t pos = 0;
  while (pos < chars.size()) {
    const std::size_t begin = pos;
    const auto byte = static_cast<unsigned char>(chars[pos]);
    if (byte < 0x80) {
      ++pos;
      switch (kAsciiRoles[byte]) {
        case AsciiRole::kDropped:
          break;
        case AsciiRole::kSpace:
          tokenize_word(work, out);
          break;
        default:
          work.word.append(byte, source.origin(begin));
          break;
      }
      continue;
    }
    // Clean-up drops U+FFFD and control characters and turns whitespace into
    // word boundaries (str.split() also splits on U+2028 and U+2029).
    const char32_t cp = decode_utf8(chars, pos);
    if (cp == 0xFFFD || unicode::is_control(cp)) continue;
    if (unicode::is_whitespace(cp) || unicode::is_python_whitespace(cp)) {
      tokenize_word(work, out);
      continue;
    }
    const bool own_word = options_.tokenize_chinese_chars && unicode::is_cjk_ideograph(cp);
    if (own_word) tokenize_word(work, out);
    work.word.append(cp, source.origin(begin));
    work.word_is_ascii = false;
    if (own_word) tokenize_word(work, out);
  }
  tokenize_word(work, out);
  for (std::size_t i = first_token; i < out.size(); ++i) {
    out[i].span.begin += offset;
    out[i].span.end += offset;
  }
}

void WordPieceTokenizer::tokenize_word(Workspace& work, std::vector<Token>& out) const {
  NormalizedText& word = work.word;
  if (word.empty()) return;
  const bool special = std::find(special_tokens_.begin(), special_tokens_.end(), word.text()) != special_tokens_.end();
  if (special) {
    // BasicTokenizer's never_split: kept whole, then looked up by WordPiece.
    append_wordpieces(word, 0, word.size(), out);
  } else {
    const NormalizedText* normalized = &word;
    if (work.lowercase_words) {
      work.lowercased.clear();
      append_lowercase(word, work.lowercased);
      normalized = &work.lowercased;
    }
    if (strip_accents_ && !work.word_is_ascii) {
      work.stripped.clear();
      decompose(*normalized, 0, normalized->size(), unicode::Decomposition::kCanonical,
                unicode::is_nonspacing_mark, work.decomposition, work.stripped);
      normalized = &work.stripped;
    }
    split_on_punctuation(*normalized, out);
  }
  word.clear();
  work.word_is_ascii = true;
}

void WordPieceTokenizer::split_on_punctuation(const NormalizedText& word, std::vector<Token>& out) const {
  const std::string_view chars = word.text();
  std::size_t piece_begin = 0;
  std::size_t pos = 0;
  while (pos < chars.size()) {
    const std::size_t begin = pos;
    const auto byte = static_cast<unsigned char>(chars[pos]);
    const bool punctuation = byte < 0x80 ? (++pos, kAsciiRoles[byte] == AsciiRole::kPunctuation)
                                         : unicode::is_punctuation(decode_utf8(chars, pos));
    if (!punctuation) continue;
    append_wordpieces(word, piece_begin, begin, out);
    append_wordpieces(word, begin, pos, out);
    piece_begin = pos;
  }
  append_wordpieces(word, piece_begin, chars.size(), out);
}

void WordPieceTokenizer::append_wordpieces(const NormalizedText& text, std::size_t begin, std::size_t end,
                                           std::vector<Token>& out) const {
  if (begin == end) return;
  const std::string_view word = text.text().substr(begin, end - begin);
  const std::size_t first_piece = out.size();
  if (count_code_points(word) <= options_.max_input_chars_per_word) {
    std::size_t start = 0;
    while (start < word.size()) {
      const WordPieceVocabulary::Match match = index_->longest_match(word.substr(start), start > 0);
      if (match.length == 0) break;
      out.push_back({match.id, text.original_span(begin + start, begin + start + match.length)});
      start += match.length;
    }
    if (start == word.size()) return;
  }
  // Too long, or a part matches nothing: the whole word is unknown.
  out.resize(first_piece);
  out.push_back({special_ids_.unk, text.original_span(begin, end)});
}

}  // namespace bert_embed
