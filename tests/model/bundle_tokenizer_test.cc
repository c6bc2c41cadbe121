// The tokenizer a bundle's bundle.json describes (read_bundle_info's
// tokenizer section, load_bundle_tokenizer).
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "bert_embed/model/bundle.h"
#include "bert_embed/text/tokenizer.h"
#include "bert_embed/text/wordpiece_tokenizer.h"
#include "expect_error.h"
#include "fixtures.h"
#include "temp_dir.h"

namespace bert_embed {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

json read_json(const fs::path& file) { return json::parse(std::ifstream(file)); }

// bundle.json and the vocabulary of a test bundle, without its
// tokenizer_config.json (and without the model, which these tests need not).
void copy_tokenizer_bundle(const std::string& model, const fs::path& to) {
  const fs::path from = test::test_bundle(model);
  fs::copy_file(from / "bundle.json", to / "bundle.json");
  const json bundle = read_json(from / "bundle.json");
  for (const json& file : bundle["tokenizer"]["files"]) {
    if (file != "tokenizer_config.json") fs::copy_file(from / file.get<std::string>(), to / file.get<std::string>());
  }
}

void edit_bundle_json(const fs::path& dir, const json::json_pointer& field, json value) {
  json bundle = read_json(dir / "bundle.json");
  bundle[field] = std::move(value);
  std::ofstream(dir / "bundle.json") << bundle.dump();
}

std::string bundle_tokenizer_error(const fs::path& dir) {
  return test::error_message<std::runtime_error>([&] { load_bundle_tokenizer(read_bundle_info(dir)); });
}

TEST(BundleTokenizer, TakesItsSettingsFromBundleJsonAlone) {
  // small-chinese is cased: without tokenizer_config.json, guessing from the
  // files would lowercase.
  const test::TempDir dir;
  copy_tokenizer_bundle("small-chinese", dir.path());
  const auto tokenizer = load_bundle_tokenizer(read_bundle_info(dir.path()));
  const std::vector<Token> tokens = tokenizer->tokenize("A");
  ASSERT_EQ(tokens.size(), 1u);
  EXPECT_EQ(tokenizer->id_to_token(tokens[0].id), "A");
  EXPECT_FALSE(dynamic_cast<const WordPieceTokenizer&>(tokenizer->pieces()).options().lowercase);

  edit_bundle_json(dir.path(), json::json_pointer("/tokenizer/do_lower_case"), true);
  const auto lowercasing = load_bundle_tokenizer(read_bundle_info(dir.path()));
  EXPECT_EQ(lowercasing->id_to_token(lowercasing->tokenize("A").at(0).id), "a");
}

TEST(BundleTokenizer, FramesWithTheBundlesSpecialIds) {
  const auto tokenizer = load_bundle_tokenizer(read_bundle_info(test::test_bundle("tiny-uncased")));
  const SpecialTokenIds& ids = tokenizer->special_ids();
  EXPECT_EQ(ids.cls, 101);
  EXPECT_EQ(ids.sep, 102);
  EXPECT_EQ(ids.pad, 0);
  EXPECT_EQ(ids.unk, 100);
  EXPECT_EQ(ids.mask, 103);
  const Encoding encoding = tokenizer->encode("hello world", 0);
  EXPECT_EQ(encoding.ids.front(), 101);
  EXPECT_EQ(encoding.ids.back(), 102);
}

TEST(BundleTokenizer, AlbertBundleTokenizesAsItsCheckpoint) {
  const auto from_bundle = load_bundle_tokenizer(read_bundle_info(test::test_bundle("tiny-albert")));
  const auto from_checkpoint = load_tokenizer(test::fixtures_dir() / "models/tiny-albert");
  EXPECT_EQ(from_bundle->special_ids().cls, from_checkpoint->special_ids().cls);
  for (const std::string& line : test::read_lines(test::fixtures_dir() / "corpora/edge_cases.txt")) {
    EXPECT_EQ(from_bundle->encode(line, 0).ids, from_checkpoint->encode(line, 0).ids) << line;
  }
}

TEST(BundleTokenizer, NamesTheMissingSetting) {
  const test::TempDir dir;
  copy_tokenizer_bundle("tiny-uncased", dir.path());
  json bundle = read_json(dir.path() / "bundle.json");
  bundle["tokenizer"].erase("strip_accents");
  std::ofstream(dir.path() / "bundle.json") << bundle.dump();
  const std::string message = bundle_tokenizer_error(dir.path());
  EXPECT_CONTAINS(message, (dir.path() / "bundle.json").string());
  EXPECT_CONTAINS(message, "field 'tokenizer.strip_accents' missing");
}

TEST(BundleTokenizer, NamesFilesThatHoldNoVocabulary) {
  const test::TempDir dir;
  copy_tokenizer_bundle("tiny-uncased", dir.path());
  edit_bundle_json(dir.path(), json::json_pointer("/tokenizer/files"), {"tokenizer_config.json"});
  EXPECT_CONTAINS(bundle_tokenizer_error(dir.path()), "field 'tokenizer.files' names no vocabulary");
}

TEST(BundleTokenizer, SpecialIdOutsideTheVocabularyNamesBothFiles) {
  const test::TempDir dir;
  copy_tokenizer_bundle("tiny-uncased", dir.path());
  edit_bundle_json(dir.path(), json::json_pointer("/tokenizer/special_ids/unk"), 40000);
  const std::string message = bundle_tokenizer_error(dir.path());
  EXPECT_CONTAINS(message, (dir.path() / "vocab.txt").string() + ": has 30522 tokens, so no unk token id 40000");
  EXPECT_CONTAINS(message, "bundle.json's tokenizer.special_ids");
}

TEST(BundleTokenizer, SpecialIdThatIsNotItsTokensIdNamesTheVocabulary) {
  // [UNK] listed again at the end: the vocabulary's id for it is the last.
  const test::TempDir dir;
  copy_tokenizer_bundle("tiny-uncased", dir.path());
  std::ofstream(dir.path() / "vocab.txt", std::ios::app) << "[UNK]\n";
  const std::string message = bundle_tokenizer_error(dir.path());
  EXPECT_CONTAINS(message, (dir.path() / "vocab.txt").string() + ": the unk token \"[UNK]\" has id 30522 there");
  EXPECT_CONTAINS(message, "gives id 100");
}

TEST(BundleTokenizer, RefusesAVocabularyThatIsNotARegularFile) {
  // Read whole, /dev/zero would take all memory.
  const test::TempDir dir;
  copy_tokenizer_bundle("tiny-uncased", dir.path());
  fs::remove(dir.path() / "vocab.txt");
  fs::create_symlink("/dev/zero", dir.path() / "vocab.txt");
  EXPECT_CONTAINS(bundle_tokenizer_error(dir.path()), (dir.path() / "vocab.txt").string() + " is not a regular file");
}

TEST(BundleTokenizer, RefusesATokenizerWithMoreIdsThanTheModel) {
  const test::TempDir dir;
  copy_tokenizer_bundle("tiny-uncased", dir.path());
  edit_bundle_json(dir.path(), json::json_pointer("/vocab_size"), 1000);
  EXPECT_CONTAINS(bundle_tokenizer_error(dir.path()), "the tokenizer has 30522 ids");
}

// A bundle without framing, added_tokens or id_offset (written before they
// existed) reads as BERT framing with no added tokens; with them, the
// framing and the literal tokens are bundle.json's.
TEST(BundleTokenizer, ReadsFramingAndAddedTokens) {
  const test::TempDir dir;
  copy_tokenizer_bundle("tiny-uncased", dir.path());
  const BundleInfo old_bundle = read_bundle_info(dir.path());
  EXPECT_EQ(old_bundle.tokenizer.framing, Framing::kBert);
  EXPECT_TRUE(old_bundle.tokenizer.added_tokens.empty());
  EXPECT_FALSE(old_bundle.defaults.pooling.has_value());
  const auto bert = load_bundle_tokenizer(old_bundle);
  EXPECT_EQ(bert->encode("hello[MASK]", 0).ids, (std::vector<std::int64_t>{101, 7592, 1031, 7308, 1033, 102}));

  edit_bundle_json(dir.path(), json::json_pointer("/tokenizer/framing"), "roberta");
  edit_bundle_json(dir.path(), json::json_pointer("/tokenizer/added_tokens"),
                   json::parse(R"([{"content": "[MASK]", "id": 103, "lstrip": true, "rstrip": false}])"));
  const auto roberta = load_bundle_tokenizer(read_bundle_info(dir.path()));
  EXPECT_EQ(roberta->framing(), Framing::kRoberta);
  EXPECT_EQ(roberta->encode("hello [MASK]", 0).ids, (std::vector<std::int64_t>{101, 7592, 103, 102}));
  EXPECT_EQ(roberta->encode_pair("a", "b", 0).ids, (std::vector<std::int64_t>{101, 1037, 102, 102, 1038, 102}));
  EXPECT_EQ(roberta->encode_pair("a", "b", 0).type_ids, (std::vector<std::int64_t>(6, 0)));

  edit_bundle_json(dir.path(), json::json_pointer("/tokenizer/added_tokens"),
                   json::parse(R"([{"content": "", "id": 103, "lstrip": true, "rstrip": false}])"));
  EXPECT_CONTAINS(bundle_tokenizer_error(dir.path()), "field 'tokenizer.added_tokens[0]' must be");
}

TEST(BundleTokenizer, SpecialIdsPastTheVocabularyMustBeAddedTokens) {
  const test::TempDir dir;
  copy_tokenizer_bundle("tiny-uncased", dir.path());
  edit_bundle_json(dir.path(), json::json_pointer("/tokenizer/special_ids/mask"), 30522);
  EXPECT_CONTAINS(bundle_tokenizer_error(dir.path()), "has 30522 tokens, so no mask token id 30522");
  edit_bundle_json(dir.path(), json::json_pointer("/tokenizer/added_tokens"),
                   json::parse(R"([{"content": "<mask>", "id": 30522, "lstrip": true, "rstrip": false}])"));
  // The model must have a row for it.
  EXPECT_CONTAINS(bundle_tokenizer_error(dir.path()), "the tokenizer has 30523 ids");
  edit_bundle_json(dir.path(), json::json_pointer("/vocab_size"), 30523);
  const auto tokenizer = load_bundle_tokenizer(read_bundle_info(dir.path()));
  EXPECT_EQ(tokenizer->vocab_size(), 30523u);
  EXPECT_EQ(tokenizer->id_to_token(30522), "<mask>");
}

TEST(BundleDefaults, ReadsEachDefaultAndRefusesUnknownOnes) {
  const test::TempDir dir;
  copy_tokenizer_bundle("tiny-uncased", dir.path());
  edit_bundle_json(dir.path(), json::json_pointer("/defaults"),
                   json::parse(R"({"pooling": "cls", "layers": "-1", "normalize": "l2", "max_length": 32,
                                   "strip_text": true, "prefix": "query: "})"));
  const BundleDefaults defaults = read_bundle_info(dir.path()).defaults;
  EXPECT_EQ(defaults.pooling, "cls");
  EXPECT_EQ(defaults.layers, "-1");
  EXPECT_EQ(defaults.normalize, "l2");
  EXPECT_EQ(defaults.max_length, 32u);
  EXPECT_EQ(defaults.strip_text, true);
  EXPECT_EQ(defaults.prefix, "query: ");
  edit_bundle_json(dir.path(), json::json_pointer("/defaults/dense"), true);
  EXPECT_CONTAINS(test::error_message<std::runtime_error>([&] { read_bundle_info(dir.path()); }),
                  "field 'defaults.dense' is not a default bert-embed knows");
}

}  // namespace
}  // namespace bert_embed
