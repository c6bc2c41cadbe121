#include "bert_embed/io/jsonl_writer.h"

#include <gtest/gtest.h>

#include <charconv>
#include <cmath>
#include <cstring>
#include <functional>
#include <limits>
#include <nlohmann/json.hpp>
#include <stdexcept>
#include <string>
#include <vector>

#include "command.h"
#include "expect_error.h"
#include "fixtures.h"
#include "temp_dir.h"

namespace bert_embed {
namespace {

namespace fs = std::filesystem;

// Writers of these tests describe their outputs with no provenance.
const Manifest kNoProvenance;
using ordered_json = nlohmann::ordered_json;

std::vector<ordered_json> parse_lines(const fs::path& file) {
  std::vector<ordered_json> objects;
  for (const std::string& line : test::read_lines(file))
    objects.push_back(ordered_json::parse(line));
  return objects;
}

bool same_bits(float a, float b) { return std::memcmp(&a, &b, sizeof(float)) == 0; }

// Every element of `array` (nested JSON arrays) parses back to the float of
// `expected` at the same position, bit for bit.
::testing::AssertionResult floats_match(const ordered_json& array, const at::Tensor& expected) {
  const at::Tensor flat = expected.contiguous().view(-1);
  const float* values = flat.data_ptr<float>();
  std::int64_t position = 0;
  std::function<bool(const ordered_json&)> walk = [&](const ordered_json& node) {
    if (node.is_array()) {
      for (const auto& child : node) {
        if (!walk(child)) return false;
      }
      return true;
    }
    return position < flat.numel() && node.is_number() &&
           same_bits(static_cast<float>(node.get<double>()), values[position++]);
  };
  if (!walk(array) || position != flat.numel()) {
    return ::testing::AssertionFailure()
           << "mismatch at element " << position << " of " << array.dump();
  }
  return ::testing::AssertionSuccess();
}

WriterOptions jsonl_options(const fs::path& output, std::vector<std::string> labels = {"-1"},
                            bool per_token = false) {
  WriterOptions options;
  options.format = OutputFormat::kJsonl;
  options.output = output;
  options.slot_labels = std::move(labels);
  options.per_token = per_token;
  return options;
}

TEST(AppendJsonString, EscapesQuotesBackslashesAndControlCharacters) {
  std::string out;
  append_json_string(out, std::string("a\"b\\c\nd\te\x01\x1f\x7f", 12));
  EXPECT_EQ(out, "\"a\\\"b\\\\c\\u000ad\\u0009e\\u0001\\u001f\x7f\"");
}

TEST(AppendJsonString, PassesUtf8Through) {
  std::string out;
  append_json_string(out, "caf\xC3\xA9 \xE4\xB8\xAD \xF0\x9F\x98\x80");
  EXPECT_EQ(out, "\"caf\xC3\xA9 \xE4\xB8\xAD \xF0\x9F\x98\x80\"");
  EXPECT_EQ(nlohmann::json::parse(out).get<std::string>(),
            "caf\xC3\xA9 \xE4\xB8\xAD \xF0\x9F\x98\x80");
}

TEST(AppendJsonFloat, ShortestFormParsesBackToTheSameFloat) {
  const std::vector<float> special = {0.0f,
                                      -0.0f,
                                      0.1f,
                                      -1.5f,
                                      1e-5f,
                                      123456789.0f,
                                      std::numeric_limits<float>::min(),
                                      std::numeric_limits<float>::denorm_min(),
                                      std::numeric_limits<float>::max(),
                                      std::numeric_limits<float>::lowest()};
  // Magnitudes from subnormal to near the largest float.
  const at::Tensor random =
      (at::randn({20000}, at::kDouble) * at::pow(10.0, at::randint(-44, 38, {20000}, at::kDouble)))
          .to(at::kFloat);
  std::vector<float> values(special);
  values.insert(values.end(), random.data_ptr<float>(), random.data_ptr<float>() + random.numel());
  for (const float value : values) {
    std::string text;
    append_json_float(text, value);
    EXPECT_TRUE(same_bits(static_cast<float>(nlohmann::json::parse(text).get<double>()), value))
        << text;
    float parsed = 0;
    std::from_chars(text.data(), text.data() + text.size(), parsed);
    EXPECT_TRUE(same_bits(parsed, value)) << text;
  }
  std::string shortest;
  append_json_float(shortest, 0.1f);
  EXPECT_EQ(shortest, "0.1");
}

TEST(AppendJsonFloat, RefusesNanAndInfinity) {
  std::string out;
  EXPECT_THROW(append_json_float(out, std::numeric_limits<float>::quiet_NaN()),
               std::invalid_argument);
  EXPECT_THROW(append_json_float(out, std::numeric_limits<float>::infinity()),
               std::invalid_argument);
}

TEST(JsonlWriter, PooledRecordsInInputOrder) {
  const test::TempDir dir;
  const fs::path output = dir.path() / "out.jsonl";
  const at::Tensor vectors = at::randn({3, 1, 5});
  OutputSet outputs;
  auto writer = make_embedding_writer(outputs, jsonl_options(output), kNoProvenance);
  writer->write(PooledRecord{0, std::nullopt, vectors[0]});
  writer->write(PooledRecord{1, "doc-\"1\"", vectors[1]});
  writer->write(PooledRecord{2, std::nullopt, vectors[2]});
  EXPECT_FALSE(fs::exists(output));
  writer->finish();
  outputs.commit();

  const std::vector<ordered_json> lines = parse_lines(output);
  ASSERT_EQ(lines.size(), 3u);
  for (std::size_t i = 0; i < lines.size(); ++i) {
    EXPECT_EQ(lines[i]["index"], i);
    EXPECT_TRUE(floats_match(lines[i]["embedding"], vectors[i]));
  }
  EXPECT_FALSE(lines[0].contains("id"));
  EXPECT_EQ(lines[1]["id"], "doc-\"1\"");
  EXPECT_EQ(lines[1].begin().key(), "index");
  EXPECT_EQ(std::next(lines[1].begin()).key(), "id");
}

TEST(JsonlWriter, LayersKeptApartAreKeyedByLabelInTheOrderAsked) {
  const test::TempDir dir;
  const fs::path output = dir.path() / "out.jsonl";
  const at::Tensor vectors = at::randn({2, 2, 4});
  OutputSet outputs;
  auto writer = make_embedding_writer(outputs, jsonl_options(output, {"-2", "-1"}), kNoProvenance);
  writer->write(PooledRecord{0, std::nullopt, vectors[0]});
  writer->write(PooledRecord{1, std::nullopt, vectors[1]});
  writer->finish();
  outputs.commit();

  const std::vector<ordered_json> lines = parse_lines(output);
  ASSERT_EQ(lines.size(), 2u);
  for (std::size_t i = 0; i < lines.size(); ++i) {
    EXPECT_FALSE(lines[i].contains("embedding"));
    const ordered_json& layers = lines[i]["layers"];
    ASSERT_EQ(layers.size(), 2u);
    EXPECT_EQ(layers.begin().key(), "-2");
    EXPECT_TRUE(floats_match(layers["-2"], vectors[i][0]));
    EXPECT_TRUE(floats_match(layers["-1"], vectors[i][1]));
  }
}

TEST(JsonlWriter, PerTokenRecords) {
  const test::TempDir dir;
  const fs::path output = dir.path() / "out.jsonl";
  const at::Tensor embeddings = at::randn({1, 3, 4});
  OutputSet outputs;
  auto writer = make_embedding_writer(outputs, jsonl_options(output, {"-1"}, true), kNoProvenance);
  writer->write(TokenRecord{
      0, "a", {"[CLS]", "h\xC3\xA9llo", "[SEP]"}, {{0, 0}, {0, 6}, {0, 0}}, embeddings});
  writer->write(TokenRecord{1, std::nullopt, {}, {}, at::zeros({1, 0, 4})});
  writer->finish();
  outputs.commit();

  const std::vector<ordered_json> lines = parse_lines(output);
  ASSERT_EQ(lines.size(), 2u);
  EXPECT_EQ(lines[0]["tokens"], ordered_json({"[CLS]", "h\xC3\xA9llo", "[SEP]"}));
  EXPECT_EQ(lines[0]["spans"], ordered_json::parse("[[0,0],[0,6],[0,0]]"));
  ASSERT_EQ(lines[0]["embeddings"].size(), 3u);
  EXPECT_TRUE(floats_match(lines[0]["embeddings"], embeddings[0]));
  EXPECT_EQ(lines[1]["embeddings"], ordered_json::array());
}

TEST(JsonlWriter, PerTokenLayersKeptApart) {
  const test::TempDir dir;
  const fs::path output = dir.path() / "out.jsonl";
  const at::Tensor embeddings = at::randn({2, 3, 4});  // [slots, tokens, dim]
  OutputSet outputs;
  auto writer =
      make_embedding_writer(outputs, jsonl_options(output, {"0", "-1"}, true), kNoProvenance);
  writer->write(
      TokenRecord{0, std::nullopt, {"[CLS]", "x", "[SEP]"}, {{0, 0}, {0, 1}, {0, 0}}, embeddings});
  writer->finish();
  outputs.commit();

  const ordered_json line = parse_lines(output).at(0);
  EXPECT_FALSE(line.contains("embeddings"));
  EXPECT_TRUE(floats_match(line["layers"]["0"], embeddings[0]));
  EXPECT_TRUE(floats_match(line["layers"]["-1"], embeddings[1]));
  EXPECT_EQ(line["layers"]["-1"].size(), 3u);
}

TEST(JsonlWriter, JqParsesEveryLine) {
  const test::TempDir dir;
  const fs::path output = dir.path() / "out.jsonl";
  const at::Tensor vectors = at::randn({4, 2, 3}) * 1e-20;
  OutputSet outputs;
  auto writer = make_embedding_writer(outputs, jsonl_options(output, {"1", "2"}), kNoProvenance);
  for (std::int64_t i = 0; i < 4; ++i) {
    writer->write(
        PooledRecord{i, std::string("id\t\x01\"\\\xE2\x82\xAC") + std::to_string(i), vectors[i]});
  }
  writer->finish();
  outputs.commit();

  const test::CommandResult jq = test::run_command(
      "jq -c '[.index, .id, (.layers | keys_unsorted), (.layers[\"2\"] | length)]' " +
      test::shell_quote(output.string()));
  ASSERT_EQ(jq.exit_status, 0) << jq.output;
  EXPECT_EQ(jq.output,
            "[0,\"id\\t\\u0001\\\"\\\\\xE2\x82\xAC"
            "0\",[\"1\",\"2\"],3]\n"
            "[1,\"id\\t\\u0001\\\"\\\\\xE2\x82\xAC"
            "1\",[\"1\",\"2\"],3]\n"
            "[2,\"id\\t\\u0001\\\"\\\\\xE2\x82\xAC"
            "2\",[\"1\",\"2\"],3]\n"
            "[3,\"id\\t\\u0001\\\"\\\\\xE2\x82\xAC"
            "3\",[\"1\",\"2\"],3]\n");
}

TEST(JsonlWriter, WritesToStandardOutput) {
  const at::Tensor vector = at::tensor({0.5f, -2.0f}).reshape({1, 2});
  OutputSet outputs;
  auto writer = make_embedding_writer(outputs, jsonl_options("-"), kNoProvenance);
  ::testing::internal::CaptureStdout();
  writer->write(PooledRecord{0, std::nullopt, vector});
  writer->finish();
  outputs.commit();
  EXPECT_EQ(::testing::internal::GetCapturedStdout(), "{\"index\":0,\"embedding\":[0.5,-2]}\n");
}

TEST(JsonlWriter, FlushPassesEachBatchOnAtOnce) {
  OutputSet outputs;
  auto writer = make_embedding_writer(outputs, jsonl_options("-"), kNoProvenance);
  ::testing::internal::CaptureStdout();
  writer->write(PooledRecord{0, std::nullopt, at::ones({1, 1})});
  writer->flush();
  EXPECT_EQ(::testing::internal::GetCapturedStdout(), "{\"index\":0,\"embedding\":[1]}\n");
  ::testing::internal::CaptureStdout();
  writer->finish();
  outputs.commit();
  EXPECT_EQ(::testing::internal::GetCapturedStdout(), "");
}

TEST(JsonlWriter, NanIsAnErrorAndLeavesNoFile) {
  const test::TempDir dir;
  const fs::path output = dir.path() / "out.jsonl";
  {
    OutputSet outputs;
    auto writer = make_embedding_writer(outputs, jsonl_options(output), kNoProvenance);
    writer->write(PooledRecord{0, std::nullopt, at::ones({1, 3})});
    const std::string message = test::error_message<std::invalid_argument>(
        [&] { writer->write(PooledRecord{1, std::nullopt, at::full({1, 3}, NAN)}); });
    EXPECT_PRED_FORMAT2(::testing::IsSubstring, "record 1", message);
    EXPECT_PRED_FORMAT2(::testing::IsSubstring, "NaN", message);
  }
  EXPECT_TRUE(fs::is_empty(dir.path()));
}

TEST(JsonlWriter, InvalidUtf8IsNamed) {
  const test::TempDir dir;
  OutputSet outputs;
  auto writer =
      make_embedding_writer(outputs, jsonl_options(dir.path() / "out.jsonl"), kNoProvenance);
  try {
    writer->write(PooledRecord{0, std::string("ab\xFF"), at::ones({1, 3})});
    FAIL() << "invalid UTF-8 was written";
  } catch (const std::invalid_argument& error) {
    EXPECT_PRED_FORMAT2(::testing::IsSubstring, "record 0: id is not valid UTF-8 (byte 2)",
                        error.what());
  }
}

TEST(EmbeddingWriter, ChecksOrderKindAndShapes) {
  const test::TempDir dir;
  OutputSet outputs;
  auto writer = make_embedding_writer(
      outputs, jsonl_options(dir.path() / "out.jsonl", {"-2", "-1"}), kNoProvenance);
  EXPECT_THROW(writer->write(PooledRecord{1, std::nullopt, at::ones({2, 3})}), std::logic_error);
  EXPECT_THROW(writer->write(PooledRecord{0, std::nullopt, at::ones({1, 3})}),
               std::invalid_argument);
  EXPECT_THROW(writer->write(PooledRecord{0, std::nullopt, at::ones({2, 3}, at::kDouble)}),
               std::invalid_argument);
  EXPECT_THROW(writer->write(TokenRecord{0, std::nullopt, {"a"}, {{0, 1}}, at::ones({2, 1, 3})}),
               std::logic_error);
  writer->write(PooledRecord{0, std::nullopt, at::ones({2, 3})});
  EXPECT_THROW(writer->write(PooledRecord{1, std::nullopt, at::ones({2, 4})}),
               std::invalid_argument);
  EXPECT_EQ(writer->records_written(), 1);
  writer->finish();
  outputs.commit();
  EXPECT_THROW(writer->finish(), std::logic_error);
}

TEST(EmbeddingWriter, TokensSpansAndEmbeddingsMustAgree) {
  const test::TempDir dir;
  OutputSet outputs;
  auto writer = make_embedding_writer(
      outputs, jsonl_options(dir.path() / "out.jsonl", {"-1"}, true), kNoProvenance);
  EXPECT_THROW(
      writer->write(TokenRecord{0, std::nullopt, {"a", "b"}, {{0, 1}}, at::ones({1, 2, 3})}),
      std::invalid_argument);
  EXPECT_THROW(writer->write(TokenRecord{0, std::nullopt, {"a"}, {{0, 1}}, at::ones({1, 2, 3})}),
               std::invalid_argument);
}

TEST(OutputFormat, FromNameAndFromPath) {
  EXPECT_EQ(parse_output_format("jsonl"), OutputFormat::kJsonl);
  EXPECT_EQ(parse_output_format("npy"), OutputFormat::kNpy);
  EXPECT_THROW(parse_output_format("csv"), std::invalid_argument);
  EXPECT_EQ(output_format_for("out/vectors.npy"), OutputFormat::kNpy);
  EXPECT_EQ(output_format_for("vectors.jsonl"), OutputFormat::kJsonl);
  EXPECT_EQ(output_format_for("-"), OutputFormat::kJsonl);
  EXPECT_EQ(output_format_for(""), OutputFormat::kJsonl);
}

}  // namespace
}  // namespace bert_embed
