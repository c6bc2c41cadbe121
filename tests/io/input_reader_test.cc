#include "bert_embed/io/input_reader.h"

#include <sstream>

#include <gtest/gtest.h>

#include "expect_error.h"

namespace bert_embed {
namespace {

std::vector<InputRecord> read_all(const std::string& text, InputOptions options = {}) {
  std::istringstream in(text);
  InputReader reader(in, "input.txt", std::move(options));
  std::vector<InputRecord> records;
  while (auto record = reader.next()) records.push_back(std::move(*record));
  return records;
}

std::vector<std::string> texts(const std::vector<InputRecord>& records) {
  std::vector<std::string> result;
  for (const InputRecord& record : records) result.push_back(record.text);
  return result;
}

std::string error_of(const std::string& text, InputOptions options = {}) {
  return test::error_message<InputError>([&] { read_all(text, std::move(options)); });
}

InputOptions format_options(InputFormat format, std::string text_field = {},
                            std::string pair_field = {}, std::string id_field = {}) {
  InputOptions options;
  options.format = format;
  options.text_field = std::move(text_field);
  options.pair_field = std::move(pair_field);
  options.id_field = std::move(id_field);
  return options;
}

TEST(InputReader, SplitsOnNewlinesOnlyAndKeepsEmptyLines) {
  const auto records = read_all("a b\n\n  \nx\ty\rz\n");
  EXPECT_EQ(texts(records), (std::vector<std::string>{"a b", "", "  ", "x\ty\rz"}));
  for (std::size_t i = 0; i < records.size(); ++i) {
    EXPECT_EQ(records[i].index, i);
    EXPECT_EQ(records[i].line_number, i + 1);
  }
}

TEST(InputReader, LastLineWithoutNewlineIsARecord) {
  EXPECT_EQ(texts(read_all("a\nb")), (std::vector<std::string>{"a", "b"}));
}

TEST(InputReader, EmptyInputHasNoRecords) {
  EXPECT_TRUE(read_all("").empty());
}

TEST(InputReader, SingleNewlineIsOneEmptyLine) {
  EXPECT_EQ(texts(read_all("\n")), (std::vector<std::string>{""}));
}

TEST(InputReader, StripsCarriageReturnsOfCrlfLineEnds) {
  EXPECT_EQ(texts(read_all("a\r\nb c\r\n\r\n")), (std::vector<std::string>{"a", "b c", ""}));
}

TEST(InputReader, StripsByteOrderMarkAtStartOfInputOnly) {
  EXPECT_EQ(texts(read_all("\xEF\xBB\xBF" "a\n\xEF\xBB\xBF" "b\n")),
            (std::vector<std::string>{"a", "\xEF\xBB\xBF" "b"}));
}

TEST(InputReader, KeepsNulBytes) {
  const std::string line("a\0b", 3);
  EXPECT_EQ(texts(read_all(line + "\n")), (std::vector<std::string>{line}));
}

TEST(InputReader, EndOffsetCountsConsumedBytes) {
  const auto records = read_all("ab\r\ncde\nf");
  ASSERT_EQ(records.size(), 3u);
  EXPECT_EQ(records[0].end_offset, 4u);
  EXPECT_EQ(records[1].end_offset, 8u);
  EXPECT_EQ(records[2].end_offset, 9u);
}

TEST(InputReader, InvalidUtf8NamesLineAndByte) {
  EXPECT_EQ(error_of("ok\nabcd\xFF\n"),
            "input.txt:2: invalid UTF-8 at byte 5 (--on-invalid-utf8 replace substitutes U+FFFD)");
}

TEST(InputReader, InvalidUtf8ByteCountsTheDroppedByteOrderMark) {
  EXPECT_EQ(error_of("\xEF\xBB\xBF" "a\xC0\n"),
            "input.txt:1: invalid UTF-8 at byte 5 (--on-invalid-utf8 replace substitutes U+FFFD)");
}

TEST(InputReader, ReplacesInvalidUtf8WhenAsked) {
  InputOptions options;
  options.on_invalid_utf8 = InvalidUtf8Policy::kReplace;
  EXPECT_EQ(texts(read_all("a\xFF" "b\n", options)),
            (std::vector<std::string>{"a\xEF\xBF\xBD" "b"}));
}

TEST(InputReader, ReadsJsonlFields) {
  const auto records = read_all(
      R"({"text": "first", "other": "x", "id": 7, "b": "second"})" "\n"
      R"({"id": "q-2", "text": "caf\u00e9", "b": ""})" "\n",
      format_options(InputFormat::kJsonl, "", "b", "id"));
  ASSERT_EQ(records.size(), 2u);
  EXPECT_EQ(records[0].text, "first");
  EXPECT_EQ(records[0].pair, "second");
  EXPECT_EQ(records[0].id, "7");
  EXPECT_EQ(records[1].text, "caf\xC3\xA9");
  EXPECT_EQ(records[1].pair, "");
  EXPECT_EQ(records[1].id, "q-2");
}

TEST(InputReader, JsonlWithoutIdFieldHasNoId) {
  const auto records = read_all(R"({"text": "a", "id": 1})" "\n", format_options(InputFormat::kJsonl));
  ASSERT_EQ(records.size(), 1u);
  EXPECT_FALSE(records[0].id.has_value());
  EXPECT_FALSE(records[0].pair.has_value());
}

TEST(InputReader, JsonlErrorsNameLineAndField) {
  const InputOptions jsonl = format_options(InputFormat::kJsonl);
  EXPECT_EQ(error_of("{\"text\": \"a\"}\n{\"txt\": \"b\"}\n", jsonl), "input.txt:2: no field \"text\"");
  EXPECT_EQ(error_of("{\"text\": 3}\n", jsonl), "input.txt:1: field \"text\" is a number, not a string");
  EXPECT_EQ(error_of("[1]\n", jsonl), "input.txt:1: expected a JSON object, found array");
  EXPECT_EQ(error_of("{\"text\": \"a\"}\n{\"text\": \n", jsonl).substr(0, 27),
            "input.txt:2: invalid JSON: ");
  EXPECT_EQ(error_of("\n", jsonl).substr(0, 27), "input.txt:1: invalid JSON: ");
}

TEST(InputReader, ReadsTsvColumnsByNumberWithoutHeader) {
  const auto records = read_all("1\tfirst\tsecond\n2\tthird\t\n",
                                format_options(InputFormat::kTsv, "2", "3", "1"));
  ASSERT_EQ(records.size(), 2u);
  EXPECT_EQ(records[0].text, "first");
  EXPECT_EQ(records[0].pair, "second");
  EXPECT_EQ(records[0].id, "1");
  EXPECT_EQ(records[1].text, "third");
  EXPECT_EQ(records[1].pair, "");
  EXPECT_EQ(records[1].line_number, 2u);
}

TEST(InputReader, TsvTextDefaultsToFirstColumn) {
  EXPECT_EQ(texts(read_all("a\tb\nc\n", format_options(InputFormat::kTsv))),
            (std::vector<std::string>{"a", "c"}));
}

TEST(InputReader, ReadsTsvColumnsByHeaderName) {
  const auto records = read_all("id\tsentence1\tsentence2\r\nx1\tA\tB\r\n",
                                format_options(InputFormat::kTsv, "sentence1", "sentence2", "1"));
  ASSERT_EQ(records.size(), 1u);
  EXPECT_EQ(records[0].index, 0u);
  EXPECT_EQ(records[0].line_number, 2u);
  EXPECT_EQ(records[0].text, "A");
  EXPECT_EQ(records[0].pair, "B");
  EXPECT_EQ(records[0].id, "x1");
}

TEST(InputReader, TsvErrorsNameLineAndColumn) {
  EXPECT_EQ(error_of("a\tb\nc\n", format_options(InputFormat::kTsv, "2")),
            "input.txt:2: has 1 tab-separated columns, so no column 2");
  EXPECT_EQ(error_of("x\ty\n", format_options(InputFormat::kTsv, "text")),
            "input.txt:1: the header has no column \"text\"");
  EXPECT_EQ(error_of("", format_options(InputFormat::kTsv, "text")),
            "input.txt:1: no header line, which the tsv column names need");
}

TEST(InputReader, ParsesFormatAndPolicyNames) {
  EXPECT_EQ(parse_input_format("tsv"), InputFormat::kTsv);
  EXPECT_EQ(parse_invalid_utf8_policy("replace"), InvalidUtf8Policy::kReplace);
  EXPECT_THROW(parse_input_format("csv"), std::invalid_argument);
  EXPECT_THROW(parse_invalid_utf8_policy("ignore"), std::invalid_argument);
}

TEST(InputReader, MissingFileIsAnError) {
  EXPECT_THROW(InputReader("/nonexistent/input.txt", InputOptions{}), std::runtime_error);
}

}  // namespace
}  // namespace bert_embed
