// The embedding pipeline: text source (reader + tokenizer thread)
// -> windows and batches -> embedder (one encode, every output) -> sinks.
// Streaming: memory is bounded by a window, however long the input.
#pragma once

#include <stdexcept>
#include <vector>

#include "bert_embed/pipeline/batcher.h"
#include "bert_embed/pipeline/embedder.h"
#include "bert_embed/pipeline/progress.h"
#include "bert_embed/pipeline/sink.h"
#include "bert_embed/pipeline/text_source.h"

namespace bert_embed {

// A request that cannot work (an option out of range for this model, a
// combination that makes no sense), as opposed to a failure while running.
class UsageError : public std::invalid_argument {
 public:
  using std::invalid_argument::invalid_argument;
};

// Reads `source` to its end. Lines gather in a window that closes when it is
// full or when the input waits for its writer; each window is embedded and
// output i's vectors go to sinks[i]; the sinks are flushed when the input
// waits, so that a co-process gets the vectors of the lines it wrote. The
// sinks are not finished here.
RunSummary run_pipeline(TextSource& source, Batcher& batcher, const Embedder& embedder,
                        const std::vector<VectorSink*>& sinks, ProgressLine& progress);

}  // namespace bert_embed
