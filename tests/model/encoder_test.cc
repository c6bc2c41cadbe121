#include "bert_embed/model/encoder.h"

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <stdexcept>
#include <string>
#include <utility>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "bundle_copy.h"
#include "expect_error.h"
#include "fixtures.h"
#include "temp_dir.h"

namespace bert_embed {
namespace {

namespace fs = std::filesystem;
using test::copy_bundle;
using test::edit_bundle_json;
using test::error_message;
using test::record_sha256;
using test::TempDir;

constexpr const char* kBundle = "tiny-uncased";  // 2 layers, hidden 128, pooler

Encoding encoding_of(std::vector<std::int64_t> ids) {
  Encoding encoding;
  encoding.type_ids.assign(ids.size(), 0);
  encoding.ids = std::move(ids);
  return encoding;
}

TEST(ParseDType, RoundTripsEveryName) {
  for (const char* name : {"float32", "bfloat16", "float16", "int8"}) {
    EXPECT_EQ(to_string(parse_dtype(name)), name);
  }
}

TEST(ParseDType, RefusesUnknownNames) {
  EXPECT_EQ(error_message<std::invalid_argument>([] { parse_dtype("fp32"); }),
            "unknown dtype \"fp32\" (expected float32, bfloat16, float16 or int8)");
}

TEST(MakeModelInput, PadsOnTheRightWithThePadIdAndMasksThePadding) {
  Encoding shorter = encoding_of({101, 7, 102});
  Encoding longer = encoding_of({101, 8, 9, 10, 102});
  longer.type_ids = {0, 0, 0, 1, 1};

  const ModelInput input = make_model_input({&shorter, &longer}, 5);
  EXPECT_TRUE(input.input_ids.equal(at::tensor({101, 7, 102, 5, 5, 101, 8, 9, 10, 102}, at::kLong).view({2, 5})));
  EXPECT_TRUE(input.attention_mask.equal(at::tensor({1, 1, 1, 0, 0, 1, 1, 1, 1, 1}, at::kLong).view({2, 5})));
  EXPECT_TRUE(input.token_type_ids.equal(at::tensor({0, 0, 0, 0, 0, 0, 0, 0, 1, 1}, at::kLong).view({2, 5})));
}

TEST(MakeModelInput, RefusesAnEmptyBatch) {
  EXPECT_THROW(make_model_input({}, 0), std::invalid_argument);
}

TEST(MakeModelInput, RefusesMismatchedTypeIds) {
  Encoding encoding = encoding_of({101, 102});
  encoding.type_ids = {0};
  EXPECT_EQ(error_message<std::invalid_argument>([&] { make_model_input({&encoding}, 0); }),
            "make_model_input: an encoding has 2 ids but 1 type ids");
}

class EncoderTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { encoder_ = new Encoder(test::test_bundle(kBundle), EncoderOptions{}); }
  static void TearDownTestSuite() {
    delete encoder_;
    encoder_ = nullptr;
  }
  static Encoder* encoder_;
};
Encoder* EncoderTest::encoder_ = nullptr;

TEST_F(EncoderTest, ReturnsFloatCpuHiddenStatesOfTheLayersAskedForInOrder) {
  const Encoding first = encoding_of({101, 2023, 2003, 102});
  const Encoding second = encoding_of({101, 102});
  const ModelInput input = make_model_input({&first, &second}, 0);

  const EncoderOutput all = encoder_->encode(input, {0, 1, 2}, /*want_pooler=*/true);
  EXPECT_EQ(all.hidden.sizes(), at::IntArrayRef({3, 2, 4, 128}));
  EXPECT_EQ(all.hidden.scalar_type(), at::kFloat);
  EXPECT_TRUE(all.hidden.device().is_cpu());
  EXPECT_EQ(all.pooler.sizes(), at::IntArrayRef({2, 128}));

  const EncoderOutput some = encoder_->encode(input, {2, 0});
  EXPECT_FALSE(some.pooler.defined());
  EXPECT_TRUE(some.hidden[0].equal(all.hidden[2]));
  EXPECT_TRUE(some.hidden[1].equal(all.hidden[0]));
}

TEST_F(EncoderTest, ReturnsTensorsLaterStagesMayUpdateInPlace) {
  const Encoding text = encoding_of({101, 102});
  EncoderOutput output = encoder_->encode(make_model_input({&text}, 0), {2});
  EXPECT_NO_THROW(output.hidden.div_(2));
}

TEST_F(EncoderTest, RefusesLayersOutOfRange) {
  const Encoding text = encoding_of({101, 102});
  const ModelInput input = make_model_input({&text}, 0);
  EXPECT_CONTAINS(error_message<std::out_of_range>([&] { encoder_->encode(input, {0, 3}); }),
                  "layer 3 out of range: bundle " + test::test_bundle(kBundle).string() +
                      " has hidden states 0..2");
  EXPECT_CONTAINS(error_message<std::out_of_range>([&] { encoder_->encode(input, {-1}); }), "layer -1 out of range");
  EXPECT_EQ(error_message<std::invalid_argument>([&] { encoder_->encode(input, {}); }), "no layers asked for");
}

TEST_F(EncoderTest, RefusesInputLongerThanThePositionEmbeddings) {
  const Encoding text = encoding_of(std::vector<std::int64_t>(513, 1000));
  EXPECT_EQ(error_message<std::invalid_argument>([&] { encoder_->encode(make_model_input({&text}, 0), {1}); }),
            "model input has 513 tokens per row but the model has 512 positions");
}

TEST_F(EncoderTest, RefusesMalformedInput) {
  const Encoding text = encoding_of({101, 102});
  ModelInput input = make_model_input({&text}, 0);
  input.attention_mask = input.attention_mask.to(at::kInt);
  EXPECT_THROW(encoder_->encode(input, {1}), std::invalid_argument);
}

TEST(EncoderOptions, RefusesBadDeviceStrings) {
  for (const char* device : {"gpu", "CPU", "cuda:", "cuda:x", "cuda:-1", "cuda:0 ", "cuda0", ""}) {
    SCOPED_TRACE(device);
    EncoderOptions options;
    options.device = device;
    EXPECT_EQ(error_message<std::invalid_argument>([&] { Encoder encoder(test::test_bundle(kBundle), options); }),
              "device '" + std::string(device) + "': expected cpu, cuda or cuda:N");
  }
}

TEST(EncoderOptions, ExplainsWhyCudaIsUnavailable) {
  EncoderOptions options;
  options.device = "cuda:7";
  const std::string message =
      error_message<std::invalid_argument>([&] { Encoder encoder(test::test_bundle(kBundle), options); });
  EXPECT_CONTAINS(message, "CUDA requested (device 'cuda:7') but ");
  EXPECT_TRUE(message.find("this build has no CUDA support") != std::string::npos ||
              message.find("there is no device 7") != std::string::npos)
      << message;
}

TEST(EncoderOptions, RefusesFloat16OnCpu) {
  EncoderOptions options;
  options.dtype = DType::kFloat16;
  EXPECT_CONTAINS(error_message<std::invalid_argument>([&] { Encoder encoder(test::test_bundle(kBundle), options); }),
                  "dtype float16 needs a CUDA device");
}

TEST(EncoderLoad, RefusesInt8WhenTheBundleHasNoInt8Model) {
  const TempDir temp;
  const fs::path bundle = copy_bundle(temp, kBundle);
  edit_bundle_json(bundle, [](nlohmann::json& value) { value["int8_model"] = false; });
  EncoderOptions options;
  options.dtype = DType::kInt8;
  EXPECT_CONTAINS(error_message<std::runtime_error>([&] { Encoder encoder(bundle, options); }),
                  "has no int8 model (" + (bundle / "bundle.json").string() +
                      ": int8_model is false); re-export it with scripts/export_model.py --int8");
}

TEST(EncoderLoad, ExplainsAMissingBundleDirectory) {
  const TempDir temp;
  EXPECT_CONTAINS(error_message<std::runtime_error>([&] { Encoder encoder(temp.path() / "nothing", EncoderOptions{}); }),
                  "bundle directory " + (temp.path() / "nothing").string() + " does not exist");
}

TEST(EncoderLoad, NamesAMissingModelFile) {
  const TempDir temp;
  const fs::path bundle = copy_bundle(temp, kBundle);
  fs::remove(bundle / "model.pt");
  EXPECT_EQ(error_message<std::runtime_error>([&] { Encoder encoder(bundle, EncoderOptions{}); }),
            (bundle / "model.pt").string() +
                " is missing; re-export the bundle with scripts/export_model.py SOURCE_DIR BUNDLE_DIR");
}

TEST(EncoderLoad, NamesATruncatedModelFile) {
  const TempDir temp;
  const fs::path bundle = copy_bundle(temp, kBundle);
  fs::resize_file(bundle / "model.pt", fs::file_size(bundle / "model.pt") / 2);
  record_sha256(bundle, "model.pt");
  const std::string message = error_message<std::runtime_error>([&] { Encoder encoder(bundle, EncoderOptions{}); });
  EXPECT_CONTAINS(message, (bundle / "model.pt").string() + ": not a loadable TorchScript module (");
  EXPECT_EQ(message.find('\n'), std::string::npos) << message;
}

TEST(EncoderLoad, NamesAModelFileThatIsNotTorchScript) {
  const TempDir temp;
  const fs::path bundle = copy_bundle(temp, kBundle);
  std::ofstream(bundle / "model.pt") << "not a zip archive";
  record_sha256(bundle, "model.pt");
  EXPECT_CONTAINS(error_message<std::runtime_error>([&] { Encoder encoder(bundle, EncoderOptions{}); }),
                  (bundle / "model.pt").string() + ": not a loadable TorchScript module (");
}

TEST(EncoderLoad, ReportsBundleJsonThatDisagreesWithTheModule) {
  struct Case {
    const char* field;
    nlohmann::json value;
    std::string expected;
  };
  const Case cases[] = {
      {"hidden_size", 64, "gives hidden_size 64 but {model} has word embeddings 128 wide"},
      {"vocab_size", 30000, "gives vocab_size 30000 but {model} has 30522 word embedding rows"},
      {"num_layers", 3, "gives num_layers 3 but {model} has 2 layers"},
      {"has_pooler", false, "gives has_pooler false but {model} has a pooler"},
  };
  for (const Case& test_case : cases) {
    SCOPED_TRACE(test_case.field);
    const TempDir temp;
    const fs::path bundle = copy_bundle(temp, kBundle);
    edit_bundle_json(bundle, [&](nlohmann::json& value) {
      value[test_case.field] = test_case.value;
      if (std::string(test_case.field) == "hidden_size") value["embedding_size"] = test_case.value;
    });
    std::string expected = test_case.expected;
    expected.replace(expected.find("{model}"), 7, (bundle / "model.pt").string());
    const std::string message = error_message<std::runtime_error>([&] { Encoder encoder(bundle, EncoderOptions{}); });
    EXPECT_CONTAINS(message, (bundle / "bundle.json").string() + " " + expected);
  }
}

TEST(EncoderLoad, ReportsAMissingBundleJsonField) {
  const TempDir temp;
  const fs::path bundle = copy_bundle(temp, kBundle);
  edit_bundle_json(bundle, [](nlohmann::json& value) { value.erase("hidden_size"); });
  EXPECT_EQ(error_message<std::runtime_error>([&] { Encoder encoder(bundle, EncoderOptions{}); }),
            (bundle / "bundle.json").string() + ": field 'hidden_size' missing");
}

// 4 KB of flipped bytes in the weights used to load and run, moving vectors by up to 0.5.
TEST(EncoderLoad, RefusesAModelFileModifiedAfterExport) {
  const TempDir temp;
  const fs::path bundle = copy_bundle(temp, kBundle);
  const fs::path model = bundle / "model.pt";
  {
    std::fstream file(model, std::ios::in | std::ios::out | std::ios::binary);
    const std::streamoff middle = static_cast<std::streamoff>(fs::file_size(model) / 2);
    std::string block(4096, '\0');
    file.seekg(middle);
    file.read(block.data(), static_cast<std::streamsize>(block.size()));
    for (char& byte : block) byte = static_cast<char>(~byte);
    file.seekp(middle);
    file.write(block.data(), static_cast<std::streamsize>(block.size()));
  }
  const std::string message = error_message<std::runtime_error>([&] { Encoder encoder(bundle, EncoderOptions{}); });
  EXPECT_CONTAINS(message, model.string() + " has sha256 ");
  EXPECT_CONTAINS(message, "but " + (bundle / "bundle.json").string() + " records ");
  EXPECT_CONTAINS(message, "modified or corrupted after export");
}

TEST(EncoderLoad, VerifiesTheInt8ModelWhenRunningInt8) {
  const TempDir temp;
  const fs::path bundle = copy_bundle(temp, kBundle, /*with_int8=*/true);
  std::ofstream(bundle / "model.int8.pt", std::ios::app) << "appended";
  EncoderOptions options;
  options.dtype = DType::kInt8;
  EXPECT_CONTAINS(error_message<std::runtime_error>([&] { Encoder encoder(bundle, options); }),
                  (bundle / "model.int8.pt").string() + " has sha256 ");
  EXPECT_NO_THROW(Encoder(bundle, EncoderOptions{}));
}

TEST(EncoderLoad, RefusesAModifiedTokenizerFile) {
  const TempDir temp;
  const fs::path bundle = copy_bundle(temp, kBundle);
  std::ofstream(bundle / "vocab.txt", std::ios::app) << "extra-token\n";
  EXPECT_CONTAINS(error_message<std::runtime_error>([&] { Encoder encoder(bundle, EncoderOptions{}); }),
                  (bundle / "vocab.txt").string() + " has sha256 ");
}

// Errors raised inside the TorchScript interpreter come with its traceback;
// the message keeps the line that says what went wrong.
TEST(EncoderRun, ReportsAnErrorRaisedInsideTheModuleOnOneLine) {
  const TempDir temp;
  const fs::path bundle = copy_bundle(temp, kBundle);
  edit_bundle_json(bundle, [](nlohmann::json& value) { value["max_position_embeddings"] = 1024; });
  const Encoder encoder(bundle, EncoderOptions{});
  const Encoding text = encoding_of(std::vector<std::int64_t>(600, 1000));
  const std::string message =
      error_message<std::runtime_error>([&] { encoder.encode(make_model_input({&text}, 0), {1}); });
  EXPECT_CONTAINS(message, (bundle / "model.pt").string() + ": encode() failed: ");
  EXPECT_CONTAINS(message, "encode: 600 tokens exceed the model's 512 positions");
  EXPECT_EQ(message.find('\n'), std::string::npos) << message;
}

}  // namespace
}  // namespace bert_embed
