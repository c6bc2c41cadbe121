#include "bert_embed/pipeline/pipeline.h"

#include <chrono>

namespace bert_embed {

RunSummary run_pipeline(TextSource& source, Batcher& batcher, const Embedder& embedder,
                        const std::vector<VectorSink*>& sinks, ProgressLine& progress) {
  const auto start = std::chrono::steady_clock::now();
  RunSummary summary;
  const auto process_window = [&] {
    const Window window = batcher.take();
    std::size_t lines_done = 0;
    const std::vector<WindowVectors> outputs = embedder.embed(window, [&](const BatchDone& batch) {
      summary.padded_tokens += batch.padded_tokens;
      lines_done += batch.lines;
      progress.update(summary.lines - window.lines.size() + lines_done, summary.tokens,
                      window.lines[std::min(lines_done, window.lines.size()) - 1].input_end);
    });
    for (std::size_t output = 0; output < sinks.size(); ++output) sinks[output]->consume(outputs[output]);
  };
  while (std::optional<SourceItem> item = source.next()) {
    if (item->kind == SourceItem::Kind::kInputWaiting) {
      if (!batcher.empty()) process_window();
      for (VectorSink* sink : sinks) sink->flush();
      continue;
    }
    ++summary.lines;
    summary.tokens += item->line.encoding.size();
    summary.truncated_lines += item->line.encoding.truncated || item->line.line_cut ? 1 : 0;
    summary.empty_lines += item->line.encoding.size() == 0 ? 1 : 0;
    batcher.add(std::move(item->line));
    if (batcher.full()) process_window();
  }
  if (!batcher.empty()) process_window();
  progress.clear();
  summary.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return summary;
}

}  // namespace bert_embed
