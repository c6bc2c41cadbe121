#include "bert_embed/pipeline/pipeline.h"

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <deque>
#include <exception>
#include <iostream>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include <spdlog/spdlog.h>

#include "bert_embed/model/bundle.h"
#include "bert_embed/model/runtime.h"
#include "bert_embed/io/jsonl_writer.h"
#include "bert_embed/text/tokenizer.h"

namespace bert_embed {
namespace {

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

// Hands items from one producer thread to one consumer, holding at most
// `capacity` of them, so that a fast producer cannot fill the memory.
template <typename T>
class BoundedQueue {
 public:
  explicit BoundedQueue(std::size_t capacity) : capacity_(capacity) {}

  // Blocks while the queue is full. False when the consumer has closed it.
  bool push(T item) {
    std::unique_lock<std::mutex> lock(mutex_);
    not_full_.wait(lock, [&] { return items_.size() < capacity_ || closed_; });
    if (closed_) return false;
    items_.push_back(std::move(item));
    not_empty_.notify_one();
    return true;
  }

  // Producer: no more items; `error`, if any, reaches the consumer at once.
  void finish(std::exception_ptr error) {
    std::lock_guard<std::mutex> lock(mutex_);
    finished_ = true;
    error_ = std::move(error);
    not_empty_.notify_one();
  }

  // Blocks while the queue is empty. Nothing once the producer has finished
  // and every item was taken; rethrows the producer's error.
  std::optional<T> pop() {
    std::unique_lock<std::mutex> lock(mutex_);
    not_empty_.wait(lock, [&] { return !items_.empty() || finished_; });
    if (error_) std::rethrow_exception(error_);
    if (items_.empty()) return std::nullopt;
    T item = std::move(items_.front());
    items_.pop_front();
    not_full_.notify_one();
    return item;
  }

  // Consumer: takes nothing more; the producer's pushes fail from now on.
  void close() {
    std::lock_guard<std::mutex> lock(mutex_);
    closed_ = true;
    not_full_.notify_all();
  }

  bool finished() const {
    std::lock_guard<std::mutex> lock(mutex_);
    return finished_;
  }

 private:
  const std::size_t capacity_;
  mutable std::mutex mutex_;
  std::condition_variable not_full_;
  std::condition_variable not_empty_;
  std::deque<T> items_;
  bool finished_ = false;
  bool closed_ = false;
  std::exception_ptr error_;
};

struct TokenizeSettings {
  std::size_t max_length = 0;
  OverflowPolicy on_overflow = OverflowPolicy::kTruncate;
};

TokenizedLine tokenize_record(InputRecord record, const Tokenizer& tokenizer,
                              const TokenizeSettings& settings, const std::string& input_name) {
  TokenizedLine line;
  line.index = record.index;
  line.id = std::move(record.id);
  line.input_end = record.end_offset;
  try {
    line.encoding = record.pair ? tokenizer.encode_pair(record.text, *record.pair, settings.max_length)
                                : tokenizer.encode(record.text, settings.max_length);
  } catch (const std::exception& error) {
    throw InputError(input_name, record.line_number, error.what());
  }
  if (line.encoding.truncated && settings.on_overflow == OverflowPolicy::kError) {
    throw InputError(input_name, record.line_number,
                     "longer than the maximum of " + std::to_string(settings.max_length) +
                         " tokens (--on-overflow truncate would cut it)");
  }
  return line;
}

// Reads and tokenizes the input on its own thread, at most `capacity` lines
// ahead of the consumer, so that tokenizing never stalls the encoder.
class TokenizerThread {
 public:
  TokenizerThread(std::unique_ptr<InputReader> reader, std::shared_ptr<const Tokenizer> tokenizer,
                  const TokenizeSettings& settings, std::size_t capacity)
      : state_(std::make_shared<State>(std::move(reader), std::move(tokenizer), settings, capacity)) {
    thread_ = std::thread([state = state_] { state->run(); });
  }

  ~TokenizerThread() {
    state_->queue.close();
    // Stopping early (after an error) may find the thread blocked reading a
    // pipe or a terminal, which nothing can interrupt. It owns everything it
    // touches, so it can be left to end with the process.
    if (state_->queue.finished()) {
      thread_.join();
    } else {
      thread_.detach();
    }
  }

  TokenizerThread(const TokenizerThread&) = delete;
  TokenizerThread& operator=(const TokenizerThread&) = delete;

  // The next line in input order, or nothing at the end of the input.
  // Rethrows the error that stopped the thread (bad input, read error).
  std::optional<TokenizedLine> next() { return state_->queue.pop(); }

 private:
  struct State {
    State(std::unique_ptr<InputReader> reader, std::shared_ptr<const Tokenizer> tokenizer,
          const TokenizeSettings& settings, std::size_t capacity)
        : reader(std::move(reader)), tokenizer(std::move(tokenizer)), settings(settings), queue(capacity) {}

    void run() {
      try {
        while (std::optional<InputRecord> record = reader->next()) {
          if (!queue.push(tokenize_record(std::move(*record), *tokenizer, settings, reader->name()))) {
            return;
          }
        }
        queue.finish(nullptr);
      } catch (...) {
        queue.finish(std::current_exception());
      }
    }

    std::unique_ptr<InputReader> reader;
    std::shared_ptr<const Tokenizer> tokenizer;
    TokenizeSettings settings;
    BoundedQueue<TokenizedLine> queue;
  };

  std::shared_ptr<State> state_;
  std::thread thread_;
};

std::size_t resolve_max_length(const TextInputOptions& options, const BundleInfo& info) {
  const auto positions = static_cast<std::size_t>(info.max_positions);
  if (options.max_length == 0) return positions;
  if (options.max_length > positions) {
    throw UsageError("--max-length " + std::to_string(options.max_length) + " is more than the " +
                     std::to_string(positions) + " positions of the model in " + info.dir.string());
  }
  return options.max_length;
}

// What to compute, resolved against the model.
struct EmbeddingPlan {
  std::vector<int> layers;  // hidden states the encoder returns
  LayerAggregation aggregation = LayerAggregation::kNone;
  Pooling pooling = Pooling::kMean;
  bool exclude_special = false;
  std::vector<std::string> slot_labels;  // one per output slot
  std::int64_t dim = 0;                  // width of a slot, before post-processing
};

EmbeddingPlan plan_embedding(const PipelineOptions& options, const BundleInfo& info) {
  EmbeddingPlan plan;
  plan.pooling = options.pooling;
  plan.exclude_special = options.exclude_special;
  plan.dim = info.hidden_size;
  if (options.pooling == Pooling::kPooler) {
    if (!info.has_pooler) {
      throw UsageError("--pooling pooler: the model in " + info.dir.string() +
                       " has no pooler (its checkpoint had none); use cls, mean or max");
    }
    // The encoder always returns some hidden state; the last one costs least.
    plan.layers = {info.num_layers};
    plan.slot_labels = {"pooler"};
    return plan;
  }
  LayerSelection selection;
  try {
    selection = parse_layers(options.layers, info.num_layers);
  } catch (const std::invalid_argument& error) {
    throw UsageError(error.what());
  }
  plan.layers = selection.indices;
  plan.aggregation = selection.indices.size() > 1 ? options.layer_aggregation : LayerAggregation::kNone;
  switch (plan.aggregation) {
    case LayerAggregation::kNone:
      plan.slot_labels = selection.labels;
      break;
    case LayerAggregation::kMean:
      plan.slot_labels = {"mean"};
      break;
    case LayerAggregation::kConcat:
      plan.slot_labels = {"concat"};
      plan.dim *= static_cast<std::int64_t>(selection.indices.size());
      break;
  }
  return plan;
}

std::int64_t output_dim(const EmbeddingPlan& plan, const PostProcessOptions& postprocess) {
  if (postprocess.whiten_components == 0) return plan.dim;
  if (postprocess.whiten_components > plan.dim) {
    throw UsageError("--whiten " + std::to_string(postprocess.whiten_components) +
                     " asks for more components than the " + std::to_string(plan.dim) +
                     " dimensions of the vectors");
  }
  return postprocess.whiten_components;
}

// The vectors of one window, before post-processing, and what the output
// needs of each line.
struct WindowVectors {
  struct Line {
    std::size_t index = 0;
    std::optional<std::string> id;
    std::vector<std::string> tokens;  // per token only
    std::vector<Span> spans;          // per token only
  };
  std::vector<Line> lines;
  at::Tensor rows;                     // float32 [rows, slots, dim]
  std::vector<std::int64_t> offsets;   // per token: line i owns rows offsets[i] to offsets[i + 1]
};

// [layers, batch, seq, dim] -> [slots, batch, seq, dim']: layers are
// combined token by token, before pooling, so that the first-last average
// of max pooling is the maximum of averaged token vectors.
at::Tensor combine_layers(const at::Tensor& hidden, LayerAggregation aggregation) {
  if (aggregation == LayerAggregation::kNone) return hidden;
  const std::int64_t batch = hidden.size(1);
  const std::int64_t seq = hidden.size(2);
  const at::Tensor per_token = hidden.permute({1, 2, 0, 3}).reshape({batch * seq, hidden.size(0), hidden.size(3)});
  return aggregate_layers(per_token, aggregation).reshape({batch, seq, 1, -1}).permute({2, 0, 1, 3});
}

// Runs the encoder on a window's batches and turns hidden states into the
// vectors asked for.
class Embedder {
 public:
  Embedder(const Encoder& encoder, std::shared_ptr<const Tokenizer> tokenizer, EmbeddingPlan plan)
      : encoder_(encoder), tokenizer_(std::move(tokenizer)), plan_(std::move(plan)) {}

  const EmbeddingPlan& plan() const { return plan_; }

  // on_batch(lines, tokens, padded_tokens) after each batch, for progress.
  template <typename OnBatch>
  WindowVectors embed(const Window& window, OnBatch on_batch) const {
    const bool per_token = plan_.pooling == Pooling::kTokens;
    WindowVectors vectors;
    vectors.lines.resize(window.lines.size());
    std::vector<at::Tensor> line_rows(window.lines.size());  // per token: [tokens, slots, dim]
    for (const Batch& batch : window.batches) {
      std::vector<const Encoding*> encodings;
      std::size_t tokens = 0;
      for (const std::size_t position : batch) {
        encodings.push_back(&window.lines[position].encoding);
        tokens += encodings.back()->size();
      }
      const ModelInput input = make_model_input(encodings, tokenizer_->special_ids().pad);
      const auto padded_tokens = static_cast<std::size_t>(input.input_ids.numel());
      const EncoderOutput output =
          encoder_.encode(input, plan_.layers, plan_.pooling == Pooling::kPooler);
      if (plan_.pooling == Pooling::kPooler) {
        store_rows(vectors, batch, output.pooler.unsqueeze(1));
      } else {
        const at::Tensor hidden = combine_layers(output.hidden, plan_.aggregation);
        const at::Tensor include = included_tokens(encodings, input.input_ids.size(1));
        if (per_token) {
          for (std::size_t row = 0; row < batch.size(); ++row) {
            line_rows[batch[row]] = token_rows(hidden.select(1, static_cast<std::int64_t>(row)),
                                               include[static_cast<std::int64_t>(row)]);
          }
        } else {
          store_rows(vectors, batch, pool(hidden, include, plan_.pooling));
        }
      }
      on_batch(batch.size(), tokens, padded_tokens);
    }
    for (std::size_t position = 0; position < window.lines.size(); ++position) {
      describe_line(window.lines[position], per_token, vectors.lines[position]);
    }
    if (per_token) {
      vectors.offsets.push_back(0);
      for (const at::Tensor& rows : line_rows) vectors.offsets.push_back(vectors.offsets.back() + rows.size(0));
      vectors.rows = line_rows.empty() ? at::empty({0, slots(), plan_.dim}) : at::cat(line_rows);
    }
    return vectors;
  }

 private:
  std::int64_t slots() const { return static_cast<std::int64_t>(plan_.slot_labels.size()); }

  // [batch, seq] true where a token takes part: real tokens, minus [CLS] and
  // [SEP] with --exclude-special.
  at::Tensor included_tokens(const std::vector<const Encoding*>& encodings, std::int64_t seq) const {
    at::Tensor include = at::zeros({static_cast<std::int64_t>(encodings.size()), seq}, at::kBool);
    bool* flags = include.data_ptr<bool>();
    for (std::size_t row = 0; row < encodings.size(); ++row) {
      const Encoding& encoding = *encodings[row];
      for (std::size_t token = 0; token < encoding.size(); ++token) {
        flags[row * seq + token] = !(plan_.exclude_special && encoding.special[token]);
      }
    }
    return include;
  }

  // hidden [slots, seq, dim], include [seq] -> [tokens, slots, dim]
  static at::Tensor token_rows(const at::Tensor& hidden, const at::Tensor& include) {
    return hidden.index_select(1, include.nonzero().squeeze(1)).permute({1, 0, 2}).contiguous();
  }

  // Pooled rows [batch, slots, dim] go to the batch's window positions.
  void store_rows(WindowVectors& vectors, const Batch& batch, const at::Tensor& batch_rows) const {
    if (!vectors.rows.defined()) {
      vectors.rows = at::empty({static_cast<std::int64_t>(vectors.lines.size()), batch_rows.size(1),
                                batch_rows.size(2)});
    }
    const std::vector<std::int64_t> positions(batch.begin(), batch.end());
    vectors.rows.index_copy_(0, at::tensor(positions, at::kLong), batch_rows);
  }

  void describe_line(const TokenizedLine& line, bool per_token, WindowVectors::Line& out) const {
    out.index = line.index;
    out.id = line.id;
    if (!per_token) return;
    const Encoding& encoding = line.encoding;
    for (std::size_t token = 0; token < encoding.size(); ++token) {
      if (plan_.exclude_special && encoding.special[token]) continue;
      out.tokens.push_back(tokenizer_->id_to_token(encoding.ids[token]));
      out.spans.push_back(encoding.spans[token]);
    }
  }

  const Encoder& encoder_;
  std::shared_ptr<const Tokenizer> tokenizer_;
  EmbeddingPlan plan_;
};

void write_window(const WindowVectors& vectors, const PostProcessor* postprocessor, bool per_token,
                  EmbeddingWriter& writer) {
  const at::Tensor rows = postprocessor ? postprocessor->apply(vectors.rows) : vectors.rows;
  for (std::size_t position = 0; position < vectors.lines.size(); ++position) {
    const WindowVectors::Line& line = vectors.lines[position];
    std::optional<std::string_view> id;
    if (line.id) id = *line.id;
    const auto index = static_cast<std::int64_t>(line.index);
    if (per_token) {
      const std::int64_t begin = vectors.offsets[position];
      const at::Tensor embeddings =
          rows.narrow(0, begin, vectors.offsets[position + 1] - begin).permute({1, 0, 2});
      writer.write(TokenRecord{index, id, line.tokens, line.spans, embeddings});
    } else {
      writer.write(PooledRecord{index, id, rows[static_cast<std::int64_t>(position)]});
    }
  }
}

// A line on stderr, redrawn at most a few times a second.
class ProgressLine {
 public:
  ProgressLine(bool enabled, std::optional<std::uint64_t> input_size)
      : enabled_(enabled), input_size_(input_size), start_(Clock::now()), last_(start_) {}

  void update(std::size_t lines, std::size_t tokens, std::uint64_t bytes_done) {
    if (!enabled_) return;
    const Clock::time_point now = Clock::now();
    if (now - last_ < std::chrono::milliseconds(250)) return;
    last_ = now;
    const double elapsed = seconds_since(start_);
    std::string text = "\rbert-embed: " + std::to_string(lines) + " lines, " +
                       std::to_string(static_cast<long long>(tokens / elapsed)) + " tokens/s";
    if (input_size_ && *input_size_ > 0 && bytes_done > 0) {
      const double done = std::min(1.0, static_cast<double>(bytes_done) / static_cast<double>(*input_size_));
      const auto remaining = static_cast<long long>(elapsed * (1 - done) / done);
      char eta[64];
      std::snprintf(eta, sizeof(eta), ", %.0f%%, ETA %lld:%02lld", done * 100, remaining / 60, remaining % 60);
      text += eta;
    }
    text += "\x1b[K";
    std::cerr << text << std::flush;
    shown_ = true;
  }

  void clear() {
    if (shown_) std::cerr << "\r\x1b[K" << std::flush;
    shown_ = false;
  }

 private:
  bool enabled_;
  std::optional<std::uint64_t> input_size_;
  Clock::time_point start_;
  Clock::time_point last_;
  bool shown_ = false;
};

std::unique_ptr<Encoder> open_encoder(const PipelineOptions& options) {
  try {
    return std::make_unique<Encoder>(options.text.model_dir, options.encoder);
  } catch (const std::invalid_argument& error) {
    throw UsageError(error.what());  // a device or dtype this build or machine cannot serve
  }
}

}  // namespace

OverflowPolicy parse_overflow_policy(std::string_view name) {
  if (name == "truncate") return OverflowPolicy::kTruncate;
  if (name == "error") return OverflowPolicy::kError;
  throw std::invalid_argument("unknown overflow policy \"" + std::string(name) +
                              "\" (expected truncate or error)");
}

std::string format_summary(const RunSummary& summary) {
  const double padding =
      summary.padded_tokens > 0
          ? 100.0 * static_cast<double>(summary.padded_tokens - summary.tokens) / static_cast<double>(summary.padded_tokens)
          : 0.0;
  char text[256];
  std::snprintf(text, sizeof(text),
                "%zu lines, %zu tokens (%zu truncated lines, %.1f%% padding) in %.2f s: %.1f lines/s",
                summary.lines, summary.tokens, summary.truncated_lines, padding, summary.seconds,
                summary.seconds > 0 ? static_cast<double>(summary.lines) / summary.seconds : 0.0);
  return text;
}

RunSummary run_pipeline(const PipelineOptions& options) {
  const Clock::time_point start = Clock::now();
  auto reader = std::make_unique<InputReader>(options.text.input_file, options.text.input);
  const std::optional<std::uint64_t> input_size = reader->size_bytes();
  apply_runtime_settings(RuntimeSettings{options.threads, options.encoder.dtype});
  const std::unique_ptr<Encoder> encoder = open_encoder(options);
  const BundleInfo& info = encoder->info();
  const std::shared_ptr<const Tokenizer> tokenizer = load_tokenizer(options.text.model_dir);
  check_tokenizer_vocab_size(info, tokenizer->vocab_size());
  const Embedder embedder(*encoder, tokenizer, plan_embedding(options, info));
  const TokenizeSettings settings{resolve_max_length(options.text, info), options.text.on_overflow};
  const bool per_token = options.pooling == Pooling::kTokens;
  spdlog::info("model {}: {}, {} layers, hidden size {}; {} tokens at most per text", info.dir.string(),
               info.architecture, info.num_layers, info.hidden_size, settings.max_length);

  PostProcessor postprocessor(options.postprocess);
  const bool postprocessing = postprocessor.needs_statistics() || options.postprocess.l2_normalize;
  if (options.stats) postprocessor.load(*options.stats);
  // Statistics fitted on this input need every vector before the first is written.
  const bool fit_on_input = postprocessor.needs_statistics() && !options.stats;

  WriterOptions writer_options;
  writer_options.format = options.format;
  writer_options.output = options.output;
  writer_options.per_token = per_token;
  writer_options.slot_labels = embedder.plan().slot_labels;
  writer_options.dim = output_dim(embedder.plan(), options.postprocess);
  const std::unique_ptr<EmbeddingWriter> writer = make_embedding_writer(writer_options);

  TokenizerThread tokenized(std::move(reader), tokenizer, settings, options.window.max_lines);
  Batcher batcher(options.batch, options.window);
  ProgressLine progress(options.progress, input_size);
  RunSummary summary;
  std::size_t lines_done = 0;
  std::size_t tokens_done = 0;
  std::uint64_t window_start = 0;  // input bytes before the current window
  std::vector<WindowVectors> buffered;

  const auto process_window = [&] {
    const Window window = batcher.take();
    const std::uint64_t window_end = window.lines.back().input_end;
    std::size_t window_lines_done = 0;
    WindowVectors vectors = embedder.embed(window, [&](std::size_t lines, std::size_t tokens, std::size_t padded) {
      lines_done += lines;
      tokens_done += tokens;
      summary.padded_tokens += padded;
      window_lines_done += lines;
      progress.update(lines_done, tokens_done,
                      window_start + (window_end - window_start) * window_lines_done / window.lines.size());
    });
    window_start = window_end;
    spdlog::debug("window of {} lines in {} batches: {} lines done", window.lines.size(), window.batches.size(),
                  lines_done);
    if (fit_on_input) {
      buffered.push_back(std::move(vectors));
    } else {
      write_window(vectors, postprocessing ? &postprocessor : nullptr, per_token, *writer);
    }
  };

  while (std::optional<TokenizedLine> line = tokenized.next()) {
    ++summary.lines;
    summary.tokens += line->encoding.size();
    if (line->encoding.truncated) ++summary.truncated_lines;
    batcher.add(std::move(*line));
    if (batcher.full()) process_window();
  }
  if (!batcher.empty()) process_window();
  progress.clear();

  if (fit_on_input) {
    std::vector<at::Tensor> rows;
    for (const WindowVectors& vectors : buffered) rows.push_back(vectors.rows);
    postprocessor.fit(rows.empty() ? at::empty({0, static_cast<std::int64_t>(writer_options.slot_labels.size()),
                                                embedder.plan().dim})
                                   : at::cat(rows));
    if (options.save_stats) postprocessor.save(*options.save_stats);
    for (const WindowVectors& vectors : buffered) write_window(vectors, &postprocessor, per_token, *writer);
  }
  writer->finish();
  summary.seconds = seconds_since(start);
  return summary;
}

void run_tokenize(const TextInputOptions& options) {
  InputReader reader(options.input_file, options.input);
  const BundleInfo info = read_bundle_info(options.model_dir);
  const std::unique_ptr<Tokenizer> tokenizer = load_tokenizer(options.model_dir);
  const TokenizeSettings settings{resolve_max_length(options, info), options.on_overflow};
  std::string out;
  while (std::optional<InputRecord> record = reader.next()) {
    const TokenizedLine line = tokenize_record(std::move(*record), *tokenizer, settings, reader.name());
    out = "{\"index\":" + std::to_string(line.index);
    if (line.id) {
      out += ",\"id\":";
      append_json_string(out, *line.id);
    }
    out += ",\"tokens\":[";
    for (std::size_t i = 0; i < line.encoding.size(); ++i) {
      if (i > 0) out += ',';
      append_json_string(out, tokenizer->id_to_token(line.encoding.ids[i]));
    }
    out += "],\"ids\":[";
    for (std::size_t i = 0; i < line.encoding.size(); ++i) {
      if (i > 0) out += ',';
      out += std::to_string(line.encoding.ids[i]);
    }
    out += "]}\n";
    std::cout.write(out.data(), static_cast<std::streamsize>(out.size()));
  }
  std::cout.flush();
  if (!std::cout) throw std::runtime_error("cannot write to <stdout>");
}

}  // namespace bert_embed
