#include "bert_embed/model/bundle_files.h"

#include <filesystem>
#include <fstream>
#include <stdexcept>
#include <string>

#include <gtest/gtest.h>

#include "bundle_copy.h"
#include "expect_error.h"
#include "fixtures.h"
#include "temp_dir.h"

namespace bert_embed {
namespace {

namespace fs = std::filesystem;
using test::error_message;
using test::TempDir;

TEST(Sha256OfFile, MatchesTheStandardTestVectors) {
  const TempDir temp;
  std::ofstream(temp.path() / "abc") << "abc";
  std::ofstream(temp.path() / "empty");
  EXPECT_EQ(sha256_of_file(temp.path() / "abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  EXPECT_EQ(sha256_of_file(temp.path() / "empty"),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
}

TEST(Sha256OfFile, NamesAFileItCannotRead) {
  const TempDir temp;
  EXPECT_EQ(error_message<std::runtime_error>([&] { sha256_of_file(temp.path() / "missing"); }),
            (temp.path() / "missing").string() + ": cannot be read: No such file or directory");
  EXPECT_EQ(error_message<std::runtime_error>([&] { sha256_of_file(temp.path()); }),
            temp.path().string() + ": cannot be read: Is a directory");
}

TEST(VerifyBundleFile, AcceptsEveryFileOfEveryTestBundle) {
  for (const char* model : {"tiny-uncased", "tiny-albert"}) {
    const BundleInfo info = read_bundle_info(test::test_bundle(model));
    EXPECT_GE(info.file_sha256.size(), 4u) << model;  // models, tokenizer files, tokenizer_config.json
    for (const auto& [name, digest] : info.file_sha256) {
      SCOPED_TRACE(std::string(model) + "/" + name);
      EXPECT_NO_THROW(verify_bundle_file(info, name));
    }
  }
}

TEST(VerifyBundleFile, NamesAModifiedTokenizerFile) {
  const TempDir temp;
  const fs::path bundle = test::copy_bundle(temp, "tiny-uncased");
  std::ofstream(bundle / "vocab.txt", std::ios::app) << "extra-token\n";
  const BundleInfo info = read_bundle_info(bundle);
  const std::string message = error_message<std::runtime_error>([&] { verify_bundle_file(info, "vocab.txt"); });
  EXPECT_EQ(message.rfind((bundle / "vocab.txt").string() + " has sha256 ", 0), 0u) << message;
  EXPECT_CONTAINS(message, " but " + (bundle / "bundle.json").string() + " records " +
                               info.file_sha256.at("vocab.txt") +
                               ": the file was modified or corrupted after export; re-export the bundle");
  EXPECT_NO_THROW(verify_bundle_file(info, "tokenizer_config.json"));
}

TEST(VerifyTokenizerFiles, VerifiesEveryFileButTheModels) {
  const TempDir temp;
  const fs::path bundle = test::copy_bundle(temp, "tiny-albert");
  std::ofstream(bundle / "model.pt", std::ios::app) << "not checked here";
  EXPECT_NO_THROW(verify_tokenizer_files(read_bundle_info(bundle)));
  std::ofstream(bundle / "tokenizer_config.json", std::ios::app) << " ";
  EXPECT_CONTAINS(error_message<std::runtime_error>([&] { verify_tokenizer_files(read_bundle_info(bundle)); }),
                  (bundle / "tokenizer_config.json").string() + " has sha256 ");
  std::ofstream(bundle / "spiece.model", std::ios::app) << "x";
  EXPECT_CONTAINS(error_message<std::runtime_error>([&] { verify_tokenizer_files(read_bundle_info(bundle)); }),
                  (bundle / "spiece.model").string() + " has sha256 ");
}

TEST(VerifyBundleFile, NamesAFileBundleJsonDoesNotRecord) {
  const TempDir temp;
  const fs::path bundle = test::copy_bundle(temp, "tiny-uncased");
  test::edit_bundle_json(bundle, [](nlohmann::json& value) { value["files"].erase("vocab.txt"); });
  EXPECT_EQ(error_message<std::runtime_error>([&] { verify_bundle_file(read_bundle_info(bundle), "vocab.txt"); }),
            (bundle / "bundle.json").string() +
                " records no sha256 for vocab.txt; the bundle is inconsistent, re-export it");
}

TEST(VerifyBundleFile, NamesAMissingFile) {
  const TempDir temp;
  const fs::path bundle = test::copy_bundle(temp, "tiny-uncased");
  fs::remove(bundle / "vocab.txt");
  EXPECT_EQ(error_message<std::runtime_error>([&] { verify_bundle_file(read_bundle_info(bundle), "vocab.txt"); }),
            (bundle / "vocab.txt").string() +
                " is missing; re-export the bundle with scripts/export_model.py SOURCE_DIR BUNDLE_DIR");
}

}  // namespace
}  // namespace bert_embed
