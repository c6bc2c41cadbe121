#include "bert_embed/pipeline/sink.h"

#include <optional>
#include <string_view>

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

void CollectingSink::consume(const WindowVectors& vectors) {
  rows_.push_back(vectors.rows);
  lines_.insert(lines_.end(), vectors.lines.begin(), vectors.lines.end());
}

at::Tensor CollectingSink::rows() const { return rows_.empty() ? at::empty({0, 0, 0}) : at::cat(rows_); }

}  // namespace bert_embed
