#include "bert_embed/pipeline/sink.h"

#include <optional>
#include <string_view>
#include <utility>

#include "bert_embed/model/runtime.h"

namespace bert_embed {

WriterSink::WriterSink(EmbeddingWriter& writer, const PostProcessor* postprocessor, bool per_token)
    : writer_(writer), postprocessor_(postprocessor), per_token_(per_token) {}

void WriterSink::consume(const WindowVectors& vectors) {
  const at::Tensor rows = postprocessor_ ? postprocessor_->apply(vectors.rows) : vectors.rows;
  for (std::size_t position = 0; position < vectors.lines.size(); ++position) {
    const WindowVectors::Line& line = vectors.lines[position];
    std::optional<std::string_view> id;
    if (line.id) id = *line.id;
    const auto index = static_cast<std::int64_t>(line.index);
    if (per_token_) {
      const std::int64_t begin = vectors.offsets[position];
      const at::Tensor embeddings =
          rows.narrow(0, begin, vectors.offsets[position + 1] - begin).permute({1, 0, 2});
      writer_.write(TokenRecord{index, id, line.tokens, line.spans, embeddings});
    } else {
      writer_.write(PooledRecord{index, id, rows[static_cast<std::int64_t>(position)]});
    }
  }
}

void WriterSink::flush() { writer_.flush(); }

void WriterSink::finish() { writer_.finish(); }

FittingSink::FittingSink(PostProcessor& postprocessor, const OutputSpec& spec, VectorSink& writer,
                         const std::filesystem::path& spool_directory, std::function<void()> on_fitted)
    : postprocessor_(postprocessor),
      statistics_(static_cast<std::int64_t>(spec.slot_labels.size()), spec.dim),
      writer_(writer),
      spool_(spool_directory),
      on_fitted_(std::move(on_fitted)) {}

void FittingSink::consume(const WindowVectors& vectors) {
  statistics_.add(vectors.rows);
  spool_.append(vectors.rows);
  SpooledWindow window{vectors.rows.size(0), vectors.lines.empty() ? 0 : vectors.lines.front().index,
                       vectors.lines.size(), {}, vectors.offsets};
  // Held for the whole input: a line that is only its index costs nothing
  // (100,000 lines of such metadata were 40 MB, 16% of a run's peak RSS).
  for (std::size_t position = 0; position < vectors.lines.size(); ++position) {
    const WindowVectors::Line& line = vectors.lines[position];
    if (line.id || !line.tokens.empty() || line.index != window.first_index + position) {
      window.lines = vectors.lines;
      break;
    }
  }
  windows_.push_back(std::move(window));
}

void FittingSink::finish() {
  postprocessor_.fit(statistics_);
  if (on_fitted_) on_fitted_();
  std::int64_t first = 0;
  for (SpooledWindow& spooled : windows_) {
    WindowVectors window;
    window.rows = spool_.read(first, spooled.rows);
    window.offsets = std::move(spooled.offsets);
    window.lines = std::move(spooled.lines);
    for (std::size_t position = window.lines.size(); position < spooled.line_count; ++position) {
      window.lines.push_back(WindowVectors::Line{spooled.first_index + position, std::nullopt, {}, {}});
    }
    writer_.consume(window);
    first += spooled.rows;
    // As the encoder does after each batch: without it the replay's window-
    // sized blocks fragmented the heap, and peak RSS grew with the input
    // (tiny-uncased, 384-wide vectors, --whiten 256: +12% over a run without
    // post-processing at 100,000 lines; +10% with it).
    release_free_heap_pages();
  }
  writer_.finish();
}

CheckpointSink::CheckpointSink(VectorSink& writer, std::size_t grid, CheckpointInterval interval,
                               std::function<void(std::size_t next_record)> checkpoint)
    : writer_(writer), grid_(grid), interval_(interval), checkpoint_(std::move(checkpoint)) {}

void CheckpointSink::consume(const WindowVectors& vectors) {
  writer_.consume(vectors);
  if (vectors.lines.empty()) return;
  const std::size_t next_record = vectors.lines.back().index + 1;
  if (!last_record_) last_record_ = vectors.lines.front().index;
  const auto now = std::chrono::steady_clock::now();
  const bool due = next_record - *last_record_ >= interval_.lines ||
                   std::chrono::duration<double>(now - last_time_).count() >= interval_.seconds;
  if (next_record % grid_ != 0 || !due) return;
  checkpoint_(next_record);
  last_record_ = next_record;
  last_time_ = now;
}

void CollectingSink::consume(const WindowVectors& vectors) {
  rows_.push_back(vectors.rows);
  lines_.insert(lines_.end(), vectors.lines.begin(), vectors.lines.end());
}

at::Tensor CollectingSink::rows() const { return rows_.empty() ? at::empty({0, 0, 0}) : at::cat(rows_); }

}  // namespace bert_embed
