// End-to-end tests: run the bert-embed binary on the fixture bundles and
// compare its outputs with the HuggingFace goldens, read them back with real
// clients (numpy, jq), and feed it bad input.
#include <sys/wait.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <fstream>
#include <limits>
#include <numeric>
#include <regex>
#include <sstream>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "cli.h"
#include "command.h"
#include "fixtures.h"
#include "golden.h"
#include "npy_reader.h"
#include "temp_dir.h"

namespace bert_embed::test {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

constexpr float kGoldenTolerance = 1e-4f;
constexpr int kTinyLayers = 2;     // tiny-uncased and tiny-mlm-uncased
constexpr int kTinyHidden = 128;

float max_abs_difference(const std::vector<float>& actual, const std::vector<float>& expected) {
  EXPECT_EQ(actual.size(), expected.size());
  float worst = 0;
  for (std::size_t i = 0; i < std::min(actual.size(), expected.size()); ++i) {
    worst = std::max(worst, std::abs(actual[i] - expected[i]));
  }
  return worst;
}

// hidden.npy [layers + 1, tokens, hidden] in the order bert-embed writes
// token rows of several layers: [tokens, layers + 1, hidden].
std::vector<float> token_major(const NpyArray& hidden) {
  const std::int64_t layers = hidden.shape[0];
  const std::int64_t tokens = hidden.shape[1];
  const std::int64_t width = hidden.shape[2];
  std::vector<float> rows;
  for (std::int64_t token = 0; token < tokens; ++token) {
    for (std::int64_t layer = 0; layer < layers; ++layer) {
      const float* begin = hidden.f32.data() + (layer * tokens + token) * width;
      rows.insert(rows.end(), begin, begin + width);
    }
  }
  return rows;
}

std::vector<float> floats_of(const json& array) {
  std::vector<float> values;
  for (const json& value : array) {
    if (value.is_array()) {
      const std::vector<float> inner = floats_of(value);
      values.insert(values.end(), inner.begin(), inner.end());
    } else {
      values.push_back(value.get<float>());
    }
  }
  return values;
}

std::vector<json> parse_jsonl(const std::string& text) {
  std::vector<json> objects;
  for (const std::string& line : split_lines(text)) objects.push_back(json::parse(line));
  return objects;
}

// Reads golden inputs through bert-embed into the fixture's temporary directory.
class BertEmbedGoldenCli : public BertEmbedCli {
 protected:
  // bert-embed -m <model> -i <golden input> -o <temp>/<name> <args>, read back as NPY.
  NpyArray embed_npy(const std::string& model, const std::string& corpus, std::vector<std::string> args,
                     const std::string& name = "out.npy") {
    const fs::path output = path(name);
    fs::remove(output);  // a failed run must not pass off an earlier output as its own
    std::vector<std::string> full = {"-m", test_bundle(model).string(), "-i",
                                     Golden(model, corpus).input_file().string(), "-o",
                                     output.string(), "--quiet"};
    full.insert(full.end(), args.begin(), args.end());
    embed(full);
    return read_npy(output);
  }

  std::string embed_jsonl(const std::string& model, const std::string& corpus, std::vector<std::string> args) {
    std::vector<std::string> full = {"-m", test_bundle(model).string(), "-i",
                                     Golden(model, corpus).input_file().string(), "--quiet"};
    full.insert(full.end(), args.begin(), args.end());
    return embed(full);
  }
};

TEST_F(BertEmbedGoldenCli, PooledLayersMatchGoldens) {
  const NpyArray cls_golden = Golden("tiny-uncased", "english").cls();
  const NpyArray mean_golden = Golden("tiny-uncased", "english").mean();
  for (const int layer : {0, 1, -1, -2}) {
    for (const std::string pooling : {"cls", "mean"}) {
      SCOPED_TRACE("--pooling " + pooling + " --layers " + std::to_string(layer));
      const NpyArray actual =
          embed_npy("tiny-uncased", "english", {"--pooling", pooling, "--layers", std::to_string(layer)});
      ASSERT_EQ(actual.shape, (std::vector<std::int64_t>{cls_golden.shape[0], kTinyHidden}));
      EXPECT_LT(max_abs_difference(actual.f32, pooled_layer(pooling == "cls" ? cls_golden : mean_golden, layer)),
                kGoldenTolerance);
    }
  }
}

TEST_F(BertEmbedGoldenCli, MeanPoolingMatchesGoldensOfEveryModel) {
  for (const std::string model : {"tiny-uncased", "tiny-mlm-uncased", "small-chinese",
                                  "mini-multilingual-uncased", "tiny-albert"}) {
    for (const std::string corpus : {"edge_cases", "multilingual"}) {
      SCOPED_TRACE(model + " on " + corpus);
      const NpyArray golden = Golden(model, corpus).mean();
      const NpyArray actual = embed_npy(model, corpus, {});
      ASSERT_EQ(actual.shape, (std::vector<std::int64_t>{golden.shape[0], golden.shape[2]}));
      EXPECT_LT(max_abs_difference(actual.f32, pooled_layer(golden, -1)), kGoldenTolerance);
    }
  }
}

TEST_F(BertEmbedGoldenCli, JsonlMatchesNpy) {
  const NpyArray npy = embed_npy("tiny-uncased", "edge_cases", {"--pooling", "cls"});
  const std::vector<json> records = parse_jsonl(embed_jsonl("tiny-uncased", "edge_cases", {"--pooling", "cls"}));
  ASSERT_EQ(static_cast<std::int64_t>(records.size()), npy.shape[0]);
  std::vector<float> jsonl;
  for (std::size_t i = 0; i < records.size(); ++i) {
    EXPECT_EQ(records[i]["index"], i);
    const std::vector<float> row = floats_of(records[i]["embedding"]);
    jsonl.insert(jsonl.end(), row.begin(), row.end());
  }
  // Shortest round-trip decimals parse back to the very same floats.
  EXPECT_EQ(jsonl, npy.f32);
}

TEST_F(BertEmbedGoldenCli, LayersKeptApartMatchGoldensInBothFormats) {
  const NpyArray golden = Golden("tiny-uncased", "english").mean();
  const NpyArray npy = embed_npy("tiny-uncased", "english", {"--layers", "-1,0"});
  ASSERT_EQ(npy.shape, (std::vector<std::int64_t>{golden.shape[0], 2, kTinyHidden}));
  std::vector<float> expected;
  for (std::int64_t line = 0; line < golden.shape[0]; ++line) {
    for (const int layer : {kTinyLayers, 0}) {
      const float* begin = golden.f32.data() + (line * golden.shape[1] + layer) * kTinyHidden;
      expected.insert(expected.end(), begin, begin + kTinyHidden);
    }
  }
  EXPECT_LT(max_abs_difference(npy.f32, expected), kGoldenTolerance);

  const std::vector<json> records = parse_jsonl(embed_jsonl("tiny-uncased", "english", {"--layers", "-1,0"}));
  ASSERT_EQ(static_cast<std::int64_t>(records.size()), golden.shape[0]);
  std::vector<float> jsonl;
  for (const json& record : records) {
    ASSERT_TRUE(record.contains("layers")) << record.dump().substr(0, 200);
    for (const char* label : {"-1", "0"}) {
      const std::vector<float> row = floats_of(record["layers"][label]);
      jsonl.insert(jsonl.end(), row.begin(), row.end());
    }
  }
  EXPECT_EQ(jsonl, npy.f32);
}

TEST_F(BertEmbedGoldenCli, LayerMeanAndConcatCombineGoldenLayers) {
  const NpyArray golden = Golden("tiny-uncased", "english").mean();
  const std::vector<float> first = pooled_layer(golden, 1);
  const std::vector<float> last = pooled_layer(golden, -1);

  const NpyArray averaged = embed_npy("tiny-uncased", "english", {"--layers", "1,-1", "--layer-agg", "mean"});
  ASSERT_EQ(averaged.shape, (std::vector<std::int64_t>{golden.shape[0], kTinyHidden}));
  std::vector<float> expected_mean(first.size());
  for (std::size_t i = 0; i < first.size(); ++i) expected_mean[i] = (first[i] + last[i]) / 2;
  EXPECT_LT(max_abs_difference(averaged.f32, expected_mean), kGoldenTolerance);

  const NpyArray concatenated =
      embed_npy("tiny-uncased", "english", {"--layers", "1,-1", "--layer-agg", "concat"});
  ASSERT_EQ(concatenated.shape, (std::vector<std::int64_t>{golden.shape[0], 2 * kTinyHidden}));
  std::vector<float> expected_concat;
  for (std::int64_t line = 0; line < golden.shape[0]; ++line) {
    expected_concat.insert(expected_concat.end(), first.begin() + line * kTinyHidden,
                           first.begin() + (line + 1) * kTinyHidden);
    expected_concat.insert(expected_concat.end(), last.begin() + line * kTinyHidden,
                           last.begin() + (line + 1) * kTinyHidden);
  }
  EXPECT_LT(max_abs_difference(concatenated.f32, expected_concat), kGoldenTolerance);
}

// --layer-agg mean averages the layers token by token, then --pooling max
// takes the maximum over tokens: the other order (each layer's maximum, then
// their average) gives other vectors, which this test tells apart.
TEST_F(BertEmbedGoldenCli, LayerMeanIsTakenPerTokenBeforeMaxPooling) {
  const Golden golden("tiny-uncased", "english");
  const NpyArray hidden = golden.hidden();  // [layers + 1, tokens, hidden]
  const std::vector<std::int64_t> offsets = golden.offsets();
  const std::int64_t layers = hidden.shape[0];
  const std::int64_t tokens = hidden.shape[1];
  const auto value = [&](std::int64_t layer, std::int64_t token, std::int64_t k) {
    return hidden.f32[(layer * tokens + token) * kTinyHidden + k];
  };
  std::vector<float> expected;  // max over tokens of the layer mean
  std::vector<float> swapped;   // mean over layers of each layer's max
  for (std::size_t line = 0; line + 1 < offsets.size(); ++line) {
    for (std::int64_t k = 0; k < kTinyHidden; ++k) {
      float max_of_mean = -std::numeric_limits<float>::infinity();
      std::vector<float> layer_max(layers, -std::numeric_limits<float>::infinity());
      for (std::int64_t token = offsets[line]; token < offsets[line + 1]; ++token) {
        float sum = 0;
        for (std::int64_t layer = 0; layer < layers; ++layer) {
          sum += value(layer, token, k);
          layer_max[layer] = std::max(layer_max[layer], value(layer, token, k));
        }
        max_of_mean = std::max(max_of_mean, sum / layers);
      }
      expected.push_back(max_of_mean);
      swapped.push_back(std::accumulate(layer_max.begin(), layer_max.end(), 0.0f) / layers);
    }
  }
  ASSERT_GT(max_abs_difference(swapped, expected), 100 * kGoldenTolerance) << "the golden cannot tell the orders apart";

  const NpyArray actual =
      embed_npy("tiny-uncased", "english", {"--layers", "all", "--layer-agg", "mean", "--pooling", "max"});
  ASSERT_EQ(actual.shape, (std::vector<std::int64_t>{static_cast<std::int64_t>(offsets.size()) - 1, kTinyHidden}));
  EXPECT_LT(max_abs_difference(actual.f32, expected), kGoldenTolerance);
}

TEST_F(BertEmbedGoldenCli, TokensMatchGoldenHiddenStatesInBothFormats) {
  const Golden golden("tiny-uncased", "edge_cases");
  const NpyArray hidden = golden.hidden();  // [layers + 1, tokens, hidden]
  const std::int64_t total_tokens = hidden.shape[1];
  const std::vector<float> last = hidden_layer(hidden, -1);

  const NpyArray npy = embed_npy("tiny-uncased", "edge_cases", {"--pooling", "tokens"}, "tokens.npy");
  ASSERT_EQ(npy.shape, (std::vector<std::int64_t>{total_tokens, kTinyHidden}));
  EXPECT_LT(max_abs_difference(npy.f32, last), kGoldenTolerance);
  EXPECT_EQ(read_npy(path("tokens.offsets.npy")).i64, golden.offsets());

  const std::vector<json> records = parse_jsonl(embed_jsonl("tiny-uncased", "edge_cases", {"--pooling", "tokens"}));
  const std::vector<GoldenTokens> golden_tokens = golden.tokens();
  ASSERT_EQ(records.size(), golden_tokens.size());
  std::vector<float> jsonl;
  for (std::size_t i = 0; i < records.size(); ++i) {
    EXPECT_EQ(records[i]["tokens"], json(golden_tokens[i].tokens)) << "line " << i;
    EXPECT_EQ(records[i]["spans"].size(), records[i]["tokens"].size());
    const std::vector<float> rows = floats_of(records[i]["embeddings"]);
    jsonl.insert(jsonl.end(), rows.begin(), rows.end());
  }
  EXPECT_EQ(jsonl, npy.f32);
}

TEST_F(BertEmbedGoldenCli, ExcludeSpecialDropsClsAndSepTokens) {
  const std::vector<json> records = parse_jsonl(
      embed_jsonl("tiny-uncased", "edge_cases", {"--pooling", "tokens", "--exclude-special"}));
  ASSERT_FALSE(records.empty());
  EXPECT_EQ(records[0]["tokens"], json::parse(R"(["hello", ",", "world", "!"])"));
  EXPECT_EQ(records[0]["spans"], json::parse("[[0, 5], [5, 6], [7, 12], [12, 13]]"));
}

TEST_F(BertEmbedGoldenCli, PoolerMatchesGoldenAndIsRefusedWithoutOne) {
  const NpyArray golden = Golden("tiny-uncased", "english").pooler();
  const NpyArray actual = embed_npy("tiny-uncased", "english", {"--pooling", "pooler"});
  ASSERT_EQ(actual.shape, golden.shape);
  EXPECT_LT(max_abs_difference(actual.f32, golden.f32), kGoldenTolerance);

  const RunResult refused = run({"-m", test_bundle("tiny-mlm-uncased").string(), "--pooling", "pooler", "-i",
                                 Golden("tiny-mlm-uncased", "english").input_file().string()});
  EXPECT_EQ(refused.status, 2);
  EXPECT_NE(refused.err.find("has no pooler"), std::string::npos) << refused.err;
  EXPECT_TRUE(refused.out.empty());
}

TEST_F(BertEmbedGoldenCli, L2NormalizedRowsHaveUnitNorm) {
  const NpyArray actual = embed_npy("tiny-uncased", "english", {"--normalize", "l2"});
  ASSERT_EQ(actual.shape.size(), 2u);
  for (std::int64_t row = 0; row < actual.shape[0]; ++row) {
    double norm = 0;
    for (std::int64_t k = 0; k < actual.shape[1]; ++k) norm += std::pow(actual.f32[row * actual.shape[1] + k], 2);
    EXPECT_NEAR(std::sqrt(norm), 1.0, 1e-5) << "row " << row;
  }
}

TEST_F(BertEmbedGoldenCli, StandardizedColumnsHaveZeroMeanAndUnitVariance) {
  const NpyArray actual = embed_npy("tiny-uncased", "english", {"--standardize"});
  ASSERT_EQ(actual.shape.size(), 2u);
  const std::int64_t rows = actual.shape[0];
  const std::int64_t dim = actual.shape[1];
  for (std::int64_t column = 0; column < dim; ++column) {
    double sum = 0;
    double squares = 0;
    for (std::int64_t row = 0; row < rows; ++row) {
      const double value = actual.f32[row * dim + column];
      sum += value;
      squares += value * value;
    }
    const double mean = sum / rows;
    EXPECT_NEAR(mean, 0.0, 1e-4) << "column " << column;
    EXPECT_NEAR(squares / rows - mean * mean, 1.0, 1e-4) << "column " << column;
  }
}

TEST_F(BertEmbedGoldenCli, SavedStatisticsReproduceTheFittingRunExactly) {
  const std::vector<std::string> transforms = {"--whiten", "64", "--remove-top", "2", "--standardize",
                                               "--normalize", "l2"};
  std::vector<std::string> fitting = transforms;
  fitting.insert(fitting.end(), {"--save-stats", path("stats.json").string()});
  embed_npy("tiny-uncased", "english", fitting, "fitted.npy");
  std::vector<std::string> applying = transforms;
  applying.insert(applying.end(), {"--stats", path("stats.json").string()});
  const NpyArray applied = embed_npy("tiny-uncased", "english", applying, "applied.npy");
  EXPECT_EQ(applied.shape, (std::vector<std::int64_t>{200, 64}));
  EXPECT_EQ(read_file(path("fitted.npy")), read_file(path("applied.npy")));
}

TEST_F(BertEmbedGoldenCli, NumpyLoadsEveryNpyShape) {
  const fs::path input = Golden("tiny-uncased", "english").input_file();
  const fs::path empty = input_file("empty.txt", "");
  struct Case {
    std::vector<std::string> args;
    std::string file;
    std::string shape;
  };
  const std::vector<Case> cases = {
      {{"-i", input.string()}, "pooled.npy", "(200, 128) float32"},
      {{"-i", input.string(), "--layers", "0,1,2"}, "layers.npy", "(200, 3, 128) float32"},
      {{"-i", input.string(), "--pooling", "tokens"}, "tokens.npy", "(2025, 128) float32"},
      {{"-i", input.string(), "--pooling", "tokens", "--layers", "all"}, "tokens_layers.npy",
       "(2025, 3, 128) float32"},
      {{"-i", empty.string()}, "empty.npy", "(0, 128) float32"},
  };
  for (const Case& test : cases) {
    SCOPED_TRACE(test.file);
    std::vector<std::string> args = {"-m", test_bundle("tiny-uncased").string(), "-q", "-o", path(test.file).string()};
    args.insert(args.end(), test.args.begin(), test.args.end());
    embed(args);
    const RunResult loaded = run_shell(
        "/usr/bin/python3 -c 'import numpy, sys; a = numpy.load(sys.argv[1]); print(a.shape, a.dtype)' " +
            shell_quote(path(test.file).string()),
        path(""));
    EXPECT_EQ(loaded.status, 0) << loaded.err;
    EXPECT_EQ(loaded.out, test.shape + "\n");
  }
  const RunResult offsets = run_shell(
      "/usr/bin/python3 -c 'import numpy, sys; a = numpy.load(sys.argv[1]); print(a.shape, a.dtype, a[-1])' " +
          shell_quote(path("tokens.offsets.npy").string()),
      path(""));
  EXPECT_EQ(offsets.out, "(201,) int64 2025\n") << offsets.err;
}

TEST_F(BertEmbedGoldenCli, JqParsesEveryJsonlLine) {
  const fs::path input = input_file("ids.jsonl", "{\"text\": \"first line\", \"id\": \"a\\\"1\"}\n"
                                                 "{\"text\": \"\", \"id\": 2}\n");
  const std::vector<std::vector<std::string>> variants = {
      {},
      {"--layers", "0,-1"},
      {"--pooling", "tokens"},
      {"--pooling", "tokens", "--layers", "all"},
  };
  for (const std::vector<std::string>& variant : variants) {
    std::vector<std::string> args = {"-m", test_bundle("tiny-uncased").string(), "-q", "-i", input.string(),
                                     "--input-format", "jsonl", "--id-field", "id", "-o", path("out.jsonl").string()};
    args.insert(args.end(), variant.begin(), variant.end());
    embed(args);
    const RunResult parsed = run_shell("jq -c '[.index, .id]' " + shell_quote(path("out.jsonl").string()), path(""));
    EXPECT_EQ(parsed.status, 0) << parsed.err;
    EXPECT_EQ(parsed.out, "[0,\"a\\\"1\"]\n[1,\"2\"]\n");
  }
}

TEST_F(BertEmbedGoldenCli, ResultsKeepInputOrderAcrossWindowsAndBatches) {
  // 21 copies of the golden input: more lines than one window (4096) holds.
  constexpr int kCopies = 21;
  const Golden golden("tiny-uncased", "english");
  const std::string corpus = read_file(golden.input_file());
  std::string copies;
  for (int copy = 0; copy < kCopies; ++copy) copies += corpus;
  const fs::path input = input_file("copies.txt", copies);
  const std::vector<float> expected = pooled_layer(golden.cls(), -1);
  for (const std::string budget : {"8192", "300"}) {
    SCOPED_TRACE("--batch-tokens " + budget);
    embed({"-m", test_bundle("tiny-uncased").string(), "-q", "-i", input.string(), "-o", path("out.npy").string(),
           "--pooling", "cls", "--batch-tokens", budget});
    const NpyArray actual = read_npy(path("out.npy"));
    ASSERT_EQ(actual.f32.size(), kCopies * expected.size());
    for (int copy = 0; copy < kCopies; ++copy) {
      const auto begin = actual.f32.begin() + copy * static_cast<std::ptrdiff_t>(expected.size());
      EXPECT_LT(max_abs_difference(std::vector<float>(begin, begin + expected.size()), expected), kGoldenTolerance)
          << "copy " << copy;
    }
  }
}

TEST_F(BertEmbedGoldenCli, ReadsStdinAndModelFromEnvironment) {
  const fs::path input = Golden("tiny-uncased", "edge_cases").input_file();
  const std::string from_file = embed({"-m", test_bundle("tiny-uncased").string(), "-q", "-i", input.string()});
  const RunResult from_stdin =
      run_shell("BERT_EMBED_MODEL=" + shell_quote(test_bundle("tiny-uncased").string()) + " " +
                    bert_embed_command({"-q"}) + " < " + shell_quote(input.string()),
                path(""));
  EXPECT_EQ(from_stdin.status, 0) << from_stdin.err;
  EXPECT_EQ(from_stdin.out, from_file);
}

TEST_F(BertEmbedGoldenCli, SummaryLineReportsLinesTokensAndTruncation) {
  const RunResult result =
      run({"-m", test_bundle("tiny-uncased").string(), "--max-length", "8", "-i",
           Golden("tiny-uncased", "edge_cases").input_file().string(), "-o", path("out.jsonl").string()});
  EXPECT_EQ(result.status, 0) << result.err;
  EXPECT_NE(result.err.find("bert-embed: 35 lines, "), std::string::npos) << result.err;
  EXPECT_NE(result.err.find("tokens (8 truncated lines, "), std::string::npos) << result.err;
  EXPECT_NE(result.err.find("% padding) in "), std::string::npos) << result.err;
  EXPECT_NE(result.err.find(" lines/s"), std::string::npos) << result.err;
}

TEST_F(BertEmbedGoldenCli, InvalidUtf8IsAnErrorNamingTheLineOrReplaced) {
  const fs::path input = input_file("bad.txt", "fine\nnot \xFF fine\n");
  const RunResult refused = run({"-m", test_bundle("tiny-uncased").string(), "-i", input.string(), "-o",
                                 path("out.jsonl").string()});
  EXPECT_EQ(refused.status, 1);
  EXPECT_NE(refused.err.find("bert-embed: error: " + input.string() + ":2: invalid UTF-8 at byte 5"),
            std::string::npos)
      << refused.err;
  EXPECT_FALSE(fs::exists(path("out.jsonl")));

  const RunResult replaced = run({"-m", test_bundle("tiny-uncased").string(), "-q", "-i", input.string(),
                                  "--on-invalid-utf8", "replace"});
  EXPECT_EQ(replaced.status, 0) << replaced.err;
  EXPECT_EQ(split_lines(replaced.out).size(), 2u);
}

TEST_F(BertEmbedGoldenCli, EmptyInputGivesValidEmptyOutput) {
  const fs::path empty = input_file("empty.txt", "");
  const RunResult jsonl = run({"-m", test_bundle("tiny-uncased").string(), "-q", "-i", empty.string()});
  EXPECT_EQ(jsonl.status, 0) << jsonl.err;
  EXPECT_EQ(jsonl.out, "");
  embed({"-m", test_bundle("tiny-uncased").string(), "-q", "-i", empty.string(), "-o", path("empty.npy").string()});
  EXPECT_EQ(read_npy(path("empty.npy")).shape, (std::vector<std::int64_t>{0, kTinyHidden}));
}

TEST_F(BertEmbedGoldenCli, EmptyAndBlankLinesGetTheVectorOfClsSep) {
  const fs::path input = input_file("blank.txt", "\n   \n\t\n");
  const fs::path reference = input_file("reference.jsonl", "{\"text\": \"\"}\n");
  const std::vector<json> blank = parse_jsonl(embed({"-m", test_bundle("tiny-uncased").string(), "-q", "-i", input.string()}));
  const std::vector<json> empty = parse_jsonl(embed({"-m", test_bundle("tiny-uncased").string(), "-q", "-i",
                                                     reference.string(), "--input-format", "jsonl"}));
  ASSERT_EQ(blank.size(), 3u);
  ASSERT_EQ(empty.size(), 1u);
  // Batches of different sizes may round the last bit differently.
  for (const json& record : blank) {
    EXPECT_LT(max_abs_difference(floats_of(record["embedding"]), floats_of(empty[0]["embedding"])), 1e-5f);
  }
  const std::vector<json> tokens = parse_jsonl(embed({"-m", test_bundle("tiny-uncased").string(), "-q", "-i",
                                                      input.string(), "--pooling", "tokens"}));
  for (const json& record : tokens) EXPECT_EQ(record["tokens"], json::parse(R"(["[CLS]", "[SEP]"])"));
}

TEST_F(BertEmbedGoldenCli, CrlfLineEndsAndByteOrderMarkGiveTheSameVectors) {
  const std::vector<std::string> lines = read_lines(Golden("tiny-uncased", "english").input_file());
  std::string plain;
  std::string windows = "\xEF\xBB\xBF";
  for (const std::string& line : lines) {
    plain += line + "\n";
    windows += line + "\r\n";
  }
  const fs::path plain_file = input_file("plain.txt", plain);
  const fs::path windows_file = input_file("windows.txt", windows);
  const std::string expected = embed({"-m", test_bundle("tiny-uncased").string(), "-q", "-i", plain_file.string()});
  EXPECT_EQ(embed({"-m", test_bundle("tiny-uncased").string(), "-q", "-i", windows_file.string()}), expected);
}

TEST_F(BertEmbedGoldenCli, MegabyteLineIsTruncatedOrRefusedAsAsked) {
  std::string long_line;
  // Just below the 1 MiB a line may have (--max-line-bytes): the token limit is what cuts it.
  while (long_line.size() < (1u << 20) - 8) long_line += "word ";
  const fs::path input = input_file("long.txt", "short line\n" + long_line + "\n");

  const RunResult truncated = run({"-m", test_bundle("tiny-uncased").string(), "-i", input.string()});
  EXPECT_EQ(truncated.status, 0) << truncated.err;
  const std::vector<json> records = parse_jsonl(truncated.out);
  ASSERT_EQ(records.size(), 2u);
  EXPECT_EQ(records[1]["embedding"].size(), static_cast<std::size_t>(kTinyHidden));
  EXPECT_NE(truncated.err.find("(1 truncated lines, "), std::string::npos) << truncated.err;

  const RunResult refused = run({"-m", test_bundle("tiny-uncased").string(), "-i", input.string(), "--on-overflow",
                                 "error", "-o", path("out.jsonl").string()});
  EXPECT_EQ(refused.status, 1);
  EXPECT_NE(refused.err.find(input.string() + ":2: longer than the maximum of 512 tokens"), std::string::npos)
      << refused.err;
  EXPECT_FALSE(fs::exists(path("out.jsonl")));
}

TEST_F(BertEmbedGoldenCli, MissingModelDirectoryIsARuntimeError) {
  const RunResult result = run({"-m", path("no-such-model").string(), "-i", input_file("in.txt", "a\n").string()});
  EXPECT_EQ(result.status, 1);
  EXPECT_NE(result.err.find("bert-embed: error: "), std::string::npos) << result.err;
  EXPECT_NE(result.err.find(path("no-such-model").string()), std::string::npos) << result.err;
  EXPECT_EQ(std::count(result.err.begin(), result.err.end(), '\n'), 1) << result.err;
}

TEST_F(BertEmbedGoldenCli, UnwritableOutputFailsAndLeavesNoFile) {
  const fs::path input = Golden("tiny-uncased", "english").input_file();
  const RunResult missing_dir = run({"-m", test_bundle("tiny-uncased").string(), "-i", input.string(), "-o",
                                     path("missing/out.jsonl").string()});
  EXPECT_EQ(missing_dir.status, 1);
  EXPECT_NE(missing_dir.err.find("bert-embed: error: cannot write " + path("missing/out.jsonl").string()),
            std::string::npos)
      << missing_dir.err;

  const RunResult full_disk = run({"-m", test_bundle("tiny-uncased").string(), "-i", input.string(), "-o", "/dev/full"});
  EXPECT_EQ(full_disk.status, 1);
  EXPECT_NE(full_disk.err.find("bert-embed: error: "), std::string::npos) << full_disk.err;
}

TEST_F(BertEmbedGoldenCli, FailureAfterSomeOutputLeavesNoFile) {
  // The bad line comes after a first window of 4096 lines was written.
  std::string content;
  for (int i = 0; i < 4200; ++i) content += "line\n";
  content += "bad \xC0 line\n";
  const fs::path input = input_file("late_error.txt", content);
  for (const std::string name : {"out.jsonl", "out.npy"}) {
    const RunResult result = run({"-m", test_bundle("tiny-uncased").string(), "-i", input.string(), "-o", path(name).string()});
    EXPECT_EQ(result.status, 1);
    EXPECT_NE(result.err.find(":4201: invalid UTF-8"), std::string::npos) << result.err;
  }
  EXPECT_EQ(files_in_temp_dir(), (std::vector<std::string>{"late_error.txt"}));
}

TEST_F(BertEmbedGoldenCli, NpyToStdoutIsAUsageError) {
  const RunResult result = run({"-m", test_bundle("tiny-uncased").string(), "-f", "npy"});
  EXPECT_EQ(result.status, 2);
  EXPECT_NE(result.err.find("NPY output needs a file"), std::string::npos) << result.err;
}

TEST_F(BertEmbedGoldenCli, BadOptionsAreUsageErrors) {
  const std::string model = test_bundle("tiny-uncased").string();
  const std::string input = input_file("in.txt", "a line\n").string();
  const std::vector<std::vector<std::string>> bad = {
      {"-m", model, "--no-such-option"},
      {"-m", model, "-i", input, "-o", path("out.npy").string(), "--shard", "0/1", "--checkpoint-seconds", "nan"},
      {"-m", model, "--pooling", "median"},
      {"-m", model, "--batch-tokens", "0"},
      {"-m", model, "--layers", "7"},
      {"-m", model, "--layers", "1,x"},
      {"-m", model, "--max-length", "100000"},
      {"-m", model, "--text-field", "text"},
      {"-m", model, "--stats", "/nonexistent.json", "--standardize"},
      {"-m", model, "--save-stats", path("s.json").string()},
      {"-m", model, "--pooling", "cls", "--exclude-special"},
      {"-m", model, "--device", "tpu"},
      {"-i", "-"},
  };
  for (const std::vector<std::string>& args : bad) {
    std::string joined;
    for (const std::string& arg : args) joined += arg + " ";
    SCOPED_TRACE(joined);
    const RunResult result = run(args);
    EXPECT_EQ(result.status, 2) << result.err;
    EXPECT_EQ(result.err.rfind("bert-embed: error: ", 0), 0u) << result.err;
    EXPECT_TRUE(result.out.empty());
  }
}

TEST_F(BertEmbedGoldenCli, HelpDocumentsEveryOptionWithItsDefault) {
  const RunResult help = run({"--help"});
  EXPECT_EQ(help.status, 0);
  for (const char* option :
       {"--model", "--input", "--output", "--format", "--layers", "--layer-agg", "--pooling", "--exclude-special",
        "--whiten", "--remove-top", "--standardize", "--normalize", "--stats", "--save-stats", "--max-length",
        "--on-overflow", "--on-invalid-utf8", "--input-format", "--text-field", "--pair-field", "--id-field",
        "--device", "--threads", "--dtype", "--batch-tokens", "--quiet", "--progress", "--log-level", "--version",
        "--output-dtype", "--int8-ranges", "BERT_EMBED_MODEL", "tokenize", "stats", "postprocess"}) {
    EXPECT_NE(help.out.find(option), std::string::npos) << option;
  }
  // Every option but --help and --version shows its default ("=...").
  for (const std::string& line : split_lines(help.out)) {
    if (line.rfind("  -", 0) != 0 || line.find("--help") != std::string::npos ||
        line.find("--version") != std::string::npos) {
      continue;
    }
    EXPECT_NE(line.find('='), std::string::npos) << line;
  }
}

TEST_F(BertEmbedGoldenCli, StatsAndPostprocessHelpShowsEveryDefault) {
  for (const char* command : {"stats", "postprocess"}) {
    const RunResult help = run({command, "--help"});
    EXPECT_EQ(help.status, 0) << command;
    for (const std::string& line : split_lines(help.out)) {
      if (line.rfind("  -", 0) != 0 || line.find("--help") != std::string::npos ||
          line.find("--version") != std::string::npos) {
        continue;
      }
      EXPECT_TRUE(line.find('=') != std::string::npos || line.find("REQUIRED") != std::string::npos) << line;
    }
  }
}

TEST_F(BertEmbedGoldenCli, VersionNamesLibtorch) {
  const RunResult version = run({"--version"});
  EXPECT_EQ(version.status, 0);
  EXPECT_EQ(version.out.rfind("bert-embed ", 0), 0u) << version.out;
  EXPECT_TRUE(std::regex_search(version.out, std::regex("\nlibtorch [0-9]+\\.[0-9]+"))) << version.out;
  EXPECT_NE(version.out.find("CUDA"), std::string::npos) << version.out;
}

TEST_F(BertEmbedGoldenCli, TokenizeMatchesGoldenTokensAndIds) {
  const Golden golden("tiny-uncased", "edge_cases");
  const RunResult result = run({"tokenize", "-m", test_bundle("tiny-uncased").string(), "-i",
                                golden.input_file().string()});
  EXPECT_EQ(result.status, 0) << result.err;
  const std::vector<json> records = parse_jsonl(result.out);
  const std::vector<GoldenTokens> expected = golden.tokens();
  ASSERT_EQ(records.size(), expected.size());
  for (std::size_t i = 0; i < records.size(); ++i) {
    EXPECT_EQ(records[i]["index"], i);
    EXPECT_EQ(records[i]["tokens"], json(expected[i].tokens)) << "line " << i;
    EXPECT_EQ(records[i]["ids"], json(expected[i].ids)) << "line " << i;
  }
}

TEST_F(BertEmbedGoldenCli, TokenizeTruncatesLikeEmbedding) {
  const fs::path input = input_file("in.txt", "one two three four five six\n");
  const RunResult result = run({"tokenize", "-m", test_bundle("tiny-uncased").string(), "-i", input.string(),
                                "--max-length", "4"});
  EXPECT_EQ(result.status, 0) << result.err;
  EXPECT_EQ(json::parse(result.out)["tokens"], json::parse(R"(["[CLS]", "one", "two", "[SEP]"])"));
}

// The reference encoded the pairs as [CLS] a [SEP] b [SEP] with token types
// 0 then 1: every layer of every token matches only if type 1 reaches the model.
TEST_F(BertEmbedGoldenCli, SentencePairsMatchGoldenTokensOfEveryLayer) {
  const Golden golden("tiny-uncased", "pairs");
  const NpyArray hidden = golden.hidden();  // [layers + 1, tokens, hidden]
  const NpyArray actual = embed_npy("tiny-uncased", "pairs",
                                    {"--input-format", "tsv", "--text-field", "1", "--pair-field", "2", "--pooling",
                                     "tokens", "--layers", "all"});
  ASSERT_EQ(actual.shape, (std::vector<std::int64_t>{hidden.shape[1], hidden.shape[0], kTinyHidden}));
  EXPECT_EQ(read_npy(path("out.offsets.npy")).i64, golden.offsets());
  EXPECT_LT(max_abs_difference(actual.f32, token_major(hidden)), kGoldenTolerance);
}

TEST_F(BertEmbedGoldenCli, SentencePairsUseTokenTypeOne) {
  const fs::path input = input_file("pairs.tsv", "id\tfirst\tsecond\nx\tA man.\tA woman.\n");
  const RunResult result = run({"tokenize", "-m", test_bundle("tiny-uncased").string(), "-i", input.string(),
                                "--input-format", "tsv", "--text-field", "first", "--pair-field", "second",
                                "--id-field", "id"});
  EXPECT_EQ(result.status, 0) << result.err;
  const json record = json::parse(result.out);
  EXPECT_EQ(record["id"], "x");
  EXPECT_EQ(record["tokens"], json::parse(R"(["[CLS]", "a", "man", ".", "[SEP]", "a", "woman", ".", "[SEP]"])"));
  const RunResult embedded = run({"-m", test_bundle("tiny-uncased").string(), "-q", "-i", input.string(),
                                  "--input-format", "tsv", "--text-field", "first", "--pair-field", "second"});
  EXPECT_EQ(embedded.status, 0) << embedded.err;
  EXPECT_EQ(parse_jsonl(embedded.out).size(), 1u);
}

}  // namespace
}  // namespace bert_embed::test
