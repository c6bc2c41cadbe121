#include "bert_embed/text/tokenizer.h"

#include <gtest/gtest.h>

#include <fstream>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "bert_embed/text/bpe_tokenizer.h"
#include "bert_embed/text/sentencepiece_tokenizer.h"
#include "bert_embed/text/tokenizer_description.h"
#include "bert_embed/text/wordpiece_tokenizer.h"
#include "expect_error.h"
#include "fixtures.h"
#include "temp_dir.h"

namespace bert_embed {
namespace {

using Ids = std::vector<std::int64_t>;
using Spans = std::vector<std::pair<std::size_t, std::size_t>>;

// Words separated by single spaces; a word's id is 100 + its length. Stops
// as soon as it has more than max_tokens tokens, unless told to read on.
class WordLengthPieces final : public PieceTokenizer {
 public:
  explicit WordLengthPieces(bool stops_early = true) : stops_early_(stops_early) {
    special_.cls = 1;
    special_.sep = 2;
  }
  std::vector<Token> tokenize(std::string_view text, std::size_t max_tokens = kAllTokens) const override {
    std::vector<Token> tokens;
    std::size_t begin = 0;
    while (begin < text.size() && (!stops_early_ || tokens.size() <= max_tokens)) {
      std::size_t end = text.find(' ', begin);
      if (end == std::string_view::npos) end = text.size();
      tokens.push_back({static_cast<std::int64_t>(100 + end - begin), {begin, end}});
      begin = end + 1;
    }
    return tokens;
  }
  std::string id_to_token(std::int64_t id) const override { return std::to_string(id); }
  std::int64_t token_to_id(const std::string& token) const override { return std::stoll(token); }
  std::size_t vocab_size() const override { return 200; }
  const SpecialTokenIds& special_ids() const override { return special_; }

 private:
  bool stops_early_;
  SpecialTokenIds special_;
};

// WordLengthPieces framed as BERT.
class WordLengthTokenizer : public Tokenizer {
 public:
  explicit WordLengthTokenizer(bool stops_early = true)
      : Tokenizer(std::make_unique<WordLengthPieces>(stops_early), WordLengthPieces().special_ids()) {}
};

std::string words(std::size_t count) {
  std::string text;
  for (std::size_t i = 0; i < count; ++i) text += i ? " w" : "w";
  return text;
}

Spans spans_of(const Encoding& encoding) {
  Spans out;
  for (const Span& span : encoding.spans) out.emplace_back(span.begin, span.end);
  return out;
}

// How many tokens of each text survive encode_pair's truncation.
std::pair<std::size_t, std::size_t> kept_after_truncation(std::size_t first_words, std::size_t second_words,
                                                          std::size_t max_length) {
  const Encoding encoding = WordLengthTokenizer().encode_pair(words(first_words), words(second_words), max_length);
  std::pair<std::size_t, std::size_t> kept{0, 0};
  for (std::size_t i = 0; i < encoding.size(); ++i) {
    if (encoding.special[i]) continue;
    (encoding.type_ids[i] == 0 ? kept.first : kept.second) += 1;
  }
  return kept;
}

TEST(TokenizerEncode, FramesTheTextWithClsAndSep) {
  const Encoding encoding = WordLengthTokenizer().encode("a bb ccc", 0);
  EXPECT_EQ(encoding.ids, (Ids{1, 101, 102, 103, 2}));
  EXPECT_EQ(encoding.type_ids, (Ids{0, 0, 0, 0, 0}));
  EXPECT_EQ(encoding.special, (std::vector<bool>{true, false, false, false, true}));
  EXPECT_EQ(spans_of(encoding), (Spans{{0, 0}, {0, 1}, {2, 4}, {5, 8}, {0, 0}}));
  EXPECT_FALSE(encoding.truncated);
  EXPECT_EQ(WordLengthTokenizer().encode("", 0).ids, (Ids{1, 2}));
}

TEST(TokenizerEncode, TruncatesToMaxLengthCountingSpecialTokens) {
  const WordLengthTokenizer tokenizer;
  EXPECT_FALSE(tokenizer.encode("a bb ccc", 5).truncated);
  const Encoding truncated = tokenizer.encode("a bb ccc", 4);
  EXPECT_EQ(truncated.ids, (Ids{1, 101, 102, 2}));
  EXPECT_TRUE(truncated.truncated);
  EXPECT_EQ(tokenizer.encode("a bb ccc", 2).ids, (Ids{1, 2}));
  EXPECT_THROW(tokenizer.encode("a", 1), std::invalid_argument);
}

TEST(TokenizerEncodePair, FramesBothTextsWithTypeIds) {
  const Encoding encoding = WordLengthTokenizer().encode_pair("a bb", "ccc d", 0);
  EXPECT_EQ(encoding.ids, (Ids{1, 101, 102, 2, 103, 101, 2}));
  EXPECT_EQ(encoding.type_ids, (Ids{0, 0, 0, 0, 1, 1, 1}));
  EXPECT_EQ(encoding.special, (std::vector<bool>{true, false, false, true, false, false, true}));
  // Spans of the second text index the second text.
  EXPECT_EQ(spans_of(encoding), (Spans{{0, 0}, {0, 1}, {2, 4}, {0, 0}, {0, 3}, {4, 5}, {0, 0}}));
  EXPECT_FALSE(encoding.truncated);
}

TEST(TokenizerEncodePair, TruncatesLongestFirstLikeTransformers) {
  // Worked by hand from truncate_sequences(strategy="longest_first"): one
  // token at a time from the longer text, from the second one on a tie.
  EXPECT_EQ(kept_after_truncation(5, 3, 8), (std::pair<std::size_t, std::size_t>{3, 2}));
  EXPECT_EQ(kept_after_truncation(2, 6, 7), (std::pair<std::size_t, std::size_t>{2, 2}));
  EXPECT_EQ(kept_after_truncation(3, 3, 7), (std::pair<std::size_t, std::size_t>{2, 2}));
  EXPECT_EQ(kept_after_truncation(4, 1, 6), (std::pair<std::size_t, std::size_t>{2, 1}));
  EXPECT_EQ(kept_after_truncation(4, 1, 8), (std::pair<std::size_t, std::size_t>{4, 1}));
  EXPECT_EQ(kept_after_truncation(4, 2, 3), (std::pair<std::size_t, std::size_t>{0, 0}));
  EXPECT_TRUE(WordLengthTokenizer().encode_pair("a b", "c", 5).truncated);
  EXPECT_THROW(WordLengthTokenizer().encode_pair("a", "b", 2), std::invalid_argument);
}

TEST(TokenizerEncodePair, TruncatesAlikeWhetherThePiecesStopEarlyOrNot) {
  // Encoding reads only as many tokens as truncation needs; the outcome must
  // be the one of reading all.
  const WordLengthTokenizer stopping;
  const WordLengthTokenizer reading_all(false);
  for (std::size_t first = 0; first < 12; ++first) {
    for (std::size_t second = 0; second < 12; ++second) {
      for (std::size_t max_length = 3; max_length < 20; ++max_length) {
        const Encoding expected = reading_all.encode_pair(words(first), words(second), max_length);
        const Encoding actual = stopping.encode_pair(words(first), words(second), max_length);
        ASSERT_EQ(actual.ids, expected.ids) << first << " " << second << " " << max_length;
        ASSERT_EQ(actual.type_ids, expected.type_ids) << first << " " << second << " " << max_length;
        ASSERT_EQ(actual.truncated, expected.truncated) << first << " " << second << " " << max_length;
      }
    }
    EXPECT_EQ(stopping.encode(words(first), 6).ids, reading_all.encode(words(first), 6).ids);
    EXPECT_EQ(stopping.encode(words(first), 6).truncated, first > 4);
  }
}

TEST(MakeTokenizer, SentencePieceUnknownIdMustBeTheModels) {
  TokenizerDescription description;
  description.pieces = SentencePieceSettings{};
  description.vocabulary_file = test::fixtures_dir() / "models/tiny-albert/spiece.model";
  description.special_ids = {2, 3, 0, 1, 4};
  description.origin = "the test's description";
  EXPECT_EQ(make_tokenizer(description)->encode("hello", 0).ids.front(), 2);

  description.special_ids.unk = 5;
  const std::string message = test::error_message<std::runtime_error>([&] { make_tokenizer(description); });
  EXPECT_CONTAINS(message, description.vocabulary_file.string() + ": the unk token");
  EXPECT_CONTAINS(message, "the test's description gives id 5");
}

// Descriptions as bundle.json gives them reproduce the checkpoints' own
// tokenizers: byte-level BPE without framing, SentencePiece with the fairseq
// offset, XLNet's added tokens past the SentencePiece model.
TEST(MakeTokenizer, NewKindsMatchTheCheckpointDirectories) {
  const auto models = test::fixtures_dir() / "models";
  const std::vector<std::string> lines = test::read_lines(test::fixtures_dir() / "corpora/edge_cases.txt");
  const auto expect_same = [&](const TokenizerDescription& description, const std::string& model) {
    SCOPED_TRACE(model);
    const auto described = make_tokenizer(description);
    const auto loaded = load_tokenizer(models / model);
    EXPECT_EQ(described->vocab_size(), loaded->vocab_size());
    for (const std::string& line : lines) {
      EXPECT_EQ(described->encode(line, 0).ids, loaded->encode(line, 0).ids) << line;
    }
  };
  TokenizerDescription gpt2;
  gpt2.pieces = BytePairSettings{models / "tiny-gpt2/merges.txt"};
  gpt2.vocabulary_file = models / "tiny-gpt2/vocab.json";
  gpt2.framing = Framing::kNone;
  gpt2.special_ids = {-1, -1, 50256, 50256, -1};
  gpt2.added_tokens = {{"<|endoftext|>", 50256, false, false}};
  gpt2.origin = "the test's description";
  expect_same(gpt2, "tiny-gpt2");

  TokenizerDescription xlmr;
  xlmr.pieces = SentencePieceSettings{false, false, true, 1};
  xlmr.vocabulary_file = models / "tiny-xlm-roberta/sentencepiece.bpe.model";
  xlmr.framing = Framing::kRoberta;
  xlmr.special_ids = {0, 2, 1, 3, 1001};
  xlmr.added_tokens = {{"<s>", 0, true, true},    {"</s>", 2, true, true},      {"<pad>", 1, true, true},
                       {"<unk>", 3, true, true},  {"<mask>", 1001, true, false}};
  xlmr.origin = "the test's description";
  expect_same(xlmr, "tiny-xlm-roberta");

  TokenizerDescription xlnet;
  xlnet.pieces = SentencePieceSettings{false, true, false, 0};
  xlnet.vocabulary_file = models / "tiny-xlnet/spiece.model";
  xlnet.framing = Framing::kXlnet;
  xlnet.special_ids = {1002, 1000, 1001, 0, 1003};
  xlnet.added_tokens = {{"<sep>", 1000, true, true}, {"<pad>", 1001, true, true},  {"<cls>", 1002, true, true},
                        {"<mask>", 1003, true, false}, {"<eop>", 1004, true, true}, {"<eod>", 1005, true, true},
                        {"<s>", 1, true, true},       {"</s>", 2, true, true},     {"<unk>", 0, true, true}};
  xlnet.origin = "the test's description";
  expect_same(xlnet, "tiny-xlnet");
}

TEST(Tokenizer, AddedTokensStripTheSidesTheySay) {
  const auto fixtures = test::fixtures_dir();
  const auto pieces = [&] {
    return WordPieceTokenizer::from_vocab_file(fixtures / "models/tiny-uncased/vocab.txt", WordPieceOptions{});
  };
  const SpecialTokenIds ids = pieces()->special_ids();
  const Tokenizer left(pieces(), ids, Framing::kNone, {{"<m>", 103, true, false}});
  const std::vector<Token> tokens = left.tokenize("a <m> b<m>c");
  ASSERT_EQ(tokens.size(), 5u);
  EXPECT_EQ(tokens[1].id, 103);
  EXPECT_EQ(tokens[1].span, (Span{2, 5}));
  EXPECT_EQ(tokens[3].id, 103);
  // Truncation stops early across added tokens too.
  EXPECT_EQ(left.encode("a <m> b<m>c", 3).ids.size(), 3u);
  EXPECT_EQ(left.id_to_token(103), "<m>");
}

TEST(LoadTokenizer, PicksTheImplementationFromTheFiles) {
  const auto fixtures = test::fixtures_dir();
  const auto uncased = load_tokenizer(fixtures / "vocab/bert-base-uncased");
  ASSERT_NE(dynamic_cast<const WordPieceTokenizer*>(&uncased->pieces()), nullptr);
  EXPECT_TRUE(dynamic_cast<const WordPieceTokenizer&>(uncased->pieces()).options().lowercase);
  EXPECT_EQ(uncased->special_ids().cls, 101);
  EXPECT_EQ(uncased->vocab_size(), 30522u);

  const auto chinese = load_tokenizer(fixtures / "vocab/bert-base-chinese");
  EXPECT_FALSE(dynamic_cast<const WordPieceTokenizer&>(chinese->pieces()).options().lowercase);

  const auto albert = load_tokenizer(fixtures / "models/tiny-albert");
  EXPECT_NE(dynamic_cast<const SentencePieceTokenizer*>(&albert->pieces()), nullptr);

  const auto gpt2 = load_tokenizer(fixtures / "models/tiny-gpt2");
  EXPECT_NE(dynamic_cast<const BytePairTokenizer*>(&gpt2->pieces()), nullptr);
  EXPECT_EQ(gpt2->framing(), Framing::kNone);
  EXPECT_EQ(gpt2->special_ids().pad, 50256);
  EXPECT_TRUE(gpt2->encode("", 0).ids.empty());
  EXPECT_EQ(load_tokenizer(fixtures / "models/tiny-roberta")->framing(), Framing::kRoberta);
  EXPECT_EQ(load_tokenizer(fixtures / "models/tiny-mpnet")->special_ids().unk, 104);
  const auto xlnet = load_tokenizer(fixtures / "models/tiny-xlnet");
  EXPECT_EQ(xlnet->framing(), Framing::kXlnet);
  EXPECT_EQ(xlnet->vocab_size(), 1006u);
  EXPECT_EQ(xlnet->special_ids().cls, 1002);
}

TEST(LoadTokenizer, ReadsTokenizerJsonLikeVocabTxt) {
  const auto fixtures = test::fixtures_dir();
  std::vector<std::string> lines = test::read_lines(fixtures / "corpora/edge_cases.txt");
  const std::vector<std::string> english = test::read_lines(fixtures / "corpora/english.txt");
  lines.insert(lines.end(), english.begin(), english.end());
  for (const char* name : {"bert-base-uncased", "bert-base-chinese"}) {
    const test::TempDir dir;
    std::filesystem::copy_file(fixtures / "vocab" / name / "tokenizer.json", dir.path() / "tokenizer.json");
    const auto from_json = load_tokenizer(dir.path());
    const auto from_vocab = load_tokenizer(fixtures / "vocab" / name);
    ASSERT_EQ(from_json->vocab_size(), from_vocab->vocab_size()) << name;
    for (const std::string& line : lines) EXPECT_EQ(from_json->encode(line, 0).ids, from_vocab->encode(line, 0).ids);
  }
}

std::string load_error(const std::filesystem::path& dir) {
  SCOPED_TRACE("loading " + dir.string());
  return test::error_message<std::runtime_error>([&] { load_tokenizer(dir); });
}

TEST(LoadTokenizer, NamesWhatIsMissingOrMalformed) {
  const test::TempDir empty;
  EXPECT_NE(load_error(empty.path()).find(empty.path().string()), std::string::npos);
  EXPECT_NE(load_error(empty.path()).find("vocab.txt"), std::string::npos);
  EXPECT_NE(load_error(empty.path() / "absent").find("absent"), std::string::npos);

  const auto vocab = test::fixtures_dir() / "vocab/bert-base-uncased/vocab.txt";
  const test::TempDir bad_json;
  std::filesystem::copy_file(vocab, bad_json.path() / "vocab.txt");
  std::ofstream(bad_json.path() / "tokenizer_config.json") << "{\"do_lower_case\": tru";
  EXPECT_NE(load_error(bad_json.path()).find("tokenizer_config.json"), std::string::npos);

  const test::TempDir bad_field;
  std::filesystem::copy_file(vocab, bad_field.path() / "vocab.txt");
  std::ofstream(bad_field.path() / "tokenizer_config.json") << R"({"do_lower_case": "yes"})";
  EXPECT_NE(load_error(bad_field.path()).find("do_lower_case"), std::string::npos);

  const test::TempDir not_wordpiece;
  std::ofstream(not_wordpiece.path() / "tokenizer.json") << R"({"model": {"type": "BPE", "vocab": {}}})";
  const std::string message = load_error(not_wordpiece.path());
  EXPECT_NE(message.find("tokenizer.json"), std::string::npos) << message;
  EXPECT_NE(message.find("model.type"), std::string::npos) << message;
}

}  // namespace
}  // namespace bert_embed
