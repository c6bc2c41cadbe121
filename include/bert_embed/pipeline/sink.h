// Where a pipeline's vectors go: a file writer (with post-processing), an
// in-memory collector, a statistics fit. One interface, so that `embed`,
// every command can reuse the same pipeline.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <vector>

#include <ATen/ATen.h>

#include "bert_embed/io/embedding_writer.h"
#include "bert_embed/io/row_spool.h"
#include "bert_embed/pipeline/embedder.h"
#include "bert_embed/vectors/postprocess.h"
#include "bert_embed/vectors/statistics.h"

namespace bert_embed {

class VectorSink {
 public:
  virtual ~VectorSink() = default;
  // The vectors of one window, in input order.
  virtual void consume(const WindowVectors& vectors) = 0;
  // The input is waiting for its writer: make what was consumed so far
  // visible to the reader of the output (a co-process waits for it).
  virtual void flush() {}
  // End of the input: complete the output.
  virtual void finish() = 0;
};

// Post-processes each window with a ready PostProcessor (or none) and writes
// it. finish() completes the writer's output.
class WriterSink : public VectorSink {
 public:
  WriterSink(EmbeddingWriter& writer, const PostProcessor* postprocessor, bool per_token);
  void consume(const WindowVectors& vectors) override;
  void flush() override;
  void finish() override;

 private:
  EmbeddingWriter& writer_;
  const PostProcessor* postprocessor_;
  bool per_token_;
};

// Post-processing fitted on the input itself, in two passes with flat
// memory: consume() accumulates the statistics and spools each window's raw
// vectors to a temporary file (only the lines' ids, tokens and spans stay in
// memory, and nothing per line when the lines carry none); finish() fits the post-processor, calls on_fitted, if any (to save the
// statistics), then reads the windows back one at a time into `writer`,
// which applies the fitted post-processing, and finishes it.
class FittingSink : public VectorSink {
 public:
  FittingSink(PostProcessor& postprocessor, const OutputSpec& spec, VectorSink& writer,
              const std::filesystem::path& spool_directory, std::function<void()> on_fitted);
  void consume(const WindowVectors& vectors) override;
  void finish() override;

 private:
  PostProcessor& postprocessor_;
  VectorStatistics statistics_;
  VectorSink& writer_;
  RowSpool spool_;
  std::function<void()> on_fitted_;
  // What the writer needs of a window besides its rows.
  struct SpooledWindow {
    std::int64_t rows = 0;
    std::size_t first_index = 0;
    std::size_t line_count = 0;
    std::vector<WindowVectors::Line> lines;  // empty when the lines carry nothing but their index
    std::vector<std::int64_t> offsets;       // per token
  };
  std::vector<SpooledWindow> windows_;
};

// When to checkpoint a resumable run: after this many lines or seconds,
// at the next window that ends on the batching grid.
struct CheckpointInterval {
  std::size_t lines = 10000;
  double seconds = 60;
};

// Passes every window on to `writer`; after a window that ends on the grid
// (its next record a multiple of `grid`), once the interval has passed since
// the last checkpoint, calls checkpoint(next record). A run that resumes there
// starts a window where this one did, so it makes the same batches and bytes.
class CheckpointSink : public VectorSink {
 public:
  CheckpointSink(VectorSink& writer, std::size_t grid, CheckpointInterval interval,
                 std::function<void(std::size_t next_record)> checkpoint);
  void consume(const WindowVectors& vectors) override;
  void flush() override { writer_.flush(); }
  void finish() override { writer_.finish(); }

 private:
  VectorSink& writer_;
  std::size_t grid_;
  CheckpointInterval interval_;
  std::function<void(std::size_t)> checkpoint_;
  std::optional<std::size_t> last_record_;  // next record at the last checkpoint, or where the run began
  std::chrono::steady_clock::time_point last_time_ = std::chrono::steady_clock::now();
};

// Keeps every vector in memory: for experiments on small sets, and tests.
class CollectingSink : public VectorSink {
 public:
  void consume(const WindowVectors& vectors) override;
  void finish() override {}
  // float32 [rows, slots, dim] of everything consumed, in input order.
  at::Tensor rows() const;
  const std::vector<WindowVectors::Line>& lines() const { return lines_; }

 private:
  std::vector<at::Tensor> rows_;
  std::vector<WindowVectors::Line> lines_;
};

}  // namespace bert_embed
