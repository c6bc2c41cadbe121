#include "bert_embed/model/module_check.h"

#include <filesystem>
#include <fstream>
#include <stdexcept>
#include <string>

#include <gtest/gtest.h>

#include "bert_embed/model/encoder.h"
#include "bundle_copy.h"
#include "command.h"
#include "expect_error.h"
#include "fixtures.h"
#include "temp_dir.h"

namespace bert_embed {
namespace {

namespace fs = std::filesystem;
using test::error_message;
using test::TempDir;

const char* const kTestBundles[] = {"tiny-uncased",     "tiny-mlm-uncased", "small-chinese", "mini-multilingual-uncased",
                                    "tiny-albert",      "tiny-roberta",     "tiny-xlm-roberta", "tiny-distilbert",
                                    "tiny-electra",     "tiny-mpnet",       "tiny-gpt2",        "tiny-xlnet",
                                    "st-tiny-bert-cls"};
constexpr const char* kTrustAdvice =
    ", which no bert-embed encoder needs: refusing to run it (a bundle is code: use bundles from a trusted export)";

TEST(ModuleCheck, AcceptsEveryExportedModel) {
  for (const char* bundle : kTestBundles) {
    for (const char* file : {"model.pt", "model.int8.pt"}) {
      SCOPED_TRACE(std::string(bundle) + "/" + file);
      EXPECT_NO_THROW(check_module_operators(test::test_bundle(bundle) / file));
    }
  }
}

// The test bundles use gelu (erf and tanh forms); the exporter also writes relu.
TEST(ModuleCheck, AcceptsTheReluActivationTheExporterSupports) {
  const TempDir temp;
  std::ofstream(temp.path() / "config.json")
      << R"({"model_type": "bert", "num_hidden_layers": 1, "hidden_size": 32, "num_attention_heads": 2,
             "intermediate_size": 64, "hidden_act": "relu"})";
  const std::string command =
      test::shell_quote(BERT_EMBED_PYTHON) + " " + test::shell_quote((test::source_dir() / "scripts/export_model.py").string()) +
      " --int8 --random-init --config " + test::shell_quote((temp.path() / "config.json").string()) + " --vocab " +
      test::shell_quote((test::fixtures_dir() / "vocab/bert-base-uncased").string()) + " " +
      test::shell_quote((temp.path() / "bundle").string());
  ASSERT_EQ(test::run_command(command).exit_status, 0) << command;
  for (const char* file : {"model.pt", "model.int8.pt"}) {
    SCOPED_TRACE(file);
    EXPECT_EQ(module_operators(temp.path() / "bundle" / file).count("aten::relu"), 1u);
    EXPECT_NO_THROW(check_module_operators(temp.path() / "bundle" / file));
  }
}

TEST(ModuleCheck, SeesTheOperatorsOfSubmodulesAndCalledFunctions) {
  // Linear layers are submodules; layer_norm is reached through
  // Float32LayerNorm -> torch.nn.functional.layer_norm, a function call.
  const std::set<std::string> float32 = module_operators(test::test_bundle("tiny-uncased") / "model.pt");
  for (const char* kind : {"aten::linear", "aten::layer_norm", "aten::embedding", "aten::baddbmm", "prim::Loop"}) {
    EXPECT_EQ(float32.count(kind), 1u) << kind;
  }
  const std::set<std::string> int8 = module_operators(test::test_bundle("tiny-uncased") / "model.int8.pt");
  EXPECT_EQ(int8.count("quantized::linear_dynamic"), 1u);
  EXPECT_EQ(int8.count("quantized::linear_prepack"), 1u);  // run by __setstate__ when loaded
}

TEST(ModuleCheck, NamesAFileThatIsNotTorchScript) {
  const TempDir temp;
  std::ofstream(temp.path() / "model.pt") << "not a zip archive";
  const std::string message =
      error_message<std::runtime_error>([&] { check_module_operators(temp.path() / "model.pt"); });
  EXPECT_CONTAINS(message, (temp.path() / "model.pt").string() + ": not a loadable TorchScript module (");
  EXPECT_EQ(message.find('\n'), std::string::npos) << message;
}

// Modules scripted at test time that read or write files by several paths
// through their code; see data/make_hostile_modules.py.
class HostileModules : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    temp_ = new TempDir;
    const std::string command = test::shell_quote(BERT_EMBED_PYTHON) + " " +
                                test::shell_quote(std::string(BERT_EMBED_MODEL_TEST_DATA) + "/make_hostile_modules.py") +
                                " " + test::shell_quote(temp_->path().string()) + " " + test::shell_quote(marker().string());
    ASSERT_EQ(test::run_command(command).exit_status, 0) << command;
  }
  static void TearDownTestSuite() {
    delete temp_;
    temp_ = nullptr;
  }
  static fs::path module(const std::string& name) { return temp_->path() / (name + ".pt"); }
  // The file the modules write when they run.
  static fs::path marker() { return temp_->path() / "written-by-the-module"; }

  static TempDir* temp_;
};
TempDir* HostileModules::temp_ = nullptr;

TEST_F(HostileModules, RefusesEachNamingTheOperatorAndTheFile) {
  const std::pair<const char*, const char*> cases[] = {
      {"reads_a_file", "aten::from_file"},
      {"calls_a_function_that_writes", "aten::save"},
      {"has_a_writing_submodule", "aten::save"},
      {"writes_when_loaded", "aten::save"},
  };
  for (const auto& [name, kind] : cases) {
    SCOPED_TRACE(name);
    EXPECT_EQ(error_message<std::runtime_error>([&] { check_module_operators(module(name)); }),
              module(name).string() + " uses operator " + kind + kTrustAdvice);
  }
  EXPECT_FALSE(fs::exists(marker()));
}

// torch.jit.load runs a module's __setstate__: the encoder must refuse the
// module before loading it.
TEST_F(HostileModules, TheEncoderRefusesThemBeforeLoadingThem) {
  for (const char* name : {"writes_when_loaded", "reads_a_file"}) {
    SCOPED_TRACE(name);
    const TempDir temp;
    const fs::path bundle = test::copy_bundle(temp, "tiny-uncased");
    fs::copy_file(module(name), bundle / "model.pt", fs::copy_options::overwrite_existing);
    test::record_sha256(bundle, "model.pt");
    EXPECT_CONTAINS(error_message<std::runtime_error>([&] { Encoder encoder(bundle, EncoderOptions{}); }),
                    (bundle / "model.pt").string() + " uses operator ");
    EXPECT_FALSE(fs::exists(marker()));
  }
}

}  // namespace
}  // namespace bert_embed
