// Every line of every tokenizer golden (HuggingFace transformers v4.29.2 slow
// BertTokenizer, AlbertTokenizer, RobertaTokenizer, GPT2Tokenizer,
// XLMRobertaTokenizer, MPNetTokenizer, XLNetTokenizer, DistilBertTokenizer,
// ElectraTokenizer) must come out with identical ids.
#include <gtest/gtest.h>

#include <algorithm>
#include <cctype>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <functional>
#include <memory>
#include <ostream>
#include <sstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "bert_embed/text/tokenizer.h"
#include "bert_embed/text/wordpiece_tokenizer.h"
#include "fixtures.h"
#include "golden.h"

namespace bert_embed {
namespace {

struct GoldenCase {
  std::string name;  // directory under fixtures/tokenizer
  std::function<std::unique_ptr<Tokenizer>(const std::filesystem::path& fixtures)> make;
};

struct GoldenFile {
  std::string corpus;  // file under fixtures/corpora, without .txt
  std::string golden;  // file under fixtures/tokenizer/<case>
  std::size_t max_length;
};

const std::vector<GoldenCase>& golden_cases() {
  static const std::vector<GoldenCase> cases = {
      {"uncased", [](const auto& fixtures) { return load_tokenizer(fixtures / "vocab/bert-base-uncased"); }},
      {"cased-on-uncased-vocab",
       [](const auto& fixtures) {
         WordPieceOptions options;
         options.lowercase = false;
         std::unique_ptr<const PieceTokenizer> pieces =
             WordPieceTokenizer::from_vocab_file(fixtures / "vocab/bert-base-uncased/vocab.txt", options);
         const SpecialTokenIds special_ids = pieces->special_ids();
         return std::make_unique<Tokenizer>(std::move(pieces), special_ids);
       }},
      {"chinese", [](const auto& fixtures) { return load_tokenizer(fixtures / "vocab/bert-base-chinese"); }},
      {"multilingual-uncased",
       [](const auto& fixtures) { return load_tokenizer(fixtures / "vocab/bert-base-multilingual-uncased"); }},
      {"albert", [](const auto& fixtures) { return load_tokenizer(fixtures / "models/tiny-albert"); }},
      {"roberta", [](const auto& fixtures) { return load_tokenizer(fixtures / "models/tiny-roberta"); }},
      {"gpt2", [](const auto& fixtures) { return load_tokenizer(fixtures / "models/tiny-gpt2"); }},
      {"xlm-roberta-testspm",
       [](const auto& fixtures) { return load_tokenizer(fixtures / "models/tiny-xlm-roberta"); }},
      {"mpnet", [](const auto& fixtures) { return load_tokenizer(fixtures / "models/tiny-mpnet"); }},
      {"xlnet-testspm", [](const auto& fixtures) { return load_tokenizer(fixtures / "models/tiny-xlnet"); }},
  };
  return cases;
}

const std::vector<GoldenFile>& golden_files() {
  static const std::vector<GoldenFile> files = {
      {"english", "english.ids.jsonl", 0},
      {"english", "english.max16.ids.jsonl", 16},
      {"multilingual", "multilingual.ids.jsonl", 0},
      {"edge_cases", "edge_cases.ids.jsonl", 0},
  };
  return files;
}

struct GoldenParam {
  std::size_t case_index;
  std::size_t file_index;
};

void PrintTo(const GoldenParam& param, std::ostream* out) {
  *out << golden_cases()[param.case_index].name << "/" << golden_files()[param.file_index].golden;
}

std::string describe(const Tokenizer& tokenizer, const std::vector<std::int64_t>& ids) {
  std::string out = "[";
  for (std::size_t i = 0; i < ids.size(); ++i) {
    if (i > 0) out += ", ";
    out += std::to_string(ids[i]) + " " + nlohmann::json(tokenizer.id_to_token(ids[i])).dump();
  }
  return out + "]";
}

class TokenizerGoldenTest : public ::testing::TestWithParam<GoldenParam> {};

TEST_P(TokenizerGoldenTest, IdsMatchEveryLine) {
  const GoldenCase& golden_case = golden_cases()[GetParam().case_index];
  const GoldenFile& file = golden_files()[GetParam().file_index];
  const std::filesystem::path fixtures = test::fixtures_dir();
  const std::unique_ptr<Tokenizer> tokenizer = golden_case.make(fixtures);
  const std::vector<std::string> texts = test::read_lines(fixtures / "corpora" / (file.corpus + ".txt"));
  const std::vector<std::vector<std::int64_t>> expected_lines =
      test::read_ids_jsonl(fixtures / "tokenizer" / golden_case.name / file.golden);
  ASSERT_EQ(texts.size(), expected_lines.size());

  constexpr std::size_t kReported = 5;
  std::size_t mismatches = 0;
  std::ostringstream report;
  for (std::size_t line = 0; line < texts.size(); ++line) {
    const std::vector<std::int64_t>& expected = expected_lines[line];
    const std::vector<std::int64_t> actual = tokenizer->encode(texts[line], file.max_length).ids;
    if (actual == expected) continue;
    if (++mismatches > kReported) continue;
    report << "line " << line + 1 << ": " << nlohmann::json(texts[line]).dump() << "\n  expected "
           << describe(*tokenizer, expected) << "\n  actual   " << describe(*tokenizer, actual) << "\n";
  }
  EXPECT_EQ(mismatches, 0u) << "of " << texts.size() << " lines; first ones:\n" << report.str();
}

std::vector<GoldenParam> all_params() {
  std::vector<GoldenParam> params;
  for (std::size_t c = 0; c < golden_cases().size(); ++c) {
    for (std::size_t f = 0; f < golden_files().size(); ++f) {
      // The ALBERT golden has no truncated variant.
      if (golden_cases()[c].name == "albert" && golden_files()[f].max_length != 0) continue;
      params.push_back({c, f});
    }
  }
  return params;
}

// GoogleTest names allow letters, digits and underscores only.
std::string test_name(std::string name) {
  for (char& c : name) {
    if (!std::isalnum(static_cast<unsigned char>(c))) c = '_';
  }
  return name;
}

std::string param_name(const ::testing::TestParamInfo<GoldenParam>& info) {
  const std::string name = golden_cases()[info.param.case_index].name + "_" +
                           golden_files()[info.param.file_index].golden;
  return test_name(name.substr(0, name.size() - std::string(".ids.jsonl").size()));
}

INSTANTIATE_TEST_SUITE_P(AllCases, TokenizerGoldenTest, ::testing::ValuesIn(all_params()), param_name);

// The model goldens' ids: each checkpoint's own tokenizer files, truncated at
// 512 tokens as the reference ran the models.
class ModelGoldenIdsTest : public ::testing::TestWithParam<std::string> {};

TEST_P(ModelGoldenIdsTest, IdsMatchEveryLine) {
  const std::filesystem::path fixtures = test::fixtures_dir();
  const std::unique_ptr<Tokenizer> tokenizer = load_tokenizer(fixtures / "models" / GetParam());
  for (const char* corpus : {"english", "multilingual", "edge_cases"}) {
    const test::Golden golden(GetParam(), corpus);
    const std::vector<test::GoldenInput> inputs = golden.inputs();
    const std::vector<test::GoldenTokens> expected = golden.tokens();
    ASSERT_EQ(inputs.size(), expected.size()) << golden.dir();
    for (std::size_t line = 0; line < inputs.size(); ++line) {
      EXPECT_EQ(tokenizer->encode(inputs[line].text, 512).ids, expected[line].ids)
          << golden.dir() << " line " << line + 1;
    }
  }
}

INSTANTIATE_TEST_SUITE_P(AllModels, ModelGoldenIdsTest,
                         ::testing::Values("tiny-uncased", "tiny-mlm-uncased", "small-chinese",
                                           "mini-multilingual-uncased", "tiny-albert", "tiny-roberta",
                                           "tiny-xlm-roberta", "tiny-distilbert", "tiny-electra", "tiny-mpnet",
                                           "tiny-gpt2", "tiny-xlnet"),
                         [](const auto& info) { return test_name(info.param); });

// Literal special tokens in the text (each tokenizer's no-split tokens, with
// their lstrip/rstrip) and sentence pairs in each architecture's framing,
// with the token type ids where the tokenizer gives them.
const std::vector<std::string> kNewModels = {"tiny-roberta", "tiny-xlm-roberta", "tiny-distilbert", "tiny-electra",
                                             "tiny-mpnet",   "tiny-gpt2",        "tiny-xlnet"};

class ModelGoldenSpecialTest : public ::testing::TestWithParam<std::string> {};

TEST_P(ModelGoldenSpecialTest, SpecialLiteralsAndPairsMatch) {
  const std::unique_ptr<Tokenizer> tokenizer = load_tokenizer(test::fixtures_dir() / "models" / GetParam());
  for (const char* corpus : {"special_literals", "pairs"}) {
    const test::Golden golden(GetParam(), corpus);
    const std::vector<test::GoldenInput> inputs = golden.inputs();
    const std::vector<test::GoldenTokens> expected = golden.tokens();
    ASSERT_EQ(inputs.size(), expected.size()) << golden.dir();
    // DistilBERT has no token types: its tokenizer returns none.
    std::ifstream meta_file(golden.dir() / "meta.json");
    const nlohmann::json model_inputs = nlohmann::json::parse(meta_file).at("model_inputs");
    const bool has_type_ids =
        std::find(model_inputs.begin(), model_inputs.end(), "token_type_ids") != model_inputs.end();
    for (std::size_t line = 0; line < inputs.size(); ++line) {
      const Encoding encoding = golden.is_pairs() ? tokenizer->encode_pair(inputs[line].text, inputs[line].pair, 512)
                                                  : tokenizer->encode(inputs[line].text, 512);
      EXPECT_EQ(encoding.ids, expected[line].ids)
          << golden.dir() << " line " << line + 1 << "\n  expected " << describe(*tokenizer, expected[line].ids)
          << "\n  actual   " << describe(*tokenizer, encoding.ids);
      if (has_type_ids) {
        EXPECT_EQ(encoding.type_ids, expected[line].type_ids) << golden.dir() << " line " << line + 1;
      }
    }
  }
}

INSTANTIATE_TEST_SUITE_P(NewModels, ModelGoldenSpecialTest, ::testing::ValuesIn(kNewModels),
                         [](const auto& info) { return test_name(info.param); });

// Sentence pairs: [CLS] a [SEP] b [SEP], token types 0 then 1.
TEST(ModelGoldenPairsTest, IdsAndTypeIdsMatchEveryPair) {
  const test::Golden golden("tiny-uncased", "pairs");
  const std::unique_ptr<Tokenizer> tokenizer = load_tokenizer(test::fixtures_dir() / "models/tiny-uncased");
  const std::vector<test::GoldenInput> inputs = golden.inputs();
  const std::vector<test::GoldenTokens> expected = golden.tokens();
  ASSERT_EQ(inputs.size(), expected.size());
  std::size_t type_one_tokens = 0;
  for (std::size_t line = 0; line < inputs.size(); ++line) {
    const Encoding encoding = tokenizer->encode_pair(inputs[line].text, inputs[line].pair, 512);
    EXPECT_EQ(encoding.ids, expected[line].ids) << "pair " << line + 1;
    EXPECT_EQ(encoding.type_ids, expected[line].type_ids) << "pair " << line + 1;
    type_one_tokens += std::count(expected[line].type_ids.begin(), expected[line].type_ids.end(), 1);
  }
  EXPECT_GT(type_one_tokens, inputs.size()) << "the golden has no second texts";
}

}  // namespace
}  // namespace bert_embed
