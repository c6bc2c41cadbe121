#include "bert_embed/text/wordpiece_tokenizer.h"

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

using namespace std::string_literals;
using Strings = std::vector<std::string>;
using Spans = std::vector<std::pair<std::size_t, std::size_t>>;

std::filesystem::path uncased_vocab() { return test::fixtures_dir() / "vocab/bert-base-uncased/vocab.txt"; }

WordPieceOptions cased() {
  WordPieceOptions options;
  options.lowercase = false;
  return options;
}

const WordPieceTokenizer& uncased_tokenizer() {
  static const auto tokenizer = WordPieceTokenizer::from_vocab_file(uncased_vocab(), {});
  return *tokenizer;
}

const WordPieceTokenizer& cased_tokenizer() {
  static const auto tokenizer = WordPieceTokenizer::from_vocab_file(uncased_vocab(), cased());
  return *tokenizer;
}

Strings pieces(const PieceTokenizer& tokenizer, std::string_view text) {
  Strings out;
  for (const Token& token : tokenizer.tokenize(text)) out.push_back(tokenizer.id_to_token(token.id));
  return out;
}

Spans spans(const PieceTokenizer& tokenizer, std::string_view text) {
  Spans out;
  for (const Token& token : tokenizer.tokenize(text)) out.emplace_back(token.span.begin, token.span.end);
  return out;
}

WordPieceTokenizer small_tokenizer(Strings extra, WordPieceOptions options = {}) {
  Strings vocabulary = {"[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"};
  vocabulary.insert(vocabulary.end(), extra.begin(), extra.end());
  return WordPieceTokenizer(std::move(vocabulary), std::move(options));
}

double seconds_to_tokenize(const PieceTokenizer& tokenizer, const std::string& text, std::vector<Token>& tokens) {
  const auto start = std::chrono::steady_clock::now();
  tokens = tokenizer.tokenize(text);
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

TEST(WordPieceTokenizer, SplitsOnPunctuation) {
  EXPECT_EQ(pieces(uncased_tokenizer(), "Hello, world!"), (Strings{"hello", ",", "world", "!"}));
  EXPECT_EQ(pieces(uncased_tokenizer(), "don't"), (Strings{"don", "'", "t"}));
  // All non-alphanumeric ASCII counts, symbols such as $ ^ ` included.
  EXPECT_EQ(pieces(uncased_tokenizer(), "a$b^c`d"), (Strings{"a", "$", "b", "^", "c", "`", "d"}));
  EXPECT_EQ(pieces(uncased_tokenizer(), "\xE2\x80\x9Cquotes\xE2\x80\x9D"),
            (Strings{"\xE2\x80\x9C", "quotes", "\xE2\x80\x9D"}));
}

TEST(WordPieceTokenizer, PutsEachCjkIdeographInAWordOfItsOwn) {
  EXPECT_EQ(pieces(uncased_tokenizer(), "ab\xE4\xB8\xAD\xE6\x96\x87" "cd"),
            (Strings{"ab", "\xE4\xB8\xAD", "\xE6\x96\x87", "cd"}));
  WordPieceOptions options;
  options.tokenize_chinese_chars = false;
  const auto joined = WordPieceTokenizer::from_vocab_file(uncased_vocab(), options);
  EXPECT_EQ(pieces(*joined, "ab\xE4\xB8\xAD\xE6\x96\x87" "cd"),
            (Strings{"ab", "##\xE4\xB8\xAD", "##\xE6\x96\x87", "##cd"}));
}

TEST(WordPieceTokenizer, StripsAccentsWhenLowercasingOrAskedTo) {
  EXPECT_EQ(pieces(uncased_tokenizer(), "Caf\xC3\xA9 \xC3\x85ngstr\xC3\xB6m"), (Strings{"cafe", "ang", "##strom"}));
  // Decomposed input gives the same.
  EXPECT_EQ(pieces(uncased_tokenizer(), "Cafe\xCC\x81"), (Strings{"cafe"}));
  EXPECT_EQ(pieces(cased_tokenizer(), "caf\xC3\xA9"), (Strings{"[UNK]"}));

  WordPieceOptions strip = cased();
  strip.strip_accents = true;
  EXPECT_EQ(pieces(*WordPieceTokenizer::from_vocab_file(uncased_vocab(), strip), "caf\xC3\xA9"), (Strings{"cafe"}));

  WordPieceOptions keep;
  keep.strip_accents = false;
  EXPECT_NE(pieces(*WordPieceTokenizer::from_vocab_file(uncased_vocab(), keep), "Caf\xC3\xA9"), (Strings{"cafe"}));
}

TEST(WordPieceTokenizer, LowercasesLikePythonOneCharacterAtATime) {
  // "İ" lowercases to "i" + U+0307, whose accent is then stripped.
  EXPECT_EQ(pieces(uncased_tokenizer(), "\xC4\xB0stanbul"), (Strings{"istanbul"}));
  // A final capital sigma becomes "σ", not "ς": the lowercasing regex sees
  // one character at a time.
  const WordPieceTokenizer greek = small_tokenizer({"\xCE\xBF\xCE\xB4\xCE\xBF\xCF\x83", "\xCE\xBF\xCE\xB4\xCE\xBF\xCF\x82"});
  EXPECT_EQ(pieces(greek, "\xCE\x9F\xCE\x94\xCE\x9F\xCE\xA3"), (Strings{"\xCE\xBF\xCE\xB4\xCE\xBF\xCF\x83"}));
}

TEST(WordPieceTokenizer, KeepsWholeWordSpecialTokens) {
  EXPECT_EQ(pieces(uncased_tokenizer(), "[CLS] hello [MASK] [mask]"),
            (Strings{"[CLS]", "hello", "[MASK]", "[", "mask", "]"}));
  // Inside a longer word a special token is lowercased and split like text.
  EXPECT_EQ(pieces(uncased_tokenizer(), "hello[SEP]"), (Strings{"hello", "[", "sep", "]"}));
  // Clean-up runs first: a control character inside does not stop the
  // cased tokenizer from seeing "[SEP]", but the lowercasing regex does not
  // recognise it and lowercases it.
  EXPECT_EQ(pieces(cased_tokenizer(), "[SE\0P]"s), (Strings{"[SEP]"}));
  EXPECT_EQ(pieces(uncased_tokenizer(), "[SE\0P]"s), (Strings{"[", "sep", "]"}));
}

TEST(WordPieceTokenizer, CleansUpControlAndWhitespaceCharacters) {
  // U+2028, NBSP and ideographic space separate words; vertical tab, NUL,
  // U+FFFD, zero-width space and soft hyphen vanish without separating.
  EXPECT_EQ(pieces(uncased_tokenizer(), "a\xE2\x80\xA8" "b\xC2\xA0" "c\xE3\x80\x80" "d"), (Strings{"a", "b", "c", "d"}));
  EXPECT_EQ(pieces(uncased_tokenizer(), "a\vb c\0d e\xEF\xBF\xBD" "f"s), (Strings{"ab", "cd", "e", "##f"}));
  EXPECT_EQ(pieces(uncased_tokenizer(), "zero\xE2\x80\x8Bwidth soft\xC2\xADhyphen"),
            (Strings{"zero", "##wi", "##dt", "##h", "soft", "##hy", "##ph", "##en"}));
  EXPECT_TRUE(pieces(uncased_tokenizer(), " \t\xE3\x80\x80 ").empty());
}

TEST(WordPieceTokenizer, MatchesGreedilyLongestFirst) {
  const WordPieceTokenizer tokenizer = small_tokenizer({"un", "una", "##aff", "##ffable", "##able", "##a"});
  // "una" is longer than "un", then "##ffable" beats "##aff".
  EXPECT_EQ(pieces(tokenizer, "unaffable"), (Strings{"una", "##ffable"}));
  EXPECT_EQ(spans(tokenizer, "unaffable"), (Spans{{0, 3}, {3, 9}}));
}

TEST(WordPieceTokenizer, MakesAWordWithAnUnmatchablePartOneUnknownToken) {
  const WordPieceTokenizer tokenizer = small_tokenizer({"ab", "##c"});
  EXPECT_EQ(pieces(tokenizer, "abc abd ab"), (Strings{"ab", "##c", "[UNK]", "ab"}));
  EXPECT_EQ(spans(tokenizer, "abc abd ab"), (Spans{{0, 2}, {2, 3}, {4, 7}, {8, 10}}));
}

TEST(WordPieceTokenizer, MakesWordsLongerThan100CharactersUnknown) {
  const WordPieceTokenizer tokenizer = small_tokenizer({"a", "##a", "\xC3\xA9", "##\xC3\xA9"});
  EXPECT_EQ(tokenizer.tokenize(std::string(100, 'a')).size(), 100u);
  EXPECT_EQ(pieces(tokenizer, std::string(101, 'a')), (Strings{"[UNK]"}));
  // Counted in code points, not bytes.
  std::string accented;
  for (int i = 0; i < 100; ++i) accented += "\xC3\xA9";
  EXPECT_EQ(small_tokenizer({"\xC3\xA9", "##\xC3\xA9"}, cased()).tokenize(accented).size(), 100u);

  WordPieceOptions options;
  options.max_input_chars_per_word = 3;
  const WordPieceTokenizer short_words = small_tokenizer({"a", "##a"}, options);
  EXPECT_EQ(pieces(short_words, "aaa aaaa"), (Strings{"a", "##a", "##a", "[UNK]"}));
}

TEST(WordPieceTokenizer, GivesByteSpansInTheOriginalText) {
  // "Héllo" is 6 bytes; the accent is stripped but the span keeps it.
  EXPECT_EQ(pieces(uncased_tokenizer(), "H\xC3\xA9llo, w\xC3\xB6rld"), (Strings{"hello", ",", "world"}));
  EXPECT_EQ(spans(uncased_tokenizer(), "H\xC3\xA9llo, w\xC3\xB6rld"), (Spans{{0, 6}, {6, 7}, {8, 14}}));
  // Dropped characters inside a word stay inside its span.
  EXPECT_EQ(spans(uncased_tokenizer(), "  a\0b"s), (Spans{{2, 5}}));
  EXPECT_EQ(spans(uncased_tokenizer(), "\xE4\xB8\xAD\xE6\x96\x87"), (Spans{{0, 3}, {3, 6}}));
  // "İ" (2 bytes) becomes "i" + U+0307 (3 bytes), then "i".
  EXPECT_EQ(spans(uncased_tokenizer(), "x \xC4\xB0 y"), (Spans{{0, 1}, {2, 4}, {5, 6}}));
  EXPECT_EQ(spans(uncased_tokenizer(), "[CLS] hi"), (Spans{{0, 5}, {6, 8}}));
}

TEST(WordPieceTokenizer, RejectsInvalidUtf8WithItsOffset) {
  try {
    uncased_tokenizer().tokenize("ab\xFF" "cd");
    FAIL() << "expected InvalidUtf8Error";
  } catch (const InvalidUtf8Error& error) {
    EXPECT_EQ(error.byte_offset(), 2u);
  }
}

TEST(WordPieceTokenizer, HandlesHugeInputsInLinearTime) {
  // Each of these takes well under a second; a quadratic step would take minutes.
  constexpr double kGenerousSeconds = 10;
  std::vector<Token> tokens;

  std::string words;
  while (words.size() < (1u << 20)) words += "Some words, and more words! ";
  EXPECT_LT(seconds_to_tokenize(uncased_tokenizer(), words, tokens), kGenerousSeconds);
  EXPECT_GT(tokens.size(), 100000u);

  EXPECT_LT(seconds_to_tokenize(uncased_tokenizer(), std::string(1u << 20, 'x'), tokens), kGenerousSeconds);
  EXPECT_EQ(tokens.size(), 1u);
  EXPECT_LT(seconds_to_tokenize(uncased_tokenizer(), std::string(1u << 20, '\0'), tokens), kGenerousSeconds);
  EXPECT_TRUE(tokens.empty());

  std::string marks = "a";
  for (int i = 0; i < 100000; ++i) marks += (i % 2 ? "\xCC\x81" : "\xCC\xA3");  // acute (230) and dot below (220)
  EXPECT_LT(seconds_to_tokenize(uncased_tokenizer(), marks, tokens), kGenerousSeconds);
  EXPECT_EQ(pieces(uncased_tokenizer(), marks), (Strings{"a"}));
  EXPECT_EQ((Spans{{tokens[0].span.begin, tokens[0].span.end}}), (Spans{{0, marks.size()}}));
  EXPECT_LT(seconds_to_tokenize(cased_tokenizer(), marks, tokens), kGenerousSeconds);
  EXPECT_EQ(pieces(cased_tokenizer(), marks), (Strings{"[UNK]"}));
}

TEST(WordPieceTokenizer, ReadsVocabularyLinesAsPythonDoes) {
  const test::TempDir dir;
  const auto file = dir.path() / "vocab.txt";
  std::ofstream(file, std::ios::binary) << "[PAD]\r\n[UNK]\r[CLS]\n[SEP]\n\nhello\nhello\nworld";
  const auto tokenizer = WordPieceTokenizer::from_vocab_file(file, {});
  EXPECT_EQ(tokenizer->vocab_size(), 8u);
  EXPECT_EQ(tokenizer->id_to_token(1), "[UNK]");
  EXPECT_EQ(tokenizer->id_to_token(4), "");
  EXPECT_EQ(tokenizer->id_to_token(7), "world");
  // A repeated token gets the id of its last line.
  EXPECT_EQ(tokenizer->tokenize("hello")[0].id, 6);
  EXPECT_EQ(tokenizer->special_ids().unk, 1);
  EXPECT_EQ(tokenizer->special_ids().mask, -1);
  EXPECT_THROW(tokenizer->id_to_token(8), std::out_of_range);
}

TEST(WordPieceTokenizer, RejectsBadVocabularies) {
  const test::TempDir dir;
  const auto file = dir.path() / "vocab.txt";
  std::ofstream(file, std::ios::binary) << "[UNK]\nbad\xFF\n[CLS]\n[SEP]\n";
  const std::string message =
      test::error_message<std::runtime_error>([&] { WordPieceTokenizer::from_vocab_file(file, {}); });
  EXPECT_CONTAINS(message, file.string());
  EXPECT_CONTAINS(message, "line 2");
  EXPECT_THROW(WordPieceTokenizer({"[CLS]", "[SEP]"}, {}), std::invalid_argument);
  EXPECT_THROW(WordPieceTokenizer::from_vocab_file(dir.path() / "missing.txt", {}), std::runtime_error);
}

TEST(WordPieceTokenizer, AVocabularyWithoutItsUnknownTokenIsAnErrorNamingTheFile) {
  const test::TempDir dir;
  std::ofstream(dir.path() / "vocab.txt") << "[PAD]\n[CLS]\n[SEP]\nhello\n";
  const auto file = dir.path() / "vocab.txt";
  const std::string expected = file.string() + ": unknown token \"[UNK]\" is not in the vocabulary";
  EXPECT_EQ(test::error_message<std::runtime_error>([&] { WordPieceTokenizer::from_vocab_file(file, {}); }), expected);
  EXPECT_EQ(test::error_message<std::runtime_error>([&] { load_tokenizer(dir.path()); }), expected);
}

TEST(WordPieceTokenizer, RefusesAVocabularyThatIsNotARegularFile) {
  const test::TempDir dir;
  std::filesystem::create_symlink("/dev/zero", dir.path() / "vocab.txt");
  EXPECT_EQ(test::error_message<std::runtime_error>([&] { load_tokenizer(dir.path()); }),
            (dir.path() / "vocab.txt").string() + " is not a regular file");
}

// Lines of every corpus, joined by spaces until the text passes `bytes`.
std::string long_text(std::size_t bytes) {
  std::vector<std::string> lines;
  for (const char* corpus : {"edge_cases", "english", "multilingual", "news"}) {
    for (std::string& line : test::read_lines(test::fixtures_dir() / "corpora" / (std::string(corpus) + ".txt"))) {
      if (find_invalid_utf8(line) == std::string::npos) lines.push_back(std::move(line));
    }
  }
  std::string text;
  while (text.size() < bytes) {
    for (const std::string& line : lines) text += line + " ";
  }
  return text;
}

TEST(WordPieceTokenizer, ALongTextComesOutAsItsWordsOneByOne) {
  // Tokenized in 64 KiB chunks, a text must give what its words give alone.
  const std::string text = long_text(300000);
  const std::unique_ptr<const WordPieceTokenizer> chinese =
      WordPieceTokenizer::from_vocab_file(test::fixtures_dir() / "vocab/bert-base-chinese/vocab.txt", cased());
  for (const WordPieceTokenizer* tokenizer : {&uncased_tokenizer(), chinese.get()}) {
    std::vector<Token> expected;
    std::size_t begin = 0;
    while (begin < text.size()) {
      const std::size_t end = text.find(' ', begin);
      for (Token token : tokenizer->tokenize(text.substr(begin, end - begin))) {
        token.span = {token.span.begin + begin, token.span.end + begin};
        expected.push_back(token);
      }
      begin = end + 1;
    }
    const std::vector<Token> tokens = tokenizer->tokenize(text);
    ASSERT_EQ(tokens.size(), expected.size());
    for (std::size_t i = 0; i < tokens.size(); ++i) {
      ASSERT_EQ(tokens[i].id, expected[i].id) << "token " << i;
      ASSERT_EQ(tokens[i].span, expected[i].span) << "token " << i;
    }
  }

  // Without spaces, chunks end before CJK characters.
  std::string cjk;
  for (int i = 0; i < 50000; ++i) cjk += "\xE4\xB8\xAD" "\xE6\x96\x87";  // 中文
  const std::vector<Token> tokens = chinese->tokenize(cjk);
  ASSERT_EQ(tokens.size(), 100000u);
  for (std::size_t i = 0; i < tokens.size(); ++i) {
    ASSERT_EQ(tokens[i].id, tokens[i % 2].id) << "token " << i;
    ASSERT_EQ(tokens[i].span, (Span{3 * i, 3 * i + 3})) << "token " << i;
  }
}

TEST(WordPieceTokenizer, StopsOnceItHasMoreTokensThanAsked) {
  const std::string text = long_text(1000000);
  const std::vector<Token> all = uncased_tokenizer().tokenize(text);
  const std::vector<Token> first = uncased_tokenizer().tokenize(text, 10);
  ASSERT_GT(first.size(), 10u);
  EXPECT_LT(first.size(), all.size() / 4);
  for (std::size_t i = 0; i < first.size(); ++i) EXPECT_EQ(first[i].id, all[i].id) << "token " << i;
}

}  // namespace
}  // namespace bert_embed
