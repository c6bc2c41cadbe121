#include "bert_embed/text/bpe_tokenizer.h"

#include <algorithm>
#include <atomic>
#include <unordered_map>
#include <limits>
#include <stdexcept>
#include <utility>

#include <nlohmann/json.hpp>

#include "bert_embed/text/utf8.h"
#include "text/json_settings.h"
#include "text/tokenizer_files.h"
#include "text/unicode.h"

namespace bert_embed {
namespace {

constexpr std::uint32_t kNoMerge = std::numeric_limits<std::uint32_t>::max();

// Ids of vocab.json are indices of a table: 2^24 is 60 times the largest
// public vocabularies (250,002 for XLM-R) and bounds what a corrupt file costs.
constexpr std::uint64_t kMaxTokenId = std::uint64_t{1} << 24;

// GPT-2's bytes_to_unicode(): printable Latin-1 bytes stand for themselves,
// the others for U+0100 onwards, in byte order.
std::string byte_character(unsigned char byte) {
  const auto printable = [](unsigned b) {
    return (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
  };
  char32_t cp = byte;
  if (!printable(byte)) {
    cp = 0x100;
    for (unsigned b = 0; b < byte; ++b) cp += printable(b) ? 0 : 1;
  }
  std::string out;
  append_utf8(out, cp);
  return out;
}

struct ClassifiedChar {
  unicode::RegexClass regex_class;
  std::size_t end;
};

ClassifiedChar classify_at(std::string_view text, std::size_t pos) {
  const auto byte = static_cast<unsigned char>(text[pos]);
  if (byte < 0x80) return {unicode::regex_class(byte), pos + 1};
  const char32_t cp = decode_utf8(text, pos);
  return {unicode::regex_class(cp), pos};
}

std::size_t run_end(std::string_view text, std::size_t pos, unicode::RegexClass regex_class) {
  while (pos < text.size()) {
    const ClassifiedChar next = classify_at(text, pos);
    if (next.regex_class != regex_class) break;
    pos = next.end;
  }
  return pos;
}

// End of the match of GPT-2's pattern
//   's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+
// that starts at begin (< text.size()). Every character starts a match, so
// re.findall's matches tile the text.
std::size_t word_end(std::string_view text, std::size_t begin) {
  if (text[begin] == '\'') {
    for (const std::string_view contraction : {"s", "t", "re", "ve", "m", "ll", "d"}) {
      if (text.substr(begin + 1, contraction.size()) == contraction) return begin + 1 + contraction.size();
    }
  }
  const ClassifiedChar first = classify_at(text, begin);
  if (text[begin] == ' ' && first.end < text.size()) {
    const ClassifiedChar second = classify_at(text, first.end);
    if (second.regex_class != unicode::RegexClass::kSpace) return run_end(text, second.end, second.regex_class);
  }
  if (first.regex_class != unicode::RegexClass::kSpace) return run_end(text, first.end, first.regex_class);
  const std::size_t end = run_end(text, first.end, unicode::RegexClass::kSpace);
  if (end == text.size()) return end;
  // \s+(?!\S) gives back the last whitespace character, which then starts
  // the next word (" word"), unless it is the only one (then \s+).
  std::size_t last = end - 1;
  while ((static_cast<unsigned char>(text[last]) & 0xC0) == 0x80) --last;
  return last > begin ? last : end;
}

std::atomic<std::uint64_t> next_serial{1};

// The symbols each word merged into, for one tokenizer at a time.
struct WordCache {
  std::uint64_t serial = 0;
  std::unordered_map<std::string, std::vector<std::uint32_t>> words;
};

}  // namespace

BytePairTokenizer::BytePairTokenizer(const std::filesystem::path& vocab_file,
                                     const std::filesystem::path& merges_file, BytePairOptions options)
    : options_(std::move(options)), serial_(next_serial++) {
  nlohmann::json vocab;
  try {
    vocab = nlohmann::json::parse(read_tokenizer_file(vocab_file));
  } catch (const nlohmann::json::exception& error) {
    throw std::runtime_error(vocab_file.string() + ": invalid JSON: " + error.what());
  }
  if (!vocab.is_object() || vocab.empty()) {
    throw std::runtime_error(vocab_file.string() + ": expected a JSON object of tokens and ids");
  }
  for (const auto& [token, id] : vocab.items()) {
    if (!id.is_number_unsigned() || id.get<std::uint64_t>() >= kMaxTokenId) {
      throw std::runtime_error(vocab_file.string() + ": token " + nlohmann::json(token).dump() +
                               " has no valid id (a non-negative integer below " + std::to_string(kMaxTokenId) +
                               ")");
    }
    const auto index = id.get<std::size_t>();
    if (index >= vocabulary_.size()) vocabulary_.resize(index + 1);
    vocabulary_[index] = token;
    ids_[token] = static_cast<std::int64_t>(index);
  }
  for (unsigned byte = 0; byte < 256; ++byte) {
    byte_symbols_[byte] = intern(byte_character(static_cast<unsigned char>(byte)));
  }
  read_merges(merges_file);

  special_ids_.unk = token_to_id(options_.unk_token);
  special_ids_.sep = token_to_id(options_.sep_token);
  special_ids_.pad = token_to_id(options_.pad_token);
  special_ids_.cls = token_to_id(options_.cls_token);
  special_ids_.mask = token_to_id(options_.mask_token);
}

BytePairTokenizer::~BytePairTokenizer() = default;

std::uint32_t BytePairTokenizer::intern(const std::string& text) {
  const auto [it, inserted] = symbol_index_.emplace(text, static_cast<std::uint32_t>(symbols_.size()));
  // Each character of a symbol stands for one byte of the text.
  if (inserted) symbols_.push_back({token_to_id(text), static_cast<std::uint32_t>(count_code_points(text))});
  return it->second;
}

std::size_t BytePairTokenizer::slot_of(std::uint64_t pair) const {
  // Fibonacci hashing; linear probing from there.
  const std::size_t mask = merge_table_.size() - 1;
  std::size_t slot = static_cast<std::size_t>((pair * 0x9E3779B97F4A7C15ull) >> 20) & mask;
  while (merge_table_[slot].pair != kNoPair && merge_table_[slot].pair != pair) slot = (slot + 1) & mask;
  return slot;
}

const BytePairTokenizer::Merge* BytePairTokenizer::find_merge(std::uint32_t left, std::uint32_t right) const {
  const Merge& merge = merge_table_[slot_of(std::uint64_t{left} << 32 | right)];
  return merge.pair == kNoPair ? nullptr : &merge;
}

void BytePairTokenizer::read_merges(const std::filesystem::path& merges_file) {
  const std::string text = read_tokenizer_file(merges_file);
  const auto lines = static_cast<std::size_t>(std::count(text.begin(), text.end(), '\n'));
  std::size_t table_size = 16;
  while (table_size < 2 * lines) table_size *= 2;
  merge_table_.assign(table_size, Merge{});
  // GPT2Tokenizer reads merges_handle.read().split("\n")[1:-1]: the first
  // line ("#version: ...") and whatever follows the last newline are not
  // merges.
  std::size_t line_begin = text.find('\n');
  std::uint32_t rank = 0;
  std::size_t line_number = 1;
  while (line_begin != std::string::npos) {
    ++line_begin;
    ++line_number;
    const std::size_t line_end = text.find('\n', line_begin);
    if (line_end == std::string::npos) break;
    const std::string_view line = std::string_view(text).substr(line_begin, line_end - line_begin);
    const std::size_t space = line.find(' ');
    if (space == std::string_view::npos || space == 0 || space + 1 == line.size() ||
        line.find(' ', space + 1) != std::string_view::npos) {
      throw std::runtime_error(merges_file.string() + ":" + std::to_string(line_number) +
                               ": expected two symbols separated by a space");
    }
    const std::string left(line.substr(0, space));
    const std::string right(line.substr(space + 1));
    const std::uint32_t left_symbol = intern(left);
    const std::uint32_t right_symbol = intern(right);
    const std::uint32_t merged = intern(left + right);
    // As dict(zip(merges, range(...))): a repeated merge keeps its last rank.
    const std::uint64_t pair = std::uint64_t{left_symbol} << 32 | right_symbol;
    merge_table_[slot_of(pair)] = Merge{pair, rank++, merged};
    line_begin = line_end;
  }
}

std::unique_ptr<BytePairTokenizer> BytePairTokenizer::from_directory(const std::filesystem::path& dir) {
  BytePairOptions options;
  const std::filesystem::path config_file = dir / "tokenizer_config.json";
  if (std::filesystem::exists(config_file)) {
    const JsonSettings config = JsonSettings::read(config_file);
    if (config.optional_bool("add_prefix_space").value_or(false)) {
      config.fail("add_prefix_space", "true is not supported");
    }
    options.unk_token = config.optional_token("unk_token").value_or(options.unk_token);
    options.sep_token = config.optional_token("sep_token").value_or(options.sep_token);
    options.pad_token = config.optional_token("pad_token").value_or(options.pad_token);
    options.cls_token = config.optional_token("cls_token").value_or(options.cls_token);
    options.mask_token = config.optional_token("mask_token").value_or(options.mask_token);
  }
  return std::make_unique<BytePairTokenizer>(dir / "vocab.json", dir / "merges.txt", std::move(options));
}

std::unique_ptr<BytePairTokenizer> BytePairTokenizer::from_description(const std::filesystem::path& vocab_file,
                                                                       const std::filesystem::path& merges_file,
                                                                       const SpecialTokenIds& special_ids,
                                                                       const std::string& origin) {
  auto tokenizer = std::make_unique<BytePairTokenizer>(vocab_file, merges_file, BytePairOptions{});
  BytePairOptions options;
  set_special_tokens(options, special_ids, tokenizer->vocab_size(),
                     [&](std::int64_t id) { return tokenizer->vocabulary_[static_cast<std::size_t>(id)]; },
                     vocab_file, origin);
  tokenizer->special_ids_.unk = tokenizer->token_to_id(options.unk_token);
  tokenizer->special_ids_.sep = tokenizer->token_to_id(options.sep_token);
  tokenizer->special_ids_.pad = tokenizer->token_to_id(options.pad_token);
  tokenizer->special_ids_.cls = tokenizer->token_to_id(options.cls_token);
  tokenizer->special_ids_.mask = tokenizer->token_to_id(options.mask_token);
  tokenizer->options_ = std::move(options);
  return tokenizer;
}

std::int64_t BytePairTokenizer::token_to_id(const std::string& token) const {
  const auto it = ids_.find(token);
  return it == ids_.end() ? -1 : it->second;
}

std::string BytePairTokenizer::id_to_token(std::int64_t id) const {
  if (id < 0 || static_cast<std::size_t>(id) >= vocabulary_.size()) {
    throw std::out_of_range("token id " + std::to_string(id) + " is outside the vocabulary of " +
                            std::to_string(vocabulary_.size()));
  }
  return vocabulary_[static_cast<std::size_t>(id)];
}

// Buffers reused across the words of one tokenize() call.
struct BytePairTokenizer::Workspace {
  std::vector<std::uint32_t> word;  // symbols
  std::vector<std::uint32_t> ranks;
  std::vector<std::uint32_t> kept_ranks;
  std::vector<bool> merged_here;
  std::string key;  // the word, to look up in the cache
};

std::vector<Token> BytePairTokenizer::tokenize(std::string_view text, std::size_t max_tokens) const {
  const std::size_t invalid = find_invalid_utf8(text);
  if (invalid != std::string_view::npos) throw InvalidUtf8Error(invalid);
  std::vector<Token> tokens;
  Workspace work;
  std::size_t begin = 0;
  while (begin < text.size() && tokens.size() <= max_tokens) {
    const std::size_t end = word_end(text, begin);
    append_word(text, begin, end, work, tokens);
    begin = end;
  }
  return tokens;
}

void BytePairTokenizer::merge_word(std::string_view text, Workspace& work) const {
  // GPT2Tokenizer.bpe: while some adjacent pair has a merge, every
  // occurrence of the lowest-ranked one, left to right, becomes its merged
  // symbol. ranks[i] is the rank of the pair (word[i], word[i + 1]); after a
  // pass only the pairs next to a merged symbol are looked up again.
  std::vector<std::uint32_t>& word = work.word;
  std::vector<std::uint32_t>& ranks = work.ranks;
  std::vector<std::uint32_t>& kept_ranks = work.kept_ranks;
  std::vector<bool>& merged_here = work.merged_here;
  word.clear();
  for (const char byte : text) word.push_back(byte_symbols_[static_cast<unsigned char>(byte)]);
  const auto rank_of = [&](std::uint32_t left, std::uint32_t right) {
    const Merge* merge = find_merge(left, right);
    return merge ? merge->rank : kNoMerge;
  };
  ranks.clear();
  for (std::size_t i = 0; i + 1 < word.size(); ++i) ranks.push_back(rank_of(word[i], word[i + 1]));
  while (word.size() > 1) {
    const auto best = std::min_element(ranks.begin(), ranks.end());
    if (*best == kNoMerge) break;
    const std::size_t best_index = static_cast<std::size_t>(best - ranks.begin());
    const std::uint32_t first = word[best_index];
    const std::uint32_t second = word[best_index + 1];
    const std::uint32_t merged = find_merge(first, second)->merged;
    merged_here.assign(word.size(), false);
    std::size_t kept = 0;
    std::size_t i = 0;
    kept_ranks.clear();
    while (i < word.size()) {
      const bool merge = i + 1 < word.size() && word[i] == first && word[i + 1] == second;
      // The rank of the pair that ends at this symbol, from before the pass
      // when neither side changed.
      if (kept > 0) {
        kept_ranks.push_back(merge || merged_here[kept - 1] ? rank_of(word[kept - 1], merge ? merged : word[i])
                                                            : ranks[i - 1]);
      }
      word[kept] = merge ? merged : word[i];
      merged_here[kept] = merge;
      ++kept;
      i += merge ? 2 : 1;
    }
    word.resize(kept);
    ranks.swap(kept_ranks);
  }
}

void BytePairTokenizer::append_word(std::string_view text, std::size_t begin, std::size_t end, Workspace& work,
                                    std::vector<Token>& out) const {
  thread_local WordCache cache;
  if (cache.serial != serial_ || cache.words.size() >= kCachedWords) {
    cache.words.clear();
    cache.serial = serial_;
  }
  const std::string_view text_word = text.substr(begin, end - begin);
  const std::vector<std::uint32_t>* word = &work.word;
  if (text_word.size() <= kCachedWordBytes) {
    work.key.assign(text_word);
    auto found = cache.words.find(work.key);
    if (found == cache.words.end()) {
      merge_word(text_word, work);
      found = cache.words.emplace(work.key, work.word).first;
    }
    word = &found->second;
  } else {
    merge_word(text_word, work);
  }
  std::size_t pos = begin;
  for (const std::uint32_t symbol : *word) {
    std::size_t token_begin = pos;
    pos += symbols_[symbol].byte_count;
    std::size_t token_end = pos;
    while (token_begin > begin && (static_cast<unsigned char>(text[token_begin]) & 0xC0) == 0x80) --token_begin;
    while (token_end < end && (static_cast<unsigned char>(text[token_end]) & 0xC0) == 0x80) ++token_end;
    std::int64_t id = symbols_[symbol].id;
    if (id < 0) id = special_ids_.unk;
    if (id < 0) {
      throw std::runtime_error("byte-level BPE: " + nlohmann::json(text.substr(begin, end - begin)).dump() +
                               " gives a symbol outside the vocabulary, and there is no unknown token");
    }
    out.push_back({id, Span{token_begin, token_end}});
  }
}

}  // namespace bert_embed
