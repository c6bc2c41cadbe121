#include "bert_embed/text/sentencepiece_tokenizer.h"

#include <gtest/gtest.h>

#include <chrono>
#include <fstream>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "bert_embed/text/utf8.h"
#include "expect_error.h"
#include "fixtures.h"
#include "temp_dir.h"

namespace bert_embed {
namespace {

using Ids = std::vector<std::int64_t>;
using Spans = std::vector<std::pair<std::size_t, std::size_t>>;

// Piece ids of the albert-base-v2 model.
constexpr std::int64_t kSpace = 13;  // "▁" alone
constexpr std::int64_t kComma = 15;
constexpr std::int64_t kQuote = 7;
constexpr std::int64_t kHello = 10975;
constexpr std::int64_t kWorld = 126;

std::filesystem::path model_file() { return test::fixtures_dir() / "vocab/albert-base-v2-spm/spiece.model"; }

const SentencePieceTokenizer& albert() {
  static const auto tokenizer = std::make_unique<SentencePieceTokenizer>(model_file(), SentencePieceOptions{});
  return *tokenizer;
}

Ids ids(const PieceTokenizer& tokenizer, std::string_view text) {
  Ids out;
  for (const Token& token : tokenizer.tokenize(text)) out.push_back(token.id);
  return out;
}

Spans spans(const PieceTokenizer& tokenizer, std::string_view text) {
  Spans out;
  for (const Token& token : tokenizer.tokenize(text)) out.emplace_back(token.span.begin, token.span.end);
  return out;
}

TEST(SentencePieceTokenizer, EncodesLowercasedText) {
  EXPECT_EQ(ids(albert(), "Hello World"), (Ids{kHello, kWorld}));
  EXPECT_EQ(albert().id_to_token(kHello), "\xE2\x96\x81hello");
  EXPECT_EQ(albert().vocab_size(), 30000u);
  EXPECT_TRUE(ids(albert(), "").empty());
  EXPECT_TRUE(ids(albert(), " \t\xE3\x80\x80 ").empty());
}

TEST(SentencePieceTokenizer, HasAlbertSpecialIds) {
  const SpecialTokenIds& special = albert().special_ids();
  EXPECT_EQ(special.pad, 0);
  EXPECT_EQ(special.unk, 1);
  EXPECT_EQ(special.cls, 2);
  EXPECT_EQ(special.sep, 3);
  EXPECT_EQ(special.mask, 4);
}

TEST(SentencePieceTokenizer, CollapsesWhitespaceAndSpansTheWords) {
  EXPECT_EQ(ids(albert(), "  Hello \t\xE2\x80\xA8 world  "), (Ids{kHello, kWorld}));
  EXPECT_EQ(spans(albert(), "  Hello \t\xE2\x80\xA8 world  "), (Spans{{2, 7}, {13, 18}}));
}

TEST(SentencePieceTokenizer, TurnsDoubledQuotesIntoDoubleQuotes) {
  EXPECT_EQ(ids(albert(), "``hi''"), ids(albert(), "\"hi\""));
  EXPECT_EQ(ids(albert(), "\"hi\"").front(), kSpace);
  EXPECT_EQ(ids(albert(), "\"hi\"")[1], kQuote);
  EXPECT_EQ(spans(albert(), "``hi''").back(), (std::pair<std::size_t, std::size_t>{4, 6}));
}

TEST(SentencePieceTokenizer, DecomposesAndDropsAccentsUnlessKept) {
  EXPECT_EQ(ids(albert(), "Caf\xC3\xA9"), ids(albert(), "cafe"));
  EXPECT_EQ(ids(albert(), "\xEF\xAC\x81le \xEF\xBC\xA1\xEF\xBC\xA2\xEF\xBC\xA3"), ids(albert(), "file abc"));

  SentencePieceOptions keep;
  keep.keep_accents = true;
  const SentencePieceTokenizer accents(model_file(), keep);
  EXPECT_NE(ids(accents, "caf\xC3\xA9"), ids(albert(), "cafe"));
}

TEST(SentencePieceTokenizer, LowercasesOnlyWhenAsked) {
  SentencePieceOptions options;
  options.lowercase = false;
  const SentencePieceTokenizer cased(model_file(), options);
  EXPECT_NE(ids(cased, "Hello"), (Ids{kHello}));
  EXPECT_EQ(ids(cased, "hello"), (Ids{kHello}));
}

TEST(SentencePieceTokenizer, SplitsPiecesEndingInADigitAndAComma) {
  // SentencePiece alone gives "▁2010," (1534); AlbertTokenizer re-encodes
  // "2010" and appends the comma.
  const Ids expected = {19, 498, kComma, 95};  // ▁in ▁2010 , ▁we
  EXPECT_EQ(ids(albert(), "in 2010, we"), expected);
  EXPECT_EQ(spans(albert(), "in 2010, we"), (Spans{{0, 2}, {3, 7}, {7, 8}, {9, 11}}));
}

TEST(SentencePieceTokenizer, TreatsSpecialTokensInTextAsText) {
  // Like an AlbertTokenizer constructed from its model file, which has no
  // no-split tokens: the reference goldens show "[CLS]" as "▁[ cl s ]".
  EXPECT_EQ(ids(albert(), "[CLS]"), (Ids{636, 5316, 18, 500}));
}

TEST(SentencePieceTokenizer, MapsUnknownCharactersToTheUnknownId) {
  EXPECT_EQ(ids(albert(), "\xCE\xB1\xCE\xBB\xCE\xB7\xCE\xB8\xCE\xB5\xCF\x83"), (Ids{kSpace, 1}));
}

TEST(SentencePieceTokenizer, RejectsInvalidUtf8WithItsOffset) {
  try {
    albert().tokenize("abc\xC3");
    FAIL() << "expected InvalidUtf8Error";
  } catch (const InvalidUtf8Error& error) {
    EXPECT_EQ(error.byte_offset(), 3u);
  }
}

TEST(SentencePieceTokenizer, HandlesHugeInputsInLinearTime) {
  // Each of these takes well under a second; a quadratic step would take minutes.
  constexpr double kGenerousSeconds = 10;
  const auto timed = [](const std::string& text, std::vector<Token>& tokens) {
    const auto start = std::chrono::steady_clock::now();
    tokens = albert().tokenize(text);
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  };
  std::vector<Token> tokens;

  std::string words;
  while (words.size() < (1u << 20)) words += "Some words, and more words! ";
  EXPECT_LT(timed(words, tokens), kGenerousSeconds);
  EXPECT_GT(tokens.size(), 100000u);

  std::string marks = "a";
  for (int i = 0; i < 100000; ++i) marks += (i % 2 ? "\xCC\x81" : "\xCC\xA3");
  EXPECT_LT(timed(marks, tokens), kGenerousSeconds);
  ASSERT_EQ(tokens.size(), 1u);
  EXPECT_EQ(tokens[0].id, ids(albert(), "a")[0]);
  EXPECT_EQ(tokens[0].span.end, marks.size());
}

TEST(SentencePieceTokenizer, ReadsSettingsFromTheDirectory) {
  const test::TempDir dir;
  std::filesystem::copy_file(model_file(), dir.path() / "spiece.model");
  std::ofstream(dir.path() / "tokenizer_config.json") << R"({"do_lower_case": false, "keep_accents": true})";
  const auto tokenizer = SentencePieceTokenizer::from_directory(dir.path());
  EXPECT_FALSE(tokenizer->options().lowercase);
  EXPECT_TRUE(tokenizer->options().keep_accents);
  EXPECT_TRUE(tokenizer->options().remove_space);
}

TEST(SentencePieceTokenizer, NamesAModelFileItCannotLoad) {
  const test::TempDir dir;
  const auto file = dir.path() / "spiece.model";
  std::ofstream(file) << "not a model";
  EXPECT_CONTAINS(test::error_message<std::runtime_error>([&] { SentencePieceTokenizer tokenizer(file, {}); }),
                  file.string());
}

}  // namespace
}  // namespace bert_embed
