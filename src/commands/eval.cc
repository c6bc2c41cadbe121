// bert-embed eval sts|classify|tokens: which layer, pooling and
// post-processing make the best vectors for a task, measured. The model runs
// once over the task's texts and returns every requested layer under every
// pooling; each post-processing, each probe and each score is then vector
// arithmetic on those vectors, in libtorch on all threads.
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <fstream>
#include <functional>
#include <iostream>
#include <limits>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include <ATen/Parallel.h>
#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "bert_embed/evaluation/scores.h"
#include "bert_embed/io/manifest.h"
#include "bert_embed/io/output_file.h"
#include "bert_embed/model/encoder.h"
#include "bert_embed/model/runtime.h"
#include "bert_embed/pipeline/pipeline.h"
#include "bert_embed/pipeline/sink.h"
#include "bert_embed/vectors/postprocess.h"
#include "commands/command.h"
#include "commands/eval_report.h"

namespace bert_embed {
namespace {

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point start) { return std::chrono::duration<double>(Clock::now() - start).count(); }

constexpr const char* kFooter = R"(Every combination of --layers (each layer, plus the aggregation with
--layer-agg), --pooling and --postprocess is scored from one pass of the model.
Post-processing is fitted on the evaluation texts themselves (train and test),
or read from --stats where the file's vectors and transforms match.
  sts       Spearman and Pearson correlation x100 of the pairs' cosines with the gold scores
  classify  linear probe (multinomial logistic regression, L2, standardized features, C = --probe-c):
            accuracy and macro-F1 x100 on --test, or the mean (and population sd) over
            --folds stratified folds. Labels are strings, numbered in order of first appearance.
  tokens    CoNLL files (a word and its IOB2 tag per line, tab-separated, a blank line between
            sentences); a probe over tags per combination, trained on -i, scored on --test:
            entity F1 (conlleval's count) and token accuracy x100.
Output: a Markdown table on stdout, the best combination in bold; --json FILE, --plot FILE.png|.svg.
Exit status: 0 success, 1 runtime error (input, model, I/O), 2 usage error.)";

enum class Task { kSts, kClassify, kTokens };

enum class WordVector { kFirst, kMean };
constexpr EnumNames<WordVector, 2> kWordVectorNames{{{"first", WordVector::kFirst}, {"mean", WordVector::kMean}}};

struct EvalOptions {
  Task task = Task::kSts;
  TextInputOptions text;
  std::string score_field;  // sts
  std::string label_field;  // classify
  std::filesystem::path test;
  int folds = 10;
  std::uint64_t seed = 1;
  double probe_c = 1.0;
  std::size_t tag_column = 0;  // tokens; 0: the last column
  WordVector word_vector = WordVector::kFirst;
  std::string layers = "all";
  LayerAggregation layer_aggregation = LayerAggregation::kNone;
  std::vector<std::string> poolings = {"mean"};
  std::vector<std::string> postprocesses = {"none"};
  std::filesystem::path stats;
  std::filesystem::path json, plot, predictions;
  EncoderOptions encoder;
  int threads = 0;
  BatchLimits batch;
  bool progress = isatty(STDERR_FILENO) != 0;
};

// ---- The sweep ------------------------------------------------------------

// One entry of --postprocess: transforms joined by '+', e.g. "whiten:256+standardize".
struct PostProcessChoice {
  std::string name;
  PostProcessOptions options;
};

int transform_size(const std::string& part, const std::string& prefix) {
  const std::string digits = part.substr(prefix.size());
  char* end = nullptr;
  const long value = std::strtol(digits.c_str(), &end, 10);
  if (digits.empty() || *end != '\0' || value < 1 || value > (1 << 20)) {
    throw UsageError("--postprocess " + part + ": " + prefix + " takes a positive whole number");
  }
  return static_cast<int>(value);
}

PostProcessChoice parse_postprocess(const std::string& name) {
  PostProcessChoice choice{name, {}};
  if (name == "none") return choice;
  std::size_t begin = 0;
  while (begin <= name.size()) {
    const std::size_t end = std::min(name.find('+', begin), name.size());
    const std::string part = name.substr(begin, end - begin);
    if (part.rfind("whiten:", 0) == 0) {
      choice.options.whiten_components = transform_size(part, "whiten:");
    } else if (part.rfind("remove-top:", 0) == 0) {
      choice.options.remove_top = transform_size(part, "remove-top:");
    } else if (part == "standardize") {
      choice.options.standardize = true;
    } else if (part == "normalize") {
      choice.options.l2_normalize = true;
    } else {
      throw UsageError("--postprocess " + name + ": unknown transform \"" + part +
                       "\" (expected none, whiten:K, remove-top:D, standardize, normalize, joined by +)");
    }
    begin = end + 1;
  }
  return choice;
}

// The statistics of --stats, applied where their vectors and transforms are
// those of a combination: all of a pooling's layers at once, or one of them.
class SavedStatistics {
 public:
  explicit SavedStatistics(const std::filesystem::path& file) : file_(file) {
    if (!file.empty()) manifest_ = read_manifest(file);
  }
  // The source to load the statistics as, when they were fitted on these
  // vectors with these transforms. The same layers spelled otherwise ("-1"
  // and "2" of a 2-layer model) are the same vectors.
  std::optional<VectorSource> fitted_on(VectorSource source, const PostProcessOptions& options) const {
    PostProcessOptions fitted = options;
    fitted.l2_normalize = false;
    if (!manifest_ || manifest_->postprocess != postprocess_label(fitted)) return std::nullopt;
    if (source.layer_aggregation == "none" && manifest_->source.layer_aggregation == "none" &&
        source.layers == manifest_->source.layers) {
      source.slot_labels = manifest_->source.slot_labels;
    }
    if (manifest_->source != source) return std::nullopt;
    return source;
  }
  const std::filesystem::path& file() const { return file_; }

 private:
  std::filesystem::path file_;
  std::optional<Manifest> manifest_;
};

// One slot of vectors without aggregation: its layer alone.
VectorSource slot_source(VectorSource source, std::int64_t slot) {
  const auto index = static_cast<std::size_t>(slot);
  if (source.layer_aggregation == "none") source.layers = {source.layers[index]};
  source.slot_labels = {source.slot_labels[index]};
  return source;
}

// Vectors of one pooling: every layer asked, [n, layers, dim], and the
// aggregation of them, [n, 1, dim'], when --layer-agg asks for one.
struct PooledVectors {
  std::string pooling;
  OutputSpec spec;
  at::Tensor per_layer;
  at::Tensor aggregated;  // undefined without --layer-agg
};

// A combination's vectors, [n, dim], and how to name it.
struct Candidate {
  EvalResult label;
  at::Tensor features;  // undefined when its post-processing could not be fitted
  std::string failure;  // why
};

// Scores one combination's vectors; fills the result's scores (those named
// by the sweep's `metrics`, in that order) and n.
using Scorer = std::function<void(const at::Tensor& features, EvalResult& result)>;

class SweepProgress {
 public:
  SweepProgress(bool enabled, std::size_t total) : enabled_(enabled), total_(total) {}
  void done(std::size_t count, const EvalResult& result) const {
    spdlog::info("scored {}/{}: layers {}, {}, {}: {} {:.2f}", count, total_, result.layers, result.pooling,
                 result.postprocess, result.scores.front().first, result.scores.front().second);
    if (enabled_) std::cerr << "\rbert-embed: scored " << count << "/" << total_ << " combinations" << std::flush;
  }
  ~SweepProgress() {
    if (enabled_) std::cerr << "\r\033[K" << std::flush;
  }

 private:
  bool enabled_;
  std::size_t total_;
};

std::vector<EvalResult> sweep(const std::vector<PooledVectors>& pooled, const std::vector<PostProcessChoice>& choices,
                              const EvalOptions& options, const CommonOptions& common, const BundleInfo& bundle,
                              const std::vector<std::string>& metrics, const Scorer& score) {
  const auto start = Clock::now();
  const SavedStatistics saved(options.stats);
  std::size_t total = 0;
  for (const PooledVectors& vectors : pooled) {
    total += choices.size() * (vectors.spec.layers.size() + (vectors.aggregated.defined() ? 1 : 0));
  }
  SweepProgress progress(options.progress && !common.quiet, total);
  std::vector<EvalResult> results;
  for (const PooledVectors& vectors : pooled) {
    for (const PostProcessChoice& choice : choices) {
      // Statistics from --stats cover every slot at once, or one slot
      // (layer) that they were fitted on alone; otherwise each slot is fitted
      // on its own, so that one that cannot be (the [CLS] vector of the
      // embedding output is the same for every text) is reported, not
      // scored, and the others are.
      const auto postprocessed = [&](const at::Tensor& rows, const VectorSource& source) {
        std::vector<Candidate> slots(static_cast<std::size_t>(rows.size(1)));
        PostProcessor postprocessor(choice.options);
        const bool transformed = postprocessor.needs_statistics() || choice.options.l2_normalize;
        const std::optional<VectorSource> saved_source =
            postprocessor.needs_statistics() ? saved.fitted_on(source, choice.options) : std::nullopt;
        const bool loaded = saved_source.has_value();
        if (loaded) {
          postprocessor.load(saved.file(), *saved_source);
          spdlog::info("{} {}: statistics from {}", vectors.pooling, choice.name, saved.file().string());
        }
        const at::Tensor all = loaded ? postprocessor.apply(rows) : rows;
        if (loaded || !transformed) {
          for (std::int64_t slot = 0; slot < rows.size(1); ++slot) {
            slots[static_cast<std::size_t>(slot)].features = all.select(1, slot);
          }
          return slots;
        }
        // The slots are fitted in parallel, one per thread (libtorch and
        // OpenBLAS run single-threaded inside the region): a fit is a
        // covariance and an eigendecomposition, whose LAPACK part runs on one
        // thread anyway. On 2 cores, STS-B test's sweep with 39 whitening fits
        // (BERT-base size) went from 8.9 s of scoring, 22% of the model pass,
        // to 6.8 s, 18%, with the same scores.
        std::vector<std::exception_ptr> errors(slots.size());
#pragma omp parallel for schedule(dynamic)
        for (std::int64_t slot = 0; slot < rows.size(1); ++slot) {
          Candidate& candidate = slots[static_cast<std::size_t>(slot)];
          try {
            const at::Tensor slot_rows = rows.narrow(1, slot, 1);
            PostProcessor fitted(choice.options);
            if (const std::optional<VectorSource> slot_saved =
                    saved.fitted_on(slot_source(source, slot), choice.options)) {
              fitted.load(saved.file(), *slot_saved);
              spdlog::info("layer {}, {} {}: statistics from {}", source.slot_labels[static_cast<std::size_t>(slot)],
                           vectors.pooling, choice.name, saved.file().string());
            } else {
              fitted.fit(slot_rows);
            }
            candidate.features = fitted.apply(slot_rows).select(1, 0);
          } catch (const std::runtime_error& error) {
            candidate.failure = error.what();
          } catch (...) {
            errors[static_cast<std::size_t>(slot)] = std::current_exception();
          }
        }
        for (const std::exception_ptr& error : errors) {
          if (error) std::rethrow_exception(error);
        }
        return slots;
      };
      std::vector<Candidate> candidates =
          postprocessed(vectors.per_layer, describe_source(vectors.spec, bundle, options.encoder.dtype));
      for (std::size_t slot = 0; slot < vectors.spec.layers.size(); ++slot) {
        candidates[slot].label = {
            vectors.spec.slot_labels[slot], vectors.spec.layers[slot], "", vectors.pooling, choice.name, {}, 0};
      }
      if (vectors.aggregated.defined()) {
        OutputSpec aggregated_spec = vectors.spec;
        aggregated_spec.aggregation = options.layer_aggregation;
        aggregated_spec.slot_labels = {std::string(name_of(kLayerAggregationNames, options.layer_aggregation))};
        aggregated_spec.dim = vectors.aggregated.size(2);
        Candidate aggregated =
            postprocessed(vectors.aggregated, describe_source(aggregated_spec, bundle, options.encoder.dtype)).front();
        aggregated.label = {
            options.layers, std::nullopt, aggregated_spec.slot_labels.front(), vectors.pooling, choice.name, {}, 0};
        candidates.push_back(std::move(aggregated));
      }
      // The combinations are scored in parallel too, one per thread, when
      // there are enough of them to keep every thread busy (otherwise each
      // scorer's own parallel parts, such as cross-validation's folds, are
      // the better split). A probe's solver is a chain of thin products (13
      // classes) and reductions that intra-op threads share poorly; one
      // probe per thread kept both cores busy through WNUT-17's 13 tagging
      // probes (BERT-base size, 62,730 words: 2,934 CPU-s in 1,451 s).
      const auto count = static_cast<std::int64_t>(candidates.size());
      std::vector<std::exception_ptr> errors(candidates.size());
      std::size_t scored = results.size();
#pragma omp parallel for schedule(dynamic) if (count >= at::get_num_threads())
      for (std::int64_t index = 0; index < count; ++index) {
        Candidate& candidate = candidates[static_cast<std::size_t>(index)];
        try {
          if (candidate.features.defined()) {
            score(candidate.features, candidate.label);
          } else {
            spdlog::warn("layers {}, {}, {}: not scored: {}", candidate.label.layers, candidate.label.pooling,
                         candidate.label.postprocess, candidate.failure);
            for (const std::string& metric : metrics) candidate.label.scores.emplace_back(metric, std::nan(""));
          }
        } catch (...) {
          errors[static_cast<std::size_t>(index)] = std::current_exception();
          continue;
        }
#pragma omp critical(sweep_progress)
        progress.done(++scored, candidate.label);
      }
      for (const std::exception_ptr& error : errors) {
        if (error) std::rethrow_exception(error);
      }
      for (Candidate& candidate : candidates) results.push_back(std::move(candidate.label));
    }
  }
  if (!common.quiet) {
    std::cerr << "bert-embed: scored " << results.size() << " combinations in "
              << fmt::format("{:.2f}", seconds_since(start)) << " s\n";
  }
  return results;
}

// ---- Embedding ------------------------------------------------------------

// Embeds `records`, each one model input, in order; each window's vectors
// for the embedder's output i go to sinks[i].
RunSummary embed_records(const std::vector<InputRecord>& records, const std::string& input_name, const TextStage& text,
                         const Embedder& embedder, const EvalOptions& options, const CommonOptions& common,
                         const std::vector<VectorSink*>& sinks) {
  const auto start = Clock::now();
  Batcher batcher(options.batch, WindowLimits{});
  ProgressLine progress(options.progress && !common.quiet, std::nullopt);
  RunSummary summary;
  const auto embed_window = [&] {
    const Window window = batcher.take();
    const std::vector<WindowVectors> outputs = embedder.embed(window, [&](const BatchDone& batch) {
      summary.padded_tokens += batch.padded_tokens;
      summary.lines += batch.lines;
      progress.update(summary.lines, summary.tokens, 0);
    });
    for (std::size_t output = 0; output < sinks.size(); ++output) sinks[output]->consume(outputs[output]);
  };
  for (const InputRecord& record : records) {
    TokenizedLine line = tokenize_record(record, *text.tokenizer, text.settings, input_name);
    summary.tokens += line.encoding.size();
    summary.truncated_lines += line.encoding.truncated ? 1 : 0;
    batcher.add(std::move(line));
    if (batcher.full()) embed_window();
  }
  if (!batcher.empty()) embed_window();
  progress.clear();
  summary.seconds = seconds_since(start);
  return summary;
}

// Embeds sentence texts under every pooling asked: [n, layers, dim] each.
std::vector<PooledVectors> embed_texts(const std::vector<InputRecord>& records, const std::string& input_name,
                                       const TextStage& text, const EvalOptions& options, const CommonOptions& common) {
  std::vector<PooledVectors> pooled;
  std::vector<OutputSpec> specs;
  for (const std::string& name : options.poolings) {
    const Pooling pooling = parse_pooling(name);
    specs.push_back(as_usage_error(
        [&] { return plan_output(options.layers, LayerAggregation::kNone, pooling, false, text.bundle); }));
    pooled.push_back({name, specs.back(), {}, {}});
  }
  const Encoder encoder = as_usage_error([&] { return Encoder(text.bundle.dir, options.encoder); });
  const Embedder embedder(encoder, text.tokenizer, specs);
  std::vector<CollectingSink> collected(specs.size());
  std::vector<VectorSink*> sinks;
  for (CollectingSink& sink : collected) sinks.push_back(&sink);
  const RunSummary summary = embed_records(records, input_name, text, embedder, options, common, sinks);
  if (!common.quiet) std::cerr << "bert-embed: embedded " << format_summary(summary) << '\n';
  for (std::size_t output = 0; output < pooled.size(); ++output) {
    pooled[output].per_layer = collected[output].rows();
    if (options.layer_aggregation != LayerAggregation::kNone) {
      pooled[output].aggregated = aggregate_layers(pooled[output].per_layer, options.layer_aggregation);
    }
  }
  return pooled;
}

// ---- Reading the tasks' inputs ----------------------------------------------

// The records of a jsonl or tsv file with the field of --score-field or
// --label-field read as each record's id.
template <typename OnRecord>
std::string read_records(const std::filesystem::path& file, const InputOptions& input, const std::string& field,
                         OnRecord on_record) {
  InputOptions with_field = input;
  with_field.id_field = field;
  InputReader reader(file, with_field);
  while (std::optional<InputRecord> record = reader.next()) on_record(*record, reader.name());
  return reader.name();
}

double parse_score(const std::string& text, const std::string& input_name, std::size_t line) {
  char* end = nullptr;
  const double value = std::strtod(text.c_str(), &end);
  if (text.empty() || *end != '\0' || !std::isfinite(value)) {
    throw InputError(input_name, line, "the score \"" + text + "\" is not a finite number (--score-field)");
  }
  return value;
}

// Class numbers of labels, in order of first appearance.
class LabelNumbers {
 public:
  std::int64_t number(const std::string& label) {
    const auto [found, added] = numbers_.emplace(label, static_cast<std::int64_t>(names_.size()));
    if (added) names_.push_back(label);
    return found->second;
  }
  std::int64_t count() const { return static_cast<std::int64_t>(names_.size()); }
  const std::string& name(std::int64_t number) const { return names_[static_cast<std::size_t>(number)]; }

 private:
  std::map<std::string, std::int64_t> numbers_;
  std::vector<std::string> names_;
};

at::Tensor label_tensor(const std::vector<std::int64_t>& labels) {
  return at::tensor(labels, at::TensorOptions().dtype(at::kLong));
}

// ---- sts --------------------------------------------------------------------

EvalReport run_sts(const EvalOptions& options, const TextStage& text, const CommonOptions& common) {
  // Texts 0..n-1 are the pairs' first texts, n..2n-1 their second ones.
  std::vector<InputRecord> first, second;
  std::vector<double> gold;
  const std::string input_name = read_records(options.text.input, options.text.input_options, options.score_field,
                                              [&](InputRecord& record, const std::string& name) {
                                                gold.push_back(parse_score(*record.id, name, record.line_number));
                                                InputRecord other = record;
                                                other.text = std::move(*record.pair);
                                                other.text_repairs = std::move(record.pair_repairs);
                                                record.pair.reset();
                                                other.pair.reset();
                                                first.push_back(std::move(record));
                                                second.push_back(std::move(other));
                                              });
  if (gold.size() < 2)
    throw std::runtime_error(input_name + ": sts needs at least 2 pairs, found " + std::to_string(gold.size()));
  const std::size_t n = gold.size();
  first.insert(first.end(), std::make_move_iterator(second.begin()), std::make_move_iterator(second.end()));
  for (std::size_t i = 0; i < first.size(); ++i) first[i].index = i;

  const std::vector<PooledVectors> pooled = embed_texts(first, input_name, text, options, common);
  std::vector<PostProcessChoice> choices;
  for (const std::string& name : options.postprocesses) choices.push_back(parse_postprocess(name));
  EvalReport report;
  report.results = sweep(pooled, choices, options, common, text.bundle, {"spearman", "pearson"},
                         [&](const at::Tensor& features, EvalResult& result) {
                           const auto count = static_cast<std::int64_t>(n);
                           const SimilarityScores scores =
                               score_similarity(features.narrow(0, 0, count), features.narrow(0, count, count), gold);
                           result.scores = {{"spearman", scores.spearman}, {"pearson", scores.pearson}};
                           result.n = scores.n;
                         });
  return report;
}

// ---- classify -----------------------------------------------------------------

struct LabelledTexts {
  std::vector<InputRecord> records;
  std::vector<std::int64_t> labels;
  std::string input_name;
};

LabelledTexts read_labelled(const std::filesystem::path& file, const EvalOptions& options, LabelNumbers& numbers) {
  LabelledTexts texts;
  texts.input_name = read_records(file, options.text.input_options, options.label_field,
                                  [&](InputRecord& record, const std::string& name) {
                                    if (record.id->empty())
                                      throw InputError(name, record.line_number, "empty label (--label-field)");
                                    texts.labels.push_back(numbers.number(*record.id));
                                    texts.records.push_back(std::move(record));
                                  });
  if (texts.records.empty()) throw std::runtime_error(texts.input_name + ": no labelled text");
  return texts;
}

EvalReport run_classify(const EvalOptions& options, const TextStage& text, const CommonOptions& common) {
  LabelNumbers numbers;
  LabelledTexts train = read_labelled(options.text.input, options, numbers);
  std::optional<LabelledTexts> test;
  if (!options.test.empty()) test = read_labelled(options.test, options, numbers);
  if (numbers.count() < 2) throw std::runtime_error(train.input_name + ": classify needs at least 2 labels");
  std::vector<int> folds;
  if (!test) {
    try {
      folds = stratified_folds(train.labels, options.folds, options.seed);
    } catch (const std::invalid_argument& error) {
      throw UsageError("--folds " + std::to_string(options.folds) + " on " + train.input_name + ": " + error.what() +
                       "; pass fewer --folds or a --test file");
    }
  }

  std::vector<InputRecord> records = train.records;
  if (test) records.insert(records.end(), test->records.begin(), test->records.end());
  for (std::size_t i = 0; i < records.size(); ++i) records[i].index = i;
  const std::vector<PooledVectors> pooled = embed_texts(records, train.input_name, text, options, common);

  std::vector<PostProcessChoice> choices;
  for (const std::string& name : options.postprocesses) choices.push_back(parse_postprocess(name));
  ProbeOptions probe;
  probe.c = options.probe_c;
  const at::Tensor train_labels = label_tensor(train.labels);
  const auto train_count = static_cast<std::int64_t>(train.labels.size());
  EvalReport report;
  const std::vector<std::string> metrics =
      test ? std::vector<std::string>{"accuracy", "macro_f1"}
           : std::vector<std::string>{"accuracy", "macro_f1", "accuracy_sd", "macro_f1_sd"};
  report.results = sweep(
      pooled, choices, options, common, text.bundle, metrics, [&](const at::Tensor& features, EvalResult& result) {
        if (test) {
          const LinearProbe fitted(features.narrow(0, 0, train_count), train_labels, numbers.count(), probe);
          if (!fitted.converged())
            spdlog::warn("layers {}, {}, {}: the probe did not converge", result.layers, result.pooling,
                         result.postprocess);
          const at::Tensor predicted = fitted.predict(features.narrow(0, train_count, features.size(0) - train_count));
          const ClassificationScores scores =
              score_classification(predicted, label_tensor(test->labels), numbers.count());
          result.scores = {{metrics[0], scores.accuracy}, {metrics[1], scores.macro_f1}};
          result.n = test->labels.size();
        } else {
          const CrossValidationScores scores = cross_validate(features, train_labels, numbers.count(), folds, probe);
          result.scores = {{metrics[0], scores.accuracy},
                           {metrics[1], scores.macro_f1},
                           {metrics[2], scores.accuracy_sd},
                           {metrics[3], scores.macro_f1_sd}};
          result.n = train.labels.size();
        }
      });
  return report;
}

// ---- tokens -----------------------------------------------------------------

struct TaggedSentences {
  std::vector<std::vector<std::string>> words;
  std::vector<std::vector<std::string>> tags;
  std::vector<std::size_t> first_lines;  // 1-based line of each sentence's first word
  std::string input_name;
};

bool is_blank(const std::string& line) { return line.find_first_not_of(" \t\r\f\v") == std::string::npos; }

// A CoNLL file: a word and its tag per line, tab-separated (the tag in
// column `tag_column`, 1-based, 0 for the last), a blank or whitespace-only
// line between sentences. Tags are IOB2: O, B-TYPE, I-TYPE.
TaggedSentences read_conll(const std::filesystem::path& file, std::size_t tag_column) {
  TaggedSentences sentences;
  sentences.input_name = file.string();
  std::ifstream in(file, std::ios::binary);
  if (!in) throw std::runtime_error("cannot open " + file.string() + ": " + std::strerror(errno));
  std::string line;
  std::size_t number = 0;
  bool in_sentence = false;
  while (std::getline(in, line)) {
    ++number;
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (is_blank(line)) {
      in_sentence = false;
      continue;
    }
    std::vector<std::string> columns;
    std::size_t begin = 0;
    while (true) {
      const std::size_t end = line.find('\t', begin);
      columns.push_back(line.substr(begin, end == std::string::npos ? std::string::npos : end - begin));
      if (end == std::string::npos) break;
      begin = end + 1;
    }
    const std::size_t column = tag_column == 0 ? columns.size() : tag_column;
    if (columns.size() < 2 || column > columns.size() || column < 2) {
      throw InputError(sentences.input_name, number,
                       "expected a word, a tab and its tag" +
                           (tag_column == 0 ? std::string() : " in column " + std::to_string(tag_column)));
    }
    const std::string& tag = columns[column - 1];
    const bool iob2 = tag == "O" || (tag.size() > 2 && (tag[0] == 'B' || tag[0] == 'I') && tag[1] == '-');
    if (!iob2) throw InputError(sentences.input_name, number, "tag \"" + tag + "\" is not IOB2 (O, B-TYPE, I-TYPE)");
    if (columns[0].empty() || columns[0].find(' ') != std::string::npos) {
      throw InputError(sentences.input_name, number, "a word is not empty and holds no space");
    }
    if (!in_sentence) {
      sentences.words.emplace_back();
      sentences.tags.emplace_back();
      sentences.first_lines.push_back(number);
      in_sentence = true;
    }
    sentences.words.back().push_back(columns[0]);
    sentences.tags.back().push_back(tag);
  }
  if (in.bad()) throw std::runtime_error("cannot read " + file.string() + ": " + std::strerror(errno));
  if (sentences.words.empty()) throw std::runtime_error(file.string() + ": no tagged sentence");
  return sentences;
}

// A model input made of consecutive words of one sentence, and where each
// word lies in its text.
struct WordWindow {
  std::int64_t first_word = 0;  // among all the words of the run
  std::vector<Span> words;
};

// A window as the model reads it, and where each of its words lies.
struct WindowRecord {
  InputRecord record;
  WordWindow window;
};

// Words [first, end) of a sentence joined by single spaces.
WindowRecord make_window(const TaggedSentences& sentences, std::size_t sentence, std::size_t first, std::size_t end,
                         std::size_t record_index, std::int64_t first_word) {
  const std::vector<std::string>& words = sentences.words[sentence];
  InputRecord record;
  record.index = record_index;
  record.line_number = sentences.first_lines[sentence] + first;
  WordWindow window{first_word, {}};
  for (std::size_t word = first; word < end; ++word) {
    if (!record.text.empty()) record.text += ' ';
    window.words.push_back(Span{record.text.size(), record.text.size() + words[word].size()});
    record.text += words[word];
  }
  return WindowRecord{std::move(record), std::move(window)};
}

// Cuts each sentence into windows of whole words that fit the model once
// prefixed and framed (a sentence that fits is one window). Words counted
// alone give the first guess; the window is then tokenized as the pipeline
// will, and shortened until nothing is truncated, since a piece tokenizer
// splits a word differently after a space (byte-level BPE's "Ġ",
// SentencePiece's "▁"). A single word too long for the model is a window of
// its own, truncated.
void add_windows(const TaggedSentences& sentences, const TextStage& text, std::vector<InputRecord>& records,
                 std::vector<WordWindow>& windows, std::int64_t& word_count) {
  TokenizeSettings settings = text.settings;
  settings.on_overflow = OverflowPolicy::kTruncate;
  const auto tokenized = [&](const InputRecord& record) {
    return tokenize_record(record, *text.tokenizer, settings, sentences.input_name).encoding;
  };
  // The tokens that the prefix and the framing take, whatever the text.
  const std::size_t overhead = tokenized(InputRecord{}).size();
  const std::size_t budget = settings.max_length == 0 ? std::numeric_limits<std::size_t>::max()
                                                      : settings.max_length - std::min(overhead, settings.max_length);
  for (std::size_t sentence = 0; sentence < sentences.words.size(); ++sentence) {
    const std::vector<std::string>& words = sentences.words[sentence];
    std::size_t first = 0;
    while (first < words.size()) {
      std::size_t end = first;
      std::size_t tokens = 0;
      while (end < words.size()) {
        const std::size_t pieces = text.tokenizer->tokenize(words[end]).size();
        if (end > first && tokens + pieces > budget) break;
        tokens += pieces;
        ++end;
      }
      WindowRecord window = make_window(sentences, sentence, first, end, records.size(), word_count);
      while (end > first + 1 && tokenized(window.record).truncated) {
        window = make_window(sentences, sentence, first, --end, records.size(), word_count);
      }
      records.push_back(std::move(window.record));
      windows.push_back(std::move(window.window));
      word_count += static_cast<std::int64_t>(end - first);
      first = end;
    }
  }
}

// Turns per-token vectors into word vectors as windows arrive: a word's
// vector is its first token's, or the mean of its tokens; a word the
// tokenizer made no token of (only characters it drops) gets zeros.
class WordVectorSink : public VectorSink {
 public:
  WordVectorSink(const std::vector<WordWindow>& windows, std::int64_t words, std::int64_t slots, std::int64_t dim,
                 WordVector mode)
      : windows_(windows), vectors_(at::zeros({words, slots, dim})), mode_(mode) {}

  void consume(const WindowVectors& vectors) override {
    for (std::size_t line = 0; line < vectors.lines.size(); ++line) {
      const WordWindow& window = windows_[vectors.lines[line].index];
      const std::vector<Span>& spans = vectors.lines[line].spans;
      std::size_t token = 0;
      for (std::size_t word = 0; word < window.words.size(); ++word) {
        // A token is the word's when their bytes overlap: byte-level BPE's
        // "Ġword" spans the space before the word too.
        while (token < spans.size() && spans[token].end <= window.words[word].begin) ++token;
        std::size_t end = token;
        while (end < spans.size() && spans[end].begin < window.words[word].end) ++end;
        if (end == token) {
          ++empty_words_;
          continue;
        }
        const std::int64_t first = vectors.offsets[line] + static_cast<std::int64_t>(token);
        const at::Tensor tokens =
            vectors.rows.narrow(0, first, mode_ == WordVector::kFirst ? 1 : static_cast<std::int64_t>(end - token));
        vectors_[window.first_word + static_cast<std::int64_t>(word)].copy_(tokens.mean(0));
        token = end;
      }
    }
  }
  void finish() override {
    if (empty_words_ > 0)
      spdlog::warn("{} words had no token (the tokenizer drops all their characters): zero vectors", empty_words_);
  }
  const at::Tensor& vectors() const { return vectors_; }

 private:
  const std::vector<WordWindow>& windows_;
  at::Tensor vectors_;  // [words, slots, dim]
  WordVector mode_;
  std::size_t empty_words_ = 0;
};

std::vector<std::int64_t> tag_numbers(const TaggedSentences& sentences, LabelNumbers& numbers) {
  std::vector<std::int64_t> labels;
  for (const std::vector<std::string>& tags : sentences.tags) {
    for (const std::string& tag : tags) labels.push_back(numbers.number(tag));
  }
  return labels;
}

// conlleval's input: word, gold tag, predicted tag; a blank line between sentences.
void write_predictions(const std::filesystem::path& file, const TaggedSentences& test,
                       const std::vector<std::vector<std::string>>& predicted) {
  OutputFile out(file);
  for (std::size_t sentence = 0; sentence < test.words.size(); ++sentence) {
    for (std::size_t word = 0; word < test.words[sentence].size(); ++word) {
      out.stream() << test.words[sentence][word] << ' ' << test.tags[sentence][word] << ' ' << predicted[sentence][word]
                   << '\n';
    }
    out.stream() << '\n';
  }
  out.commit();
}

EvalReport run_tokens(const EvalOptions& options, const TextStage& text, const CommonOptions& common) {
  const TaggedSentences train = read_conll(options.text.input, options.tag_column);
  const TaggedSentences test = read_conll(options.test, options.tag_column);
  LabelNumbers numbers;
  const std::vector<std::int64_t> train_tags = tag_numbers(train, numbers);
  const std::vector<std::int64_t> test_tags = tag_numbers(test, numbers);

  std::vector<InputRecord> records;
  std::vector<WordWindow> windows;
  std::int64_t words = 0;
  add_windows(train, text, records, windows, words);
  add_windows(test, text, records, windows, words);

  // Every real token's vector, special tokens left out: spans find the words.
  const OutputSpec spec = as_usage_error(
      [&] { return plan_output(options.layers, LayerAggregation::kNone, Pooling::kTokens, true, text.bundle); });
  const Encoder encoder = as_usage_error([&] { return Encoder(text.bundle.dir, options.encoder); });
  const Embedder embedder(encoder, text.tokenizer, {spec});
  WordVectorSink word_vectors(windows, words, static_cast<std::int64_t>(spec.layers.size()), spec.dim,
                              options.word_vector);
  const RunSummary summary = embed_records(records, train.input_name, text, embedder, options, common, {&word_vectors});
  word_vectors.finish();
  if (!common.quiet) std::cerr << "bert-embed: embedded " << format_summary(summary) << '\n';

  PooledVectors pooled{std::string(name_of(kWordVectorNames, options.word_vector)), spec, word_vectors.vectors(), {}};
  if (options.layer_aggregation != LayerAggregation::kNone) {
    pooled.aggregated = aggregate_layers(pooled.per_layer, options.layer_aggregation);
  }
  std::vector<PostProcessChoice> choices;
  for (const std::string& name : options.postprocesses) choices.push_back(parse_postprocess(name));
  ProbeOptions probe;
  probe.c = options.probe_c;
  const auto train_count = static_cast<std::int64_t>(train_tags.size());
  const at::Tensor train_labels = label_tensor(train_tags);
  // The predicted tags of every combination, when --predictions asks for
  // the best one's: combinations are scored in parallel, so the best is
  // known only at the end.
  std::mutex predictions_mutex;
  std::map<std::string, std::vector<std::vector<std::string>>> predictions;
  const auto combination = [](const EvalResult& result) {
    return result.layers + '\t' + result.layer_agg + '\t' + result.pooling + '\t' + result.postprocess;
  };
  EvalReport report;
  report.results = sweep(
      {pooled}, choices, options, common, text.bundle, {"f1", "token_accuracy", "precision", "recall"},
      [&](const at::Tensor& features, EvalResult& result) {
        const LinearProbe fitted(features.narrow(0, 0, train_count), train_labels, numbers.count(), probe);
        if (!fitted.converged())
          spdlog::warn("layers {}, {}: the probe did not converge", result.layers, result.postprocess);
        const at::Tensor predicted = fitted.predict(features.narrow(0, train_count, words - train_count)).contiguous();
        const std::int64_t* classes = predicted.data_ptr<std::int64_t>();
        std::vector<std::vector<std::string>> tags;
        for (const std::vector<std::string>& sentence : test.tags) {
          tags.emplace_back();
          for (std::size_t word = 0; word < sentence.size(); ++word) tags.back().push_back(numbers.name(*classes++));
        }
        const TaggingScores scores = score_tagging(test.tags, tags);
        result.scores = {{"f1", scores.f1},
                         {"token_accuracy", scores.token_accuracy},
                         {"precision", scores.precision},
                         {"recall", scores.recall}};
        result.n = test_tags.size();
        if (!options.predictions.empty()) {
          const std::lock_guard<std::mutex> lock(predictions_mutex);
          predictions[combination(result)] = std::move(tags);
        }
      });
  if (!options.predictions.empty()) {
    const auto best = predictions.find(combination(report.results[best_result(report.results)]));
    if (best == predictions.end()) throw std::runtime_error("no combination could be scored: no predictions to write");
    write_predictions(options.predictions, test, best->second);
  }
  return report;
}

// ---- The command ------------------------------------------------------------

nlohmann::ordered_json describe_model(const EvalOptions& options, const TextStage& text) {
  nlohmann::ordered_json model = {
      {"bundle", text.bundle.dir.string()},           {"architecture", text.bundle.architecture},
      {"weights_sha256", text.bundle.weights_sha256}, {"num_layers", text.bundle.num_layers},
      {"hidden_size", text.bundle.hidden_size},       {"dtype", to_string(options.encoder.dtype)},
      {"max_length", text.settings.max_length},       {"bert_embed_version", bert_embed_version()},
      {"input", options.text.input.string()}};
  if (!options.test.empty()) model["test"] = options.test.string();
  model["layers"] = options.layers;
  model["layer_agg"] = name_of(kLayerAggregationNames, options.layer_aggregation);
  if (options.task == Task::kTokens) {
    model["word_vector"] = name_of(kWordVectorNames, options.word_vector);
  } else {
    model["pooling"] = options.poolings;
  }
  model["postprocess"] = options.postprocesses;
  if (!options.stats.empty()) model["stats"] = options.stats.string();
  if (options.task != Task::kSts) model["probe_c"] = options.probe_c;
  if (options.task == Task::kClassify && options.test.empty()) {
    model["folds"] = options.folds;
    model["seed"] = options.seed;
  }
  return model;
}

void check_eval_options(const CLI::App& app, EvalOptions& options) {
  check_text_input_options(options.text);
  if (options.text.input == "-") throw UsageError("eval needs an input file: -i FILE");
  const InputOptions& input = options.text.input_options;
  if (options.task == Task::kSts) {
    if (input.format == InputFormat::kText || input.pair_field.empty() || options.score_field.empty()) {
      throw UsageError("sts needs --input-format jsonl or tsv with --pair-field and --score-field");
    }
  }
  if (options.task == Task::kClassify) {
    if (input.format == InputFormat::kText || options.label_field.empty()) {
      throw UsageError("classify needs --input-format jsonl or tsv with --label-field");
    }
    if (!input.pair_field.empty()) throw UsageError("classify takes single texts: no --pair-field");
    if (!options.test.empty() && app.count("--folds") + app.count("--seed") > 0) {
      throw UsageError("--folds and --seed cross-validate: they do not apply with --test");
    }
  }
  if (options.task == Task::kTokens) {
    if (options.test.empty()) throw UsageError("tokens needs --test FILE");
    if (input.format != InputFormat::kText || !input.text_field.empty() || !input.pair_field.empty()) {
      throw UsageError("tokens reads CoNLL files: --input-format, --text-field and --pair-field do not apply");
    }
  }
  if (!input.id_field.empty()) throw UsageError("eval has no use for --id-field");
  if (input.format == InputFormat::kTsv) {
    for (const std::string* field : {&options.score_field, &options.label_field}) {
      if (!field->empty()) as_usage_error([&] { return tsv_column_index(*field); });
    }
  }
  for (const std::string& name : options.poolings) {
    const Pooling pooling = as_usage_error([&] { return parse_pooling(name); });
    if (pooling == Pooling::kTokens || pooling == Pooling::kPooler) {
      throw UsageError("--pooling " + name + ": eval sweeps cls, mean and max");
    }
  }
  for (const std::string& name : options.postprocesses) parse_postprocess(name);
  if (!options.plot.empty()) as_usage_error([&] { check_plot_output(options.plot); });
  for (const std::filesystem::path* output : {&options.json, &options.plot, &options.predictions}) {
    if (!output->empty()) as_usage_error([&] { check_output_is_not_input(options.text.input, *output); });
  }
}

void run_eval(const EvalOptions& options, const CommonOptions& common, const char* task) {
  apply_runtime_settings(RuntimeSettings{options.threads, options.encoder.dtype, options.encoder.device});
  const TextStage text = load_text_stage(options.text);
  for (const std::string& name : options.postprocesses) {
    as_usage_error([&] { PostProcessor(parse_postprocess(name).options).check_dimensions(text.bundle.hidden_size); });
  }
  std::optional<OutputFile> json;
  if (!options.json.empty()) json.emplace(options.json);  // an unwritable file fails before the model runs

  EvalReport report = options.task == Task::kSts        ? run_sts(options, text, common)
                      : options.task == Task::kClassify ? run_classify(options, text, common)
                                                        : run_tokens(options, text, common);
  report.task = task;
  report.model = describe_model(options, text);
  std::cout << markdown_table(report) << std::flush;
  if (json) {
    json->stream() << report_json(report).dump(2) << '\n';
    json->commit();
  }
  if (!options.plot.empty()) plot_report(report, options.plot);
}

void add_eval_options(CLI::App& app, EvalOptions& options) {
  app.add_option("-l,--layers", options.layers,
                 "Hidden states to score, each on its own: 0 is the embedding output, k layer k, negatives "
                 "count from the end; lists, inclusive ranges (1:4) or all")
      ->type_name("SPEC")
      ->capture_default_str();
  add_enum_option(app, "--layer-agg", options.layer_aggregation, kLayerAggregationNames,
                  "Also score the --layers averaged (mean) or concatenated: one more combination");
  app.add_option("--postprocess", options.postprocesses,
                 "Post-processings to compare: none, standardize, whiten:K, remove-top:D, normalize, or several "
                 "joined by + (whiten:256+standardize)")
      ->delimiter(',')
      ->type_name("LIST")
      ->default_str("none");
  app.add_option("--stats", options.stats,
                 "Statistics saved by embed --save-stats, used for the combinations whose vectors and "
                 "transforms they match (the others are fitted on the evaluation texts)")
      ->check(CLI::ExistingFile)
      ->type_name("FILE");
  app.add_option("--json", options.json, "Also write every score as JSON")->type_name("FILE");
  app.add_option("--plot", options.plot, "Draw score against layer with gnuplot")->type_name("FILE.png|FILE.svg");
  app.add_option("--device", options.encoder.device, "cpu, cuda or cuda:N")->type_name("DEVICE")->capture_default_str();
  app.add_option("--threads", options.threads, "Threads for inference and scoring")
      ->check(CLI::Range(0, 4096))
      ->type_name("N")
      ->default_str("0, all cores");
  add_enum_option(app, "--dtype", options.encoder.dtype, kDTypeNames, "Number format for inference");
  app.add_flag("--progress,!--no-progress", options.progress, "Show progress on stderr")
      ->default_str("on when stderr is a terminal");
  app.footer(kFooter);
}

void add_probe_options(CLI::App& app, EvalOptions& options) {
  app.add_option("--probe-c", options.probe_c, "Inverse L2 strength of the probe, as scikit-learn's C")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  app.add_option("--test", options.test, "Test file, same format as the input (the train file)")
      ->check(CLI::ExistingFile)
      ->type_name("FILE");
}

}  // namespace

CommandRun define_eval(CLI::App& app, const CommonOptions& common) {
  app.require_subcommand(1);
  app.fallthrough();
  struct Subcommand {
    CLI::App* app;
    std::shared_ptr<EvalOptions> options;
    const char* name;
  };
  auto subcommands = std::make_shared<std::vector<Subcommand>>();
  const auto add = [&](const char* name, Task task, const char* summary) {
    CLI::App* sub = app.add_subcommand(name, summary);
    auto options = std::make_shared<EvalOptions>();
    options->task = task;
    add_text_input_options(*sub, options->text);
    add_eval_options(*sub, *options);
    if (task != Task::kTokens) {
      sub->add_option("-p,--pooling", options->poolings, "Poolings to compare: cls, mean, max")
          ->delimiter(',')
          ->type_name("LIST")
          ->default_str("mean");
    }
    subcommands->push_back({sub, options, name});
    return std::make_pair(sub, options.get());
  };
  {
    auto [sub, options] = add("sts", Task::kSts, "Pairs with a gold score: Spearman and Pearson of the cosines x100");
    sub->add_option("--score-field", options->score_field, "jsonl key or tsv column of the gold score")
        ->type_name("FIELD");
  }
  {
    auto [sub, options] =
        add("classify", Task::kClassify, "Labelled texts: a linear probe's accuracy and macro-F1 x100");
    sub->add_option("--label-field", options->label_field, "jsonl key or tsv column of the label")->type_name("FIELD");
    add_probe_options(*sub, *options);
    sub->add_option("--folds", options->folds, "Stratified cross-validation folds, without --test")
        ->check(CLI::Range(2, 1000))
        ->capture_default_str();
    sub->add_option("--seed", options->seed, "Seed of the fold assignment")->capture_default_str();
  }
  {
    auto [sub, options] =
        add("tokens", Task::kTokens, "CoNLL files of IOB2 tags: a probe's entity F1 and token accuracy x100");
    add_probe_options(*sub, *options);
    sub->add_option("--tag-column", options->tag_column, "1-based column of the tag")
        ->check(CLI::Range(std::size_t{2}, std::size_t{1000}))
        ->default_str("the last");
    add_enum_option(*sub, "--word-vector", options->word_vector, kWordVectorNames,
                    "A word's vector: its first sub-token's, or the mean of its sub-tokens");
    sub->add_option("--predictions", options->predictions,
                    "Write the best combination's test predictions: word, gold tag, predicted tag (conlleval's input)")
        ->type_name("FILE");
  }
  return [subcommands, &common] {
    for (const Subcommand& sub : *subcommands) {
      if (!sub.app->parsed()) continue;
      check_eval_options(*sub.app, *sub.options);
      run_eval(*sub.options, common, sub.name);
    }
  };
}

}  // namespace bert_embed
