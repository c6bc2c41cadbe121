// The bert-embed pipeline: input reader -> tokenizer thread -> batcher ->
// encoder -> layer selection, pooling and aggregation -> post-processing ->
// writer. Streaming: memory stays flat however long the input, except when
// post-processing statistics are fitted on the input itself (--whiten,
// --remove-top, --standardize without --stats), which needs every vector
// before the first can be written.
#pragma once

#include <cstddef>
#include <filesystem>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>

#include "bert_embed/pipeline/batcher.h"
#include "bert_embed/io/embedding_writer.h"
#include "bert_embed/model/encoder.h"
#include "bert_embed/io/input_reader.h"
#include "bert_embed/vectors/layer_selection.h"
#include "bert_embed/vectors/pooling.h"
#include "bert_embed/vectors/postprocess.h"

namespace bert_embed {

// A request that cannot work (an option out of range for this model, a
// combination that makes no sense), as opposed to a failure while running.
class UsageError : public std::invalid_argument {
 public:
  using std::invalid_argument::invalid_argument;
};

enum class OverflowPolicy { kTruncate, kError };
OverflowPolicy parse_overflow_policy(std::string_view name);  // "truncate", "error"

// Where texts come from and how they become model inputs: shared by the
// embedding pipeline and `bert-embed tokenize`.
struct TextInputOptions {
  std::filesystem::path model_dir;
  std::filesystem::path input_file = "-";  // "-": stdin
  InputOptions input;
  std::size_t max_length = 0;  // 0: the model's maximum
  OverflowPolicy on_overflow = OverflowPolicy::kTruncate;
};

struct PipelineOptions {
  TextInputOptions text;
  std::filesystem::path output = "-";  // "-": stdout
  OutputFormat format = OutputFormat::kJsonl;
  std::string layers = "-1";
  LayerAggregation layer_aggregation = LayerAggregation::kNone;
  Pooling pooling = Pooling::kMean;
  bool exclude_special = false;  // leave [CLS] and [SEP] out of mean, max and tokens
  PostProcessOptions postprocess;
  std::optional<std::filesystem::path> stats;       // apply saved statistics
  std::optional<std::filesystem::path> save_stats;  // write the fitted statistics
  EncoderOptions encoder;
  int threads = 0;  // intra-op threads; 0: all cores
  BatchLimits batch;
  WindowLimits window;
  bool progress = false;  // a live progress line on stderr
};

struct RunSummary {
  std::size_t lines = 0;
  std::size_t tokens = 0;  // real tokens given to the model, special ones included
  std::size_t padded_tokens = 0;  // batch rows x their longest: what the model computed
  std::size_t truncated_lines = 0;
  double seconds = 0;
};

// Embeds every input line and writes the output; throws UsageError for
// requests this model cannot serve and std::runtime_error (with the input's
// name and line where there is one) for failures. The output is committed
// only when everything succeeded.
RunSummary run_pipeline(const PipelineOptions& options);

// "2910 lines, 48213 tokens (3 truncated lines, 4.2% padding) in 12.30 s: 236.6 lines/s"
std::string format_summary(const RunSummary& summary);

// `bert-embed tokenize`: one JSON object per input line on stdout, with the
// tokens and ids the model would be given.
void run_tokenize(const TextInputOptions& options);

}  // namespace bert_embed
