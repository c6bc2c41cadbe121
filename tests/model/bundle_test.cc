#include "bert_embed/model/bundle.h"

#include <unistd.h>

#include <algorithm>
#include <fstream>
#include <map>
#include <stdexcept>
#include <string>
#include <variant>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "expect_error.h"
#include "temp_dir.h"

namespace bert_embed {
namespace {

using nlohmann::json;
using namespace nlohmann::literals;
using test::error_message;
using test::TempDir;

json valid_bundle_json() {
  return json::parse(R"({
    "format_version": 2, "architecture": "bert",
    "num_layers": 2, "hidden_size": 128, "num_attention_heads": 2, "intermediate_size": 512,
    "max_position_embeddings": 512, "type_vocab_size": 2, "vocab_size": 30522, "embedding_size": 128,
    "hidden_act": "gelu", "layer_norm_eps": 1e-12, "has_pooler": true, "int8_model": false,
    "tokenizer": {"kind": "wordpiece", "files": ["vocab.txt", "tokenizer_config.json"],
                  "do_lower_case": true, "strip_accents": true, "tokenize_chinese_chars": true,
                  "special_ids": {"cls": 101, "sep": 102, "pad": 0, "unk": 100, "mask": 103}},
    "source": {"dir": "tiny-uncased", "weights_file": "pytorch_model.bin", "sha256": "ab12", "random_init": false},
    "files": {"model.pt": "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad",
              "vocab.txt": "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"},
    "exporter": {"torch_version": "1.13.0", "script": "scripts/export_model.py"}
  })");
}

void write_file(const std::filesystem::path& file, const std::string& text) {
  std::ofstream(file) << text;
}

// The message read_bundle_info throws for a bundle.json with this text.
std::string error_for_text(const std::string& bundle_json_text) {
  SCOPED_TRACE(bundle_json_text);
  const TempDir dir;
  write_file(dir.path() / "bundle.json", bundle_json_text);
  const std::string message = error_message<std::runtime_error>([&] { read_bundle_info(dir.path()); });
  const std::string file = (dir.path() / "bundle.json").string();
  const std::size_t at = message.find(file);
  EXPECT_NE(at, std::string::npos) << "message does not name " << file << ": " << message;
  return at == std::string::npos ? message : message.substr(at + file.size());
}

std::string error_for(const json& bundle) { return error_for_text(bundle.dump()); }

json with(json bundle, const json::json_pointer& field, json value) {
  bundle[field] = std::move(value);
  return bundle;
}

TEST(ReadBundleInfo, ReadsEveryField) {
  const TempDir dir;
  json bundle = valid_bundle_json();
  bundle["int8_model"] = true;
  write_file(dir.path() / "bundle.json", bundle.dump());

  const BundleInfo info = read_bundle_info(dir.path());
  EXPECT_EQ(info.dir, dir.path());
  EXPECT_EQ(info.architecture, "bert");
  EXPECT_EQ(info.num_layers, 2);
  EXPECT_EQ(info.hidden_size, 128);
  EXPECT_EQ(info.embedding_size, 128);
  EXPECT_EQ(info.max_positions, 512);
  EXPECT_EQ(info.vocab_size, 30522);
  EXPECT_TRUE(info.has_pooler);
  EXPECT_TRUE(info.has_int8_model);
  EXPECT_TRUE(std::holds_alternative<WordPieceSettings>(info.tokenizer.pieces));
  EXPECT_EQ(info.weights_sha256, "ab12");
  EXPECT_EQ(info.file_sha256, (std::map<std::string, std::string>{
                                  {"model.pt", "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"},
                                  {"vocab.txt", "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"}}));
}

TEST(ReadBundleInfo, AcceptsFactorizedAlbertEmbeddings) {
  const TempDir dir;
  json bundle = valid_bundle_json();
  bundle["architecture"] = "albert";
  bundle["embedding_size"] = 32;
  bundle["tokenizer"] = R"({"kind": "sentencepiece", "files": ["spiece.model", "tokenizer_config.json"],
                            "do_lower_case": true, "remove_space": true, "keep_accents": false,
                            "special_ids": {"cls": 2, "sep": 3, "pad": 0, "unk": 1, "mask": 4}})"_json;
  write_file(dir.path() / "bundle.json", bundle.dump());

  const BundleInfo info = read_bundle_info(dir.path());
  EXPECT_EQ(info.architecture, "albert");
  EXPECT_EQ(info.embedding_size, 32);
  EXPECT_TRUE(std::holds_alternative<SentencePieceSettings>(info.tokenizer.pieces));
}

TEST(ReadBundleInfo, NamesEachMissingField) {
  const char* required[] = {"/format_version", "/architecture",   "/num_layers", "/hidden_size",
                            "/embedding_size", "/max_position_embeddings",       "/vocab_size",
                            "/has_pooler",     "/int8_model",     "/tokenizer/kind", "/source/sha256",
                            "/files"};
  for (const char* pointer : required) {
    SCOPED_TRACE(pointer);
    json bundle = valid_bundle_json();
    const json::json_pointer field(pointer);
    bundle[field.parent_pointer()].erase(field.back());
    std::string dotted = std::string(pointer).substr(1);
    std::replace(dotted.begin(), dotted.end(), '/', '.');
    EXPECT_EQ(error_for(bundle), ": field '" + dotted + "' missing");
  }
}

TEST(ReadBundleInfo, NamesAFieldOfTheWrongType) {
  EXPECT_EQ(error_for(with(valid_bundle_json(), "/hidden_size"_json_pointer, "128")),
            ": field 'hidden_size' must be an integer, got \"128\"");
  EXPECT_EQ(error_for(with(valid_bundle_json(), "/num_layers"_json_pointer, 2.5)),
            ": field 'num_layers' must be an integer, got 2.5");
  EXPECT_EQ(error_for(with(valid_bundle_json(), "/has_pooler"_json_pointer, 1)),
            ": field 'has_pooler' must be true or false, got 1");
  EXPECT_EQ(error_for(with(valid_bundle_json(), "/source/sha256"_json_pointer, nullptr)),
            ": field 'source.sha256' must be a string, got null");
  EXPECT_EQ(error_for(with(valid_bundle_json(), "/tokenizer"_json_pointer, "wordpiece")),
            ": field 'tokenizer.kind' missing");
}

TEST(ReadBundleInfo, NamesAFieldOutOfRange) {
  EXPECT_EQ(error_for(with(valid_bundle_json(), "/hidden_size"_json_pointer, 0)),
            ": field 'hidden_size' must be an integer in [1, 2147483647], got 0");
  EXPECT_EQ(error_for(with(valid_bundle_json(), "/num_layers"_json_pointer, -2)),
            ": field 'num_layers' must be an integer in [1, 2147483647], got -2");
  EXPECT_EQ(error_for(with(valid_bundle_json(), "/max_position_embeddings"_json_pointer, 1ULL << 40)),
            ": field 'max_position_embeddings' must be an integer in [1, 2147483647], got 1099511627776");
  EXPECT_EQ(error_for(with(valid_bundle_json(), "/architecture"_json_pointer, "t5")),
            ": field 'architecture' must be one of \"bert\", \"albert\", \"roberta\", \"xlm-roberta\", "
            "\"distilbert\", \"electra\", \"mpnet\", \"gpt2\", \"xlnet\", got \"t5\"");
  EXPECT_EQ(error_for(with(valid_bundle_json(), "/tokenizer/kind"_json_pointer, "unigram")),
            ": field 'tokenizer.kind' must be one of \"wordpiece\", \"sentencepiece\", \"bpe\", got \"unigram\"");
  EXPECT_EQ(error_for(with(valid_bundle_json(), "/tokenizer/framing"_json_pointer, "t5")),
            ": field 'tokenizer.framing' must be one of \"bert\", \"roberta\", \"xlnet\", \"none\", got \"t5\"");
  EXPECT_EQ(error_for(with(valid_bundle_json(), "/tokenizer/special_ids/cls"_json_pointer, -1)),
            ": field 'tokenizer.special_ids.cls' must be an integer in [0, 2147483647], got -1");
}

TEST(ReadBundleInfo, RefusesAnotherFormatVersion) {
  const std::string message = error_for(with(valid_bundle_json(), "/format_version"_json_pointer, 3));
  EXPECT_NE(message.find("field 'format_version' is 3 but this bert-embed reads 2"), std::string::npos)
      << message;
}

// Version 1 bundles record no file hashes: the message gives the command that
// makes a version 2 bundle in their place.
TEST(ReadBundleInfo, RefusesAVersion1BundleWithTheCommandToReExportIt) {
  const TempDir dir;
  json bundle = with(valid_bundle_json(), "/format_version"_json_pointer, 1);
  bundle["int8_model"] = true;
  write_file(dir.path() / "bundle.json", bundle.dump());
  try {
    read_bundle_info(dir.path());
    FAIL() << "no error";
  } catch (const std::runtime_error& error) {
    EXPECT_EQ(std::string(error.what()),
              (dir.path() / "bundle.json").string() +
                  ": field 'format_version' is 1 but this bert-embed reads 2 (bundles that record the sha256 of "
                  "their files); re-export it: scripts/export_model.py --force --int8 SOURCE_DIR " +
                  dir.path().string() + " (SOURCE_DIR: the checkpoint directory 'tiny-uncased' it came from)");
  }
}

TEST(ReadBundleInfo, RefusesMalformedFileHashes) {
  EXPECT_EQ(error_for(with(valid_bundle_json(), "/files"_json_pointer, json::array())),
            ": field 'files' must be an object of file name -> sha256, got []");
  EXPECT_EQ(error_for(with(valid_bundle_json(), "/files/vocab.txt"_json_pointer, "ABC")),
            ": field 'files.vocab.txt' must be a sha256 of 64 lowercase hex digits, got \"ABC\"");
  json outside = valid_bundle_json();
  outside["files"]["../secret"] = outside["files"]["vocab.txt"];
  EXPECT_EQ(error_for(outside), ": field 'files.../secret' is not a file name of the bundle directory");
}

TEST(ReadBundleInfo, SaysBundleJsonIsUnreadableRatherThanMissing) {
  const TempDir dir;
  std::filesystem::create_directory(dir.path() / "bundle.json");
  EXPECT_EQ(error_message<std::runtime_error>([&] { read_bundle_info(dir.path()); }),
            (dir.path() / "bundle.json").string() +
                " cannot be read: it is a directory; re-export the bundle with "
                "scripts/export_model.py SOURCE_DIR BUNDLE_DIR");
}

TEST(ReadBundleInfo, SaysWhyBundleJsonCannotBeOpened) {
  const TempDir dir;
  std::filesystem::create_symlink("bundle.json", dir.path() / "bundle.json");  // a loop
  EXPECT_EQ(error_message<std::runtime_error>([&] { read_bundle_info(dir.path()); }),
            (dir.path() / "bundle.json").string() + " cannot be read: Too many levels of symbolic links");
}

TEST(ReadBundleInfo, SaysBundleJsonIsUnreadableWithTheReason) {
  if (geteuid() == 0) GTEST_SKIP() << "root reads files of any mode";
  const TempDir dir;
  write_file(dir.path() / "bundle.json", valid_bundle_json().dump());
  std::filesystem::permissions(dir.path() / "bundle.json", std::filesystem::perms::none);
  EXPECT_EQ(error_message<std::runtime_error>([&] { read_bundle_info(dir.path()); }),
            (dir.path() / "bundle.json").string() + " cannot be read: Permission denied");
}

TEST(ReadBundleInfo, RefusesBertWithFactorizedEmbeddings) {
  EXPECT_EQ(error_for(with(valid_bundle_json(), "/embedding_size"_json_pointer, 64)),
            ": field 'embedding_size' is 64 but a bert model embeds at hidden_size 128");
}

TEST(ReadBundleInfo, ReportsInvalidJson) {
  const std::string message = error_for_text(R"({"format_version": 2,)");
  EXPECT_EQ(message.rfind(": invalid JSON: ", 0), 0u) << message;
}

TEST(ReadBundleInfo, ExplainsHowToMakeABundleWhenTheDirectoryIsMissing) {
  const TempDir parent;
  const std::filesystem::path missing = parent.path() / "no-such-bundle";
  EXPECT_EQ(error_message<std::runtime_error>([&] { read_bundle_info(missing); }),
            "bundle directory " + missing.string() +
                " does not exist; make a bundle with scripts/export_model.py SOURCE_DIR BUNDLE_DIR");
}

TEST(ReadBundleInfo, ExplainsHowToMakeABundleWhenBundleJsonIsMissing) {
  const TempDir dir;
  EXPECT_EQ(error_message<std::runtime_error>([&] { read_bundle_info(dir.path()); }),
            dir.path().string() + " is not a bert-embed bundle (" + (dir.path() / "bundle.json").string() +
                " is missing); make a bundle with scripts/export_model.py SOURCE_DIR BUNDLE_DIR");
}

TEST(ReadBundleInfo, RecognizesACheckpointGivenInsteadOfABundle) {
  const TempDir dir;
  write_file(dir.path() / "config.json", "{}");
  EXPECT_CONTAINS(error_message<std::runtime_error>([&] { read_bundle_info(dir.path()); }),
                  "it looks like a HuggingFace checkpoint: export it with "
                  "scripts/export_model.py SOURCE_DIR BUNDLE_DIR");
}

TEST(CheckTokenizerVocabSize, AcceptsATokenizerThatFitsTheEmbeddings) {
  BundleInfo info;
  info.vocab_size = 30522;
  EXPECT_NO_THROW(check_tokenizer_vocab_size(info, 30522));
  EXPECT_NO_THROW(check_tokenizer_vocab_size(info, 30000));
}

TEST(CheckTokenizerVocabSize, RefusesATokenizerWithMoreIdsThanEmbeddingRows) {
  BundleInfo info;
  info.dir = "some/bundle";
  info.vocab_size = 21128;
  const std::string message =
      error_message<std::runtime_error>([&] { check_tokenizer_vocab_size(info, 30522); });
  EXPECT_CONTAINS(message, "the tokenizer has 30522 ids");
  EXPECT_CONTAINS(message, "some/bundle/bundle.json gives vocab_size 21128");
}

}  // namespace
}  // namespace bert_embed
