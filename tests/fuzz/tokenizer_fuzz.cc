// Feeds arbitrary bytes to both tokenizers and checks the invariants every
// caller relies on. The first byte picks the tokenizer; the rest is the text.
// Run: tokenizer_fuzz -max_total_time=60 (see scripts/fuzz.sh), with
// BERT_EMBED_FUZZ_WORDPIECE and BERT_EMBED_FUZZ_SENTENCEPIECE naming
// tokenizer directories.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>
#include <string_view>

#include "bert_embed/text/tokenizer.h"
#include "bert_embed/text/utf8.h"

namespace {

std::unique_ptr<bert_embed::Tokenizer> load_from_env(const char* variable) {
  const char* dir = std::getenv(variable);
  if (dir == nullptr) {
    std::fprintf(stderr, "tokenizer_fuzz: set %s to a tokenizer directory\n", variable);
    std::abort();
  }
  return bert_embed::load_tokenizer(dir);
}

void check(bool condition, const char* what) {
  if (!condition) {
    std::fprintf(stderr, "tokenizer_fuzz: invariant violated: %s\n", what);
    std::abort();
  }
}

void check_tokens(const bert_embed::Tokenizer& tokenizer, std::string_view text) {
  const auto tokens = tokenizer.tokenize(text);
  for (const auto& token : tokens) {
    check(token.id >= 0 && static_cast<std::size_t>(token.id) < tokenizer.vocab_size(), "id in vocabulary");
    check(token.span.begin <= token.span.end && token.span.end <= text.size(), "span inside the text");
  }
  const auto first = tokenizer.pieces().tokenize(text, 3);
  check(first.size() >= std::min<std::size_t>(tokens.size(), 4), "a token limit leaves the tokens truncation needs");
  for (std::size_t i = 0; i < first.size(); ++i) {
    check(i < tokens.size() && first[i].id == tokens[i].id && first[i].span == tokens[i].span,
          "a token limit gives the first tokens");
  }
  const auto encoding = tokenizer.encode(text, 16);
  check(encoding.size() <= 16 && encoding.size() >= 2, "encode respects max_length");
  check(encoding.ids.front() == tokenizer.special_ids().cls, "encoding starts with [CLS]");
  check(encoding.ids.back() == tokenizer.special_ids().sep, "encoding ends with [SEP]");
  check(encoding.truncated == (tokens.size() > 14), "truncated flag");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static const auto wordpiece = load_from_env("BERT_EMBED_FUZZ_WORDPIECE");
  static const auto sentencepiece = load_from_env("BERT_EMBED_FUZZ_SENTENCEPIECE");
  if (size == 0) return 0;
  const auto& tokenizer = (data[0] & 1) ? *sentencepiece : *wordpiece;
  const std::string_view text(reinterpret_cast<const char*>(data + 1), size - 1);

  const std::size_t invalid_at = bert_embed::find_invalid_utf8(text);
  if (invalid_at == std::string_view::npos) {
    check_tokens(tokenizer, text);
    return 0;
  }
  try {
    tokenizer.tokenize(text);
    check(false, "invalid UTF-8 is rejected");
  } catch (const bert_embed::InvalidUtf8Error& error) {
    check(error.byte_offset() == invalid_at, "error reports the first invalid byte");
  }
  bert_embed::Utf8Repairs repairs;
  const std::string repaired = bert_embed::replace_invalid_utf8(text, &repairs);
  check(bert_embed::find_invalid_utf8(repaired) == std::string_view::npos, "repair yields valid UTF-8");
  check(repairs.original_offset(repaired.size()) == text.size(), "repairs map the end to the end");
  for (const auto& token : tokenizer.tokenize(repaired)) {
    check(repairs.original_offset(token.span.begin) <= repairs.original_offset(token.span.end),
          "repaired spans map to ordered input offsets");
  }
  check_tokens(tokenizer, repaired);
  return 0;
}
