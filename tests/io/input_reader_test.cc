#include "bert_embed/io/input_reader.h"

#include <fcntl.h>
#include <unistd.h>

#include <sstream>
#include <streambuf>

#include <gtest/gtest.h>

#include "bert_embed/text/tokenizer.h"
#include "expect_error.h"
#include "fixtures.h"
#include "temp_dir.h"

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

TEST(InputReader, AByteOrderMarkAloneIsAnEmptyInput) {
  EXPECT_TRUE(read_all("\xEF\xBB\xBF").empty());
  EXPECT_EQ(texts(read_all("\xEF\xBB\xBF\n")), (std::vector<std::string>{""}));
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

// `count` copies of a byte and then `tail`, made as they are read.
class GeneratedBuffer : public std::streambuf {
 public:
  GeneratedBuffer(char byte, std::size_t count, std::string tail)
      : chunk_(std::size_t{1} << 16, byte), left_(count), tail_(std::move(tail)) {}

 protected:
  int_type underflow() override {
    if (left_ > 0) {
      const std::size_t size = std::min(left_, chunk_.size());
      left_ -= size;
      setg(chunk_.data(), chunk_.data(), chunk_.data() + size);
    } else if (!tail_done_) {
      tail_done_ = true;
      setg(tail_.data(), tail_.data(), tail_.data() + tail_.size());
    }
    return gptr() == egptr() ? traits_type::eof() : traits_type::to_int_type(*gptr());
  }

 private:
  std::string chunk_;
  std::size_t left_;
  std::string tail_;
  bool tail_done_ = false;
};

InputOptions max_line(std::size_t bytes, OverflowPolicy policy = OverflowPolicy::kTruncate,
                      InputFormat format = InputFormat::kText) {
  InputOptions options;
  options.format = format;
  options.max_line_bytes = bytes;
  options.on_long_line = policy;
  return options;
}

TEST(InputReader, CutsALongLineOnACharacterBoundaryAndSaysSo) {
  // "é" is bytes 5 and 6: a cut after byte 5 would split it.
  const auto records = read_all("abcd\xC3\xA9" "fgh\nxyz\r\n", max_line(5));
  ASSERT_EQ(records.size(), 2u);
  EXPECT_EQ(records[0].text, "abcd");
  EXPECT_TRUE(records[0].line_truncated);
  EXPECT_EQ(records[0].end_offset, 10u);
  EXPECT_EQ(records[1].text, "xyz");
  EXPECT_FALSE(records[1].line_truncated);
  EXPECT_EQ(records[1].end_offset, 15u);
}

TEST(InputReader, ALineOfExactlyTheMaximumIsWhole) {
  const auto records = read_all("\xEF\xBB\xBF" "abc\r\nabc\nabcd", max_line(3));
  ASSERT_EQ(records.size(), 3u);
  EXPECT_EQ(texts(records), (std::vector<std::string>{"abc", "abc", "abc"}));
  EXPECT_FALSE(records[0].line_truncated);
  EXPECT_FALSE(records[1].line_truncated);
  EXPECT_TRUE(records[2].line_truncated);
}

TEST(InputReader, KeepsNoMoreOfAHugeLineThanTheMaximum) {
  // 64 MiB without a newline, then a short line.
  GeneratedBuffer generated('x', std::size_t{64} << 20, "y\nnext\n");
  std::istream in(&generated);
  InputReader reader(in, "huge.txt", max_line(1000));
  const std::optional<InputRecord> huge = reader.next();
  ASSERT_TRUE(huge.has_value());
  EXPECT_EQ(huge->text, std::string(1000, 'x'));
  EXPECT_TRUE(huge->line_truncated);
  EXPECT_EQ(huge->end_offset, (std::uint64_t{64} << 20) + 2);
  EXPECT_EQ(reader.next()->text, "next");
  EXPECT_FALSE(reader.next().has_value());
}

TEST(InputReader, ALongLineIsAnErrorWhenAskedOrInJsonl) {
  EXPECT_EQ(error_of("ok\nabcdef\n", max_line(4, OverflowPolicy::kError)),
            "input.txt:2: longer than the maximum of 4 bytes (--max-line-bytes)");
  EXPECT_EQ(error_of("{\"text\": \"abcdef\"}\n", max_line(8, OverflowPolicy::kTruncate, InputFormat::kJsonl)),
            "input.txt:1: longer than the maximum of 8 bytes (--max-line-bytes); a JSON line cannot be cut");
  EXPECT_THROW(read_all("a\n", max_line(0)), std::invalid_argument);
}

TEST(InputReader, RefusesJsonNestedDeeperThanTheLimit) {
  const InputOptions jsonl = format_options(InputFormat::kJsonl, "", "", "id");
  const auto nested_id = [](std::size_t depth) {
    return "{\"text\": \"a\", \"id\": " + std::string(depth, '[') + std::string(depth, ']') + "}\n";
  };
  EXPECT_EQ(error_of(nested_id(100000), jsonl), "input.txt:1: JSON nested deeper than 64 levels");
  // The object itself is the first level.
  const auto records = read_all(nested_id(63), jsonl);
  ASSERT_EQ(records.size(), 1u);
  EXPECT_EQ(records[0].id, std::string(63, '[') + std::string(63, ']'));
  EXPECT_EQ(error_of(nested_id(64), jsonl), "input.txt:1: JSON nested deeper than 64 levels");
}

TEST(InputReader, AReadErrorOnStdinIsNotTheEndOfInput) {
  // bert-embed < a-directory: read(2) fails with EISDIR.
  const test::TempDir dir;
  const int saved_stdin = dup(STDIN_FILENO);
  const int directory = open(dir.path().c_str(), O_RDONLY | O_DIRECTORY);
  ASSERT_GE(directory, 0);
  ASSERT_GE(dup2(directory, STDIN_FILENO), 0);
  close(directory);
  std::string message;
  {
    InputReader reader("-", InputOptions{});
    message = test::error_message<std::runtime_error>([&] { reader.next(); });
  }
  dup2(saved_stdin, STDIN_FILENO);
  close(saved_stdin);
  EXPECT_EQ(message, "error reading <stdin>: Is a directory");
}

TEST(InputReader, AFailingStreamIsAReadError) {
  class FailingBuffer : public std::streambuf {
    int_type underflow() override { throw std::ios_base::failure("device gone"); }
  } failing;
  std::istream in(&failing);
  InputReader reader(in, "input.txt", InputOptions{});
  EXPECT_EQ(test::error_message<std::runtime_error>([&] { reader.next(); }), "error reading input.txt");
}

TEST(InputReader, RepairsMapOffsetsBackToTheInputBytes) {
  InputOptions options;
  options.on_invalid_utf8 = InvalidUtf8Policy::kReplace;
  // \xFF and \xFE are a U+FFFD each; \xE4\xB8 (a cut-off 3-byte sequence) is one.
  const auto records = read_all("a\xFF\xFE" "b \xE4\xB8 c\n", options);
  ASSERT_EQ(records.size(), 1u);
  const InputRecord& record = records[0];
  EXPECT_EQ(record.text, "a\uFFFD\uFFFD" "b \uFFFD c");
  const Utf8Repairs& repairs = record.text_repairs;
  const std::vector<std::pair<std::size_t, std::size_t>> repaired_to_input = {
      {0, 0}, {1, 1}, {4, 2}, {7, 3}, {8, 4}, {9, 5}, {12, 7}, {13, 8}, {14, 9}};
  for (const auto& [repaired, input] : repaired_to_input) EXPECT_EQ(repairs.original_offset(repaired), input);
}

TEST(InputReader, RepairedTokenSpansPointIntoTheInputLine) {
  InputOptions options;
  options.on_invalid_utf8 = InvalidUtf8Policy::kReplace;
  options.format = InputFormat::kTsv;
  options.pair_field = "2";
  const std::string first = "x\xFFy hello";
  const std::string second = "\xC0\xC1world";
  const auto records = read_all(first + "\t" + second + "\n", options);
  ASSERT_EQ(records.size(), 1u);
  const auto tokenizer = load_tokenizer(test::fixtures_dir() / "vocab/bert-base-uncased");
  const auto input_text_of = [](const Token& token, const Utf8Repairs& repairs, const std::string& input) {
    const std::size_t begin = repairs.original_offset(token.span.begin);
    return input.substr(begin, repairs.original_offset(token.span.end) - begin);
  };
  EXPECT_EQ(input_text_of(tokenizer->tokenize(records[0].text).back(), records[0].text_repairs, first), "hello");
  EXPECT_EQ(input_text_of(tokenizer->tokenize(*records[0].pair).back(), records[0].pair_repairs, second), "world");
}

TEST(InputReader, MissingFileIsAnError) {
  EXPECT_THROW(InputReader("/nonexistent/input.txt", InputOptions{}), std::runtime_error);
}

}  // namespace
}  // namespace bert_embed
