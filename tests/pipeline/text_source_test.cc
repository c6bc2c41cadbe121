#include "bert_embed/pipeline/text_source.h"

#include <chrono>
#include <fstream>
#include <future>
#include <memory>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "bert_embed/model/bundle.h"
#include "expect_error.h"
#include "fixtures.h"
#include "pipe.h"
#include "temp_dir.h"

namespace bert_embed {
namespace {

using namespace std::chrono_literals;

std::shared_ptr<const Tokenizer> tiny_tokenizer() {
  static const std::shared_ptr<const Tokenizer> tokenizer =
      load_bundle_tokenizer(read_bundle_info(test::test_bundle("tiny-uncased")));
  return tokenizer;
}

std::filesystem::path write_file(const test::TempDir& dir, const std::string& text) {
  const auto file = dir.path() / "input.txt";
  std::ofstream(file, std::ios::binary) << text;
  return file;
}

TokenizedLine expect_line(TextSource& source) {
  std::optional<SourceItem> item = source.next();
  if (!item) {
    ADD_FAILURE() << "the source ended";
    return {};
  }
  EXPECT_EQ(item->kind, SourceItem::Kind::kLine);
  return item->line;
}

TEST(TextSource, LinesComeInInputOrderTokenized) {
  test::TempDir dir;
  std::vector<std::string> texts;
  std::string input;
  for (int line = 0; line < 40; ++line) {
    texts.push_back("line number " + std::to_string(line) + (line % 3 ? " with more words" : ""));
    input += texts.back() + "\n";
  }
  TextSource source(write_file(dir, input), InputOptions{}, tiny_tokenizer(), TokenizeSettings{}, RecordRange{}, 4);
  EXPECT_EQ(source.input_size(), input.size());
  for (std::size_t index = 0; index < texts.size(); ++index) {
    const TokenizedLine line = expect_line(source);
    EXPECT_EQ(line.index, index);
    EXPECT_EQ(line.encoding.ids, tiny_tokenizer()->encode(texts[index], 0).ids);
  }
  EXPECT_FALSE(source.next().has_value());
}

TEST(TextSource, RangeSelectsRecords) {
  test::TempDir dir;
  TextSource source(write_file(dir, "a\nb\nc\nd\ne\nf\n"), InputOptions{}, tiny_tokenizer(), TokenizeSettings{},
                    RecordRange{2, 5}, 2);
  for (std::size_t index = 2; index < 5; ++index) EXPECT_EQ(expect_line(source).index, index);
  EXPECT_FALSE(source.next().has_value());
}

// The next item of a source reading `pipe`, whose writer is closed (failing
// the test) when the item has not come within seconds.
SourceItem next_from_pipe(TextSource& source, test::Pipe& pipe) {
  auto item = std::async(std::launch::async, [&] { return source.next(); });
  if (item.wait_for(5s) != std::future_status::ready) {
    ADD_FAILURE() << "next() stayed blocked although lines were written";
    pipe.close_writer();
  }
  std::optional<SourceItem> next = item.get();
  if (!next) ADD_FAILURE() << "the source ended";
  return next.value_or(SourceItem{});
}

// An interactive producer gets the vectors of what it wrote: the lines it
// wrote come first, then word that the input waits, then the later lines.
// Was a defect: InputReader filled its 64 KiB buffer with istream::read,
// which waits for the whole buffer, so the lines stayed behind the wait.
TEST(TextSource, SaysWhenAPipeWaitsAfterItsLines) {
  test::Pipe pipe;
  pipe.write_text("first\nsecond\n");  // before the thread starts, which would otherwise find nothing yet
  TextSource source(pipe.path(), InputOptions{}, tiny_tokenizer(), TokenizeSettings{}, RecordRange{}, 8);
  for (const std::size_t index : {0u, 1u}) {
    const SourceItem item = next_from_pipe(source, pipe);
    EXPECT_EQ(item.kind, SourceItem::Kind::kLine);
    EXPECT_EQ(item.line.index, index);
  }
  EXPECT_EQ(next_from_pipe(source, pipe).kind, SourceItem::Kind::kInputWaiting);
  pipe.write_text("third\n");
  pipe.close_writer();
  std::vector<std::size_t> later;  // a wait may come between the line and the close
  while (std::optional<SourceItem> item = source.next()) {
    if (item->kind == SourceItem::Kind::kLine) later.push_back(item->line.index);
  }
  EXPECT_EQ(later, std::vector<std::size_t>{2});
}

// Was a defect: the reading thread, blocked on a pipe whose writer stays
// open, was detached rather than stopped and joined.
TEST(TextSource, DestructionStopsAThreadBlockedOnAnOpenPipe) {
  test::Pipe pipe;
  auto source = std::make_unique<TextSource>(pipe.path(), InputOptions{}, tiny_tokenizer(), TokenizeSettings{},
                                             RecordRange{}, 2);
  std::optional<SourceItem> waiting = source->next();
  ASSERT_TRUE(waiting);
  EXPECT_EQ(waiting->kind, SourceItem::Kind::kInputWaiting);
  auto destroyed = std::async(std::launch::async, [&] { source.reset(); });
  const bool joined = destroyed.wait_for(1s) == std::future_status::ready;
  pipe.close_writer();  // ends a read that the destructor did not
  EXPECT_TRUE(joined) << "~TextSource stayed blocked";
}

TEST(TextSource, DestructionStopsAThreadBlockedOnAFullQueue) {
  test::TempDir dir;
  std::string input;
  for (int line = 0; line < 100; ++line) input += "words\n";
  auto source = std::make_unique<TextSource>(write_file(dir, input), InputOptions{}, tiny_tokenizer(),
                                             TokenizeSettings{}, RecordRange{}, 1);
  expect_line(*source);
  source.reset();
}

TEST(TextSource, InputErrorReachesNextNamingFileAndLine) {
  test::TempDir dir;
  const auto file = write_file(dir, "fine\nbad \xff byte\nnever\n");
  TextSource source(file, InputOptions{}, tiny_tokenizer(), TokenizeSettings{}, RecordRange{}, 4);
  const std::string message = test::error_message<InputError>([&] {
    while (source.next()) {
    }
  });
  EXPECT_CONTAINS(message, file.string() + ":2:");
  EXPECT_CONTAINS(message, "invalid UTF-8");
}

TEST(TokenizeRecord, SpansIndexTheLineAsReadWhenItWasRepaired) {
  const std::string original = "ab \xff\xfe cd";
  InputRecord record;
  record.line_number = 1;
  record.text = replace_invalid_utf8(original, &record.text_repairs);
  ASSERT_FALSE(record.text_repairs.empty());
  const TokenizedLine line = tokenize_record(record, *tiny_tokenizer(), TokenizeSettings{}, "in.txt");
  std::vector<std::string> pieces;
  for (std::size_t token = 0; token < line.encoding.size(); ++token) {
    if (line.encoding.special[token]) continue;
    const Span span = line.encoding.spans[token];
    ASSERT_LE(span.end, original.size());
    pieces.push_back(original.substr(span.begin, span.end - span.begin));
  }
  ASSERT_GE(pieces.size(), 2u);
  EXPECT_EQ(pieces.front(), "ab");
  EXPECT_EQ(pieces.back(), "cd");
}

TEST(TokenizeRecord, OverflowPolicyErrorNamesTheLine) {
  InputRecord record;
  record.line_number = 7;
  record.text = "one two three four five six";
  const TokenizedLine cut = tokenize_record(record, *tiny_tokenizer(), TokenizeSettings{4}, "in.txt");
  EXPECT_EQ(cut.encoding.size(), 4u);
  EXPECT_TRUE(cut.encoding.truncated);
  const std::string message = test::error_message<InputError>([&] {
    tokenize_record(record, *tiny_tokenizer(), TokenizeSettings{4, OverflowPolicy::kError}, "in.txt");
  });
  EXPECT_CONTAINS(message, "in.txt:7:");
  EXPECT_CONTAINS(message, "longer than the maximum of 4 tokens");
  EXPECT_NO_THROW(tokenize_record(record, *tiny_tokenizer(), TokenizeSettings{0, OverflowPolicy::kError}, "in.txt"));
}

// --prefix goes before the (stripped) first text only; spans still index the
// line as read, and the prefix's tokens have empty spans.
TEST(TokenizeRecord, PrefixAndStrippingKeepSpansOnTheLine) {
  InputRecord record;
  record.line_number = 1;
  record.text = " \u3000hello world\t";
  record.pair = "  second  ";
  TokenizeSettings settings;
  settings.prefix = "query: ";
  settings.strip_text = true;
  const TokenizedLine line = tokenize_record(record, *tiny_tokenizer(), settings, "in.txt");
  const Tokenizer& tokenizer = *tiny_tokenizer();
  std::vector<std::string> tokens;
  std::vector<std::string> surfaces;
  for (std::size_t token = 0; token < line.encoding.size(); ++token) {
    tokens.push_back(tokenizer.id_to_token(line.encoding.ids[token]));
    const Span span = line.encoding.spans[token];
    const std::string& text = line.encoding.sequence_ids[token] == 1 ? *record.pair : record.text;
    surfaces.push_back(text.substr(span.begin, span.end - span.begin));
  }
  EXPECT_EQ(tokens, (std::vector<std::string>{"[CLS]", "query", ":", "hello", "world", "[SEP]", "second", "[SEP]"}));
  EXPECT_EQ(surfaces, (std::vector<std::string>{"", "", "", "hello", "world", "", "second", ""}));
  EXPECT_EQ(line.encoding.type_ids, (std::vector<std::int64_t>{0, 0, 0, 0, 0, 0, 1, 1}));

  settings.strip_text = false;
  record.pair.reset();
  record.text = "  x";
  const TokenizedLine unstripped = tokenize_record(record, *tiny_tokenizer(), settings, "in.txt");
  EXPECT_EQ(unstripped.encoding.spans[3], (Span{2, 3}));
}

}  // namespace
}  // namespace bert_embed
