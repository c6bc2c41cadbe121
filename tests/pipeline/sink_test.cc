#include "bert_embed/pipeline/sink.h"

#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "bert_embed/io/output_set.h"
#include "temp_dir.h"

namespace bert_embed {
namespace {

constexpr std::int64_t kSlots = 2;
constexpr std::int64_t kDim = 6;

// Windows of random vectors with an offset, as BERT's are: pooled, a row per
// line; per token, a varying number of rows per line (none for some).
std::vector<WindowVectors> make_windows(bool per_token) {
  at::manual_seed(7);
  std::vector<WindowVectors> windows;
  std::size_t index = 0;
  for (const std::size_t lines : {5, 1, 9, 4}) {
    WindowVectors window;
    std::int64_t rows = 0;
    if (per_token) window.offsets.push_back(0);
    for (std::size_t line = 0; line < lines; ++line, ++index) {
      WindowVectors::Line described;
      described.index = index;
      described.id = "id" + std::to_string(index);
      if (per_token) {
        const std::int64_t tokens = static_cast<std::int64_t>(index % 4);
        for (std::int64_t token = 0; token < tokens; ++token) {
          described.tokens.push_back("t" + std::to_string(token));
          described.spans.push_back(Span{static_cast<std::size_t>(token), static_cast<std::size_t>(token) + 1});
        }
        rows += tokens;
        window.offsets.push_back(rows);
      } else {
        ++rows;
      }
      window.lines.push_back(described);
    }
    window.rows = at::randn({rows, kSlots, kDim}) * 0.5 + 3.0;
    windows.push_back(window);
  }
  return windows;
}

// What a writer is handed, post-processed as WriterSink does it.
class RecordingSink : public VectorSink {
 public:
  RecordingSink(const PostProcessor& postprocessor, std::vector<std::string>& events)
      : postprocessor_(postprocessor), events_(events) {}
  void consume(const WindowVectors& vectors) override {
    events_.push_back("consume");
    collected_.consume(WindowVectors{vectors.lines, postprocessor_.apply(vectors.rows), vectors.offsets});
    offsets_.push_back(vectors.offsets);
  }
  void finish() override { events_.push_back("finish"); }
  const CollectingSink& collected() const { return collected_; }
  const std::vector<std::vector<std::int64_t>>& offsets() const { return offsets_; }

 private:
  const PostProcessor& postprocessor_;
  std::vector<std::string>& events_;
  CollectingSink collected_;
  std::vector<std::vector<std::int64_t>> offsets_;
};

void expect_two_passes_equal_one_in_memory(bool per_token) {
  const std::vector<WindowVectors> windows = make_windows(per_token);
  const PostProcessOptions options{0, 1, true, true};
  OutputSpec spec;
  spec.slot_labels = {"1", "2"};
  spec.dim = kDim;

  test::TempDir spool_dir;
  PostProcessor fitted(options);
  std::vector<std::string> events;
  RecordingSink writer(fitted, events);
  FittingSink sink(fitted, spec, writer, spool_dir.path(), [&] {
    EXPECT_TRUE(fitted.fitted());
    events.push_back("fitted");
  });
  for (const WindowVectors& window : windows) sink.consume(window);
  EXPECT_TRUE(events.empty()) << "the writer saw vectors before the fit";
  sink.finish();

  std::vector<std::string> expected_events{"fitted"};
  expected_events.insert(expected_events.end(), windows.size(), "consume");
  expected_events.push_back("finish");
  EXPECT_EQ(events, expected_events);

  // The same statistics counted in memory, window by window, and applied to
  // every row at once.
  std::vector<at::Tensor> rows;
  VectorStatistics statistics(kSlots, kDim);
  for (const WindowVectors& window : windows) {
    rows.push_back(window.rows);
    statistics.add(window.rows);
  }
  const at::Tensor all_rows = at::cat(rows);
  PostProcessor in_memory(options);
  in_memory.fit(statistics);
  EXPECT_TRUE(at::equal(writer.collected().rows(), in_memory.apply(all_rows)));
  // A fit on all rows at once differs only by rounding.
  PostProcessor at_once(options);
  at_once.fit(all_rows);
  EXPECT_TRUE(at::allclose(writer.collected().rows(), at_once.apply(all_rows), 1e-5, 1e-5));

  ASSERT_EQ(writer.collected().lines().size(), 19u);
  std::size_t index = 0;
  for (const WindowVectors::Line& line : writer.collected().lines()) {
    EXPECT_EQ(line.index, index);
    EXPECT_EQ(line.id, "id" + std::to_string(index));
    ++index;
  }
  for (std::size_t window = 0; window < windows.size(); ++window) {
    EXPECT_EQ(writer.offsets()[window], windows[window].offsets);
  }
}

TEST(FittingSink, TwoPassesEqualAFitInMemoryPooled) { expect_two_passes_equal_one_in_memory(false); }

TEST(FittingSink, TwoPassesEqualAFitInMemoryPerToken) { expect_two_passes_equal_one_in_memory(true); }

TEST(CollectingSink, ConcatenatesInOrder) {
  const std::vector<WindowVectors> windows = make_windows(false);
  CollectingSink sink;
  EXPECT_EQ(sink.rows().size(0), 0);
  std::vector<at::Tensor> rows;
  for (const WindowVectors& window : windows) {
    sink.consume(window);
    rows.push_back(window.rows);
  }
  sink.finish();
  EXPECT_TRUE(at::equal(sink.rows(), at::cat(rows)));
  ASSERT_EQ(sink.lines().size(), 19u);
  for (std::size_t line = 0; line < sink.lines().size(); ++line) EXPECT_EQ(sink.lines()[line].index, line);
}

// Records what reaches the format.
class RecordingWriter : public EmbeddingWriter {
 public:
  explicit RecordingWriter(OutputSet& outputs, bool per_token)
      : EmbeddingWriter(outputs, options(per_token), Manifest()) {}
  std::vector<at::Tensor> vectors;
  std::vector<std::vector<std::string>> tokens;
  int flushes = 0;

 private:
  static WriterOptions options(bool per_token) {
    WriterOptions options;
    options.per_token = per_token;
    options.slot_labels = {"1", "2"};
    options.dim = kDim;
    return options;
  }
  void write_pooled(const PooledRecord& record) override { vectors.push_back(record.vectors); }
  void write_tokens(const TokenRecord& record) override {
    vectors.push_back(record.embeddings);
    tokens.push_back(record.tokens);
  }
  void flush_output() override { ++flushes; }
  std::vector<CoveredFile> finish_output() override { return {}; }
};

TEST(WriterSink, WritesPostProcessedRecordsAndFlushes) {
  OutputSet outputs;
  RecordingWriter writer(outputs, false);
  PostProcessor normalize(PostProcessOptions{0, 0, false, true});
  WriterSink sink(writer, &normalize, false);
  const std::vector<WindowVectors> windows = make_windows(false);
  sink.consume(windows[0]);
  EXPECT_EQ(writer.flushes, 0);
  sink.flush();
  EXPECT_EQ(writer.flushes, 1);
  ASSERT_EQ(writer.vectors.size(), 5u);
  const at::Tensor expected = normalize.apply(windows[0].rows);
  for (std::int64_t line = 0; line < 5; ++line) EXPECT_TRUE(at::equal(writer.vectors[line], expected[line]));
}

TEST(WriterSink, WritesEachLinesTokensFromItsOffsets) {
  OutputSet outputs;
  RecordingWriter writer(outputs, true);
  WriterSink sink(writer, nullptr, true);
  const std::vector<WindowVectors> windows = make_windows(true);
  sink.consume(windows[0]);
  ASSERT_EQ(writer.vectors.size(), 5u);
  for (std::size_t line = 0; line < 5; ++line) {
    const std::int64_t begin = windows[0].offsets[line];
    const std::int64_t count = windows[0].offsets[line + 1] - begin;
    EXPECT_EQ(writer.tokens[line], windows[0].lines[line].tokens);
    EXPECT_TRUE(at::equal(writer.vectors[line], windows[0].rows.narrow(0, begin, count).permute({1, 0, 2})));
  }
}

}  // namespace
// Windows of lines [first, end), rows of one slot of width 2.
WindowVectors window_of_lines(std::size_t first, std::size_t end) {
  WindowVectors window;
  for (std::size_t index = first; index < end; ++index) window.lines.push_back({index, std::nullopt, {}, {}});
  window.rows = at::zeros({static_cast<std::int64_t>(end - first), 1, 2});
  return window;
}

TEST(CheckpointSink, CheckpointsOnTheGridOnceTheIntervalHasPassed) {
  CollectingSink writer;
  std::vector<std::size_t> checkpoints;
  CheckpointSink sink(writer, 4, CheckpointInterval{6, 1e9}, [&](std::size_t next) { checkpoints.push_back(next); });
  // A resumed run starts at 8; windows closed by tokens end off the grid.
  for (const auto& [first, end] : std::vector<std::pair<std::size_t, std::size_t>>{
           {8, 10}, {10, 12}, {12, 16}, {16, 18}, {18, 20}, {20, 24}, {24, 27}}) {
    sink.consume(window_of_lines(first, end));
  }
  sink.finish();
  EXPECT_EQ(checkpoints, (std::vector<std::size_t>{16, 24}));
  EXPECT_EQ(writer.lines().size(), 19u);
}

TEST(CheckpointSink, ATimeIntervalCheckpointsEveryWindowOnTheGrid) {
  CollectingSink writer;
  std::vector<std::size_t> checkpoints;
  CheckpointSink sink(writer, 4, CheckpointInterval{1000, 0}, [&](std::size_t next) { checkpoints.push_back(next); });
  for (std::size_t first = 0; first < 12; first += 2) sink.consume(window_of_lines(first, first + 2));
  EXPECT_EQ(checkpoints, (std::vector<std::size_t>{4, 8, 12}));
}

}  // namespace bert_embed
