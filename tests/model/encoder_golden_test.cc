// The encoder against HuggingFace transformers' outputs (the goldens): every
// hidden state of every token, in float32, bfloat16 and int8, in shuffled
// padded batches, and padding never reaching real tokens. Inputs are the
// goldens' ids, so the tokenizer is not under test here.
#include <algorithm>
#include <functional>
#include <iostream>
#include <numeric>
#include <random>
#include <string>
#include <tuple>
#include <vector>

#include <gtest/gtest.h>

#include "bert_embed/model/encoder.h"
#include "bert_embed/model/runtime.h"
#include "fixtures.h"
#include "golden.h"

namespace bert_embed {
namespace {

const char* const kModels[] = {"tiny-uncased", "tiny-mlm-uncased", "small-chinese", "mini-multilingual-uncased",
                               "tiny-albert"};
const char* const kCorpora[] = {"english", "multilingual", "edge_cases"};
// The architectures of issue 10, with pairs and literal special tokens.
const char* const kArchitectureModels[] = {"tiny-roberta", "tiny-xlm-roberta", "tiny-distilbert", "tiny-electra",
                                           "tiny-mpnet",   "tiny-gpt2",        "tiny-xlnet"};
const char* const kArchitectureCorpora[] = {"english", "multilingual", "edge_cases", "pairs", "special_literals"};
constexpr unsigned kShuffleSeed = 20240601;

struct Golden {
  std::vector<Encoding> lines;        // ids and type ids
  std::vector<std::int64_t> offsets;  // line i's tokens are offsets[i]:offsets[i + 1]
  at::Tensor hidden;                  // [layers + 1, total tokens, hidden]
  at::Tensor mean;                    // [lines, layers + 1, hidden], over all tokens
  at::Tensor cls;                     // [lines, layers + 1, hidden], token 0
  at::Tensor last;                    // [lines, layers + 1, hidden], the last token; undefined before issue 10
  at::Tensor pooler;                  // [lines, hidden]; undefined where transformers made none (albert)
  std::int64_t pad_id = 0;            // the checkpoint's config.json pad_token_id

  at::Tensor hidden_of(std::size_t line) const {
    return hidden.narrow(1, offsets[line], offsets[line + 1] - offsets[line]);
  }
};

at::Tensor float_tensor(const test::NpyArray& array) {
  return at::tensor(at::ArrayRef<float>(array.f32)).view(array.shape);
}

Golden read_golden(const std::string& model, const std::string& corpus) {
  const test::Golden files(model, corpus);
  Golden golden;
  for (test::GoldenTokens& line : files.tokens()) {
    Encoding encoding;
    encoding.ids = std::move(line.ids);
    encoding.type_ids = std::move(line.type_ids);
    golden.lines.push_back(std::move(encoding));
  }
  golden.offsets = files.offsets();
  golden.hidden = float_tensor(files.hidden());
  golden.mean = float_tensor(files.mean());
  golden.cls = float_tensor(files.cls());
  if (files.has_last()) golden.last = float_tensor(files.last());
  if (files.has_pooler()) golden.pooler = float_tensor(files.pooler());
  golden.pad_id = files.pad_id();
  return golden;
}

std::vector<int> all_layers(const Encoder& encoder) {
  std::vector<int> layers(encoder.info().num_layers + 1);
  std::iota(layers.begin(), layers.end(), 0);
  return layers;
}

// Runs every line of the golden through the encoder in batches of batch_size
// taken in a seeded random order, and hands each line's real-token hidden
// states [layers, tokens, hidden] (and pooler row, when asked for) to visit.
// Lines with zero tokens (GPT-2 on the empty line of edge_cases) are skipped:
// the goldens have no hidden rows for them and NaN rows in cls/mean/last, and
// bert-embed never hands the model an empty sequence.
void encode_shuffled(const Encoder& encoder, const Golden& golden, std::size_t batch_size, bool want_pooler,
                     const std::function<void(std::size_t line, const at::Tensor& hidden,
                                              const at::Tensor& pooler)>& visit) {
  std::vector<std::size_t> order;
  for (std::size_t line = 0; line < golden.lines.size(); ++line) {
    if (golden.lines[line].size() > 0) order.push_back(line);
  }
  std::shuffle(order.begin(), order.end(), std::mt19937(kShuffleSeed));
  const std::vector<int> layers = all_layers(encoder);
  for (std::size_t start = 0; start < order.size(); start += batch_size) {
    const std::size_t end = std::min(order.size(), start + batch_size);
    std::vector<const Encoding*> batch;
    for (std::size_t i = start; i < end; ++i) batch.push_back(&golden.lines[order[i]]);
    const EncoderOutput output = encoder.encode(make_model_input(batch, golden.pad_id), layers, want_pooler);
    for (std::size_t row = 0; row < batch.size(); ++row) {
      const auto tokens = static_cast<std::int64_t>(batch[row]->size());
      visit(order[start + row], output.hidden.select(1, row).narrow(1, 0, tokens),
            want_pooler ? output.pooler[row] : at::Tensor());
    }
  }
}

float max_abs_diff(const at::Tensor& a, const at::Tensor& b) { return (a - b).abs().max().item<float>(); }

// Cosine similarity along the last dimension.
at::Tensor cosine(const at::Tensor& a, const at::Tensor& b) {
  return (a * b).sum(-1) / (a.norm(2, -1) * b.norm(2, -1));
}

EncoderOptions options_with(DType dtype) {
  // ctest runs test processes side by side on few cores; OpenMP threads that
  // wait for a descheduled peer made these tiny models over 100x slower.
  apply_runtime_settings(RuntimeSettings{1, dtype});
  EncoderOptions options;
  options.dtype = dtype;
  return options;
}

class EncoderGoldenTest : public ::testing::TestWithParam<std::tuple<const char*, const char*>> {};

TEST_P(EncoderGoldenTest, MatchesTransformersInShuffledBatches) {
  const auto [model, corpus] = GetParam();
  const Golden golden = read_golden(model, corpus);
  const Encoder encoder(test::test_bundle(model), options_with(DType::kFloat32));
  const bool has_pooler = encoder.info().has_pooler;
  const bool check_pooler = has_pooler && golden.pooler.defined();

  for (const std::size_t batch_size : {1, 8, 64}) {
    float hidden_diff = 0;
    float pooler_diff = 0;
    // cls (token 0), mean (over all tokens) and last (the last token) of every layer.
    float pooled_diff = 0;
    encode_shuffled(encoder, golden, batch_size, check_pooler,
                    [&](std::size_t line, const at::Tensor& hidden, const at::Tensor& pooler) {
                      hidden_diff = std::max(hidden_diff, max_abs_diff(hidden, golden.hidden_of(line)));
                      if (check_pooler) {
                        pooler_diff = std::max(pooler_diff, max_abs_diff(pooler, golden.pooler[line]));
                      }
                      pooled_diff = std::max({pooled_diff, max_abs_diff(hidden.select(1, 0), golden.cls[line]),
                                              max_abs_diff(hidden.mean(1), golden.mean[line])});
                      if (golden.last.defined()) {
                        pooled_diff = std::max(pooled_diff, max_abs_diff(hidden.select(1, -1), golden.last[line]));
                      }
                    });
    std::cout << "[ figures  ] float32 " << model << "/" << corpus << " batch " << batch_size
              << ": max abs diff hidden " << hidden_diff << ", cls/mean" << (golden.last.defined() ? "/last " : " ")
              << pooled_diff;
    if (check_pooler) std::cout << ", pooler " << pooler_diff;
    std::cout << '\n';
    EXPECT_LE(hidden_diff, 1e-4) << "batch size " << batch_size;
    EXPECT_LE(pooled_diff, 1e-4) << "batch size " << batch_size;
    EXPECT_LE(pooler_diff, 1e-4) << "batch size " << batch_size;
  }
  if (!has_pooler) {
    const ModelInput input = make_model_input({&golden.lines[0]}, golden.pad_id);
    EXPECT_THROW(encoder.encode(input, {0}, /*want_pooler=*/true), std::invalid_argument);
  }
}

std::string case_name(const char* model, const char* corpus = nullptr) {
  std::string name = std::string(model) + (corpus ? std::string("_") + corpus : "");
  std::replace(name.begin(), name.end(), '-', '_');
  return name;
}

std::string model_and_corpus_name(const ::testing::TestParamInfo<std::tuple<const char*, const char*>>& info) {
  return case_name(std::get<0>(info.param), std::get<1>(info.param));
}

INSTANTIATE_TEST_SUITE_P(ModelsAndCorpora, EncoderGoldenTest,
                         ::testing::Combine(::testing::ValuesIn(kModels), ::testing::ValuesIn(kCorpora)),
                         model_and_corpus_name);

// Sentence pairs, encoded by the reference with token types 0 then 1.
INSTANTIATE_TEST_SUITE_P(SentencePairs, EncoderGoldenTest,
                         ::testing::Values(std::make_tuple("tiny-uncased", "pairs")),
                         model_and_corpus_name);

INSTANTIATE_TEST_SUITE_P(Architectures, EncoderGoldenTest,
                         ::testing::Combine(::testing::ValuesIn(kArchitectureModels),
                                            ::testing::ValuesIn(kArchitectureCorpora)),
                         model_and_corpus_name);

// The Transformer inside a sentence-transformers directory (its input truncated at 32 tokens).
INSTANTIATE_TEST_SUITE_P(SentenceTransformers, EncoderGoldenTest,
                         ::testing::Combine(::testing::Values("st-tiny-bert-cls"), ::testing::ValuesIn(kCorpora)),
                         model_and_corpus_name);

class EncoderPrecisionTest : public ::testing::TestWithParam<const char*> {};

TEST_P(EncoderPrecisionTest, Bfloat16TokenVectorsStayCloseToFloat32) {
  const char* model = GetParam();
  const Golden golden = read_golden(model, "english");
  const Encoder encoder(test::test_bundle(model), options_with(DType::kBFloat16));

  float min_cosine = 1;
  encode_shuffled(encoder, golden, 8, false, [&](std::size_t line, const at::Tensor& hidden, const at::Tensor&) {
    min_cosine = std::min(min_cosine, cosine(hidden, golden.hidden_of(line)).min().item<float>());
  });
  std::cout << "[ figures  ] bfloat16 " << model << "/english: min token cosine to float32 " << min_cosine << '\n';
  EXPECT_GE(min_cosine, 0.99);
}

TEST_P(EncoderPrecisionTest, Int8MeanPooledVectorsStayCloseToFloat32) {
  const char* model = GetParam();
  if (!read_bundle_info(test::test_bundle(model)).has_int8_model) GTEST_SKIP() << "bundle has no model.int8.pt";
  const Golden golden = read_golden(model, "english");
  const Encoder encoder(test::test_bundle(model), options_with(DType::kInt8));

  at::Tensor cosines = at::ones({static_cast<std::int64_t>(golden.lines.size()), encoder.info().num_layers + 1});
  encode_shuffled(encoder, golden, 8, false, [&](std::size_t line, const at::Tensor& hidden, const at::Tensor&) {
    cosines[line] = cosine(hidden.mean(1), golden.mean[line]);
  });
  const at::Tensor last_layer = cosines.select(1, -1);
  std::cout << "[ figures  ] int8 " << model << "/english: mean-pooled cosine to float32, last layer min "
            << last_layer.min().item<float>() << " mean " << last_layer.mean().item<float>()
            << "; all layers min " << cosines.min().item<float>() << '\n';
  EXPECT_GE(cosines.min().item<float>(), 0.95);
}

// A short text alone and among much longer ones: padding must not reach its
// real tokens.
TEST_P(EncoderPrecisionTest, PaddingDoesNotChangeRealTokens) {
  const char* model = GetParam();
  const Golden golden = read_golden(model, "multilingual");
  const auto by_length = [](const Encoding& a, const Encoding& b) { return a.size() < b.size(); };
  const Encoding& shortest = *std::min_element(golden.lines.begin(), golden.lines.end(), by_length);
  const Encoding& longest = *std::max_element(golden.lines.begin(), golden.lines.end(), by_length);
  ASSERT_GE(longest.size(), 3 * shortest.size());
  const Encoder encoder(test::test_bundle(model), options_with(DType::kFloat32));
  const std::vector<int> layers = all_layers(encoder);
  const bool has_pooler = encoder.info().has_pooler;

  const EncoderOutput alone = encoder.encode(make_model_input({&shortest}, golden.pad_id), layers, has_pooler);
  const EncoderOutput padded =
      encoder.encode(make_model_input({&longest, &shortest, &longest}, golden.pad_id), layers, has_pooler);
  const auto tokens = static_cast<std::int64_t>(shortest.size());
  EXPECT_LE(max_abs_diff(padded.hidden.select(1, 1).narrow(1, 0, tokens), alone.hidden.select(1, 0)), 1e-5);
  if (has_pooler) {
    EXPECT_LE(max_abs_diff(padded.pooler[1], alone.pooler[0]), 1e-5);
  }
}

INSTANTIATE_TEST_SUITE_P(Models, EncoderPrecisionTest, ::testing::ValuesIn(kModels),
                         [](const auto& info) { return case_name(info.param); });
INSTANTIATE_TEST_SUITE_P(Architectures, EncoderPrecisionTest, ::testing::ValuesIn(kArchitectureModels),
                         [](const auto& info) { return case_name(info.param); });

// The last layer pooled as cls, mean and last, in bfloat16 and int8, against
// the float32 goldens: cosine at least 0.999 in bfloat16 and 0.99 in int8.
class ReducedPrecisionPoolingTest : public ::testing::TestWithParam<std::tuple<const char*, DType>> {};

TEST_P(ReducedPrecisionPoolingTest, PooledVectorsStayCloseToFloat32) {
  const auto [model, dtype] = GetParam();
  const Golden golden = read_golden(model, "english");
  const Encoder encoder(test::test_bundle(model), options_with(dtype));
  float min_cosine = 1;
  encode_shuffled(encoder, golden, 8, false, [&](std::size_t line, const at::Tensor& hidden, const at::Tensor&) {
    const at::Tensor last_layer = hidden[-1];
    const auto expected = [&](const at::Tensor& pooled) { return pooled[line][-1]; };
    min_cosine = std::min({min_cosine, cosine(last_layer[0], expected(golden.cls)).item<float>(),
                           cosine(last_layer.mean(0), expected(golden.mean)).item<float>(),
                           cosine(last_layer[-1], expected(golden.last)).item<float>()});
  });
  const bool int8 = dtype == DType::kInt8;
  std::cout << "[ figures  ] " << (int8 ? "int8 " : "bfloat16 ") << model
            << "/english: min cls/mean/last cosine to float32, last layer " << min_cosine << '\n';
  EXPECT_GE(min_cosine, int8 ? 0.99 : 0.999);
}

INSTANTIATE_TEST_SUITE_P(Architectures, ReducedPrecisionPoolingTest,
                         ::testing::Combine(::testing::ValuesIn(kArchitectureModels),
                                            ::testing::Values(DType::kBFloat16, DType::kInt8)),
                         [](const auto& info) {
                           return case_name(std::get<0>(info.param)) +
                                  (std::get<1>(info.param) == DType::kInt8 ? "_int8" : "_bfloat16");
                         });

}  // namespace
}  // namespace bert_embed
