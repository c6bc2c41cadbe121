// bert-embed embed: input lines -> vectors, the default command.
#include <unistd.h>

#include <iostream>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include <spdlog/spdlog.h>

#include "bert_embed/io/embedding_writer.h"
#include "bert_embed/io/manifest.h"
#include "bert_embed/io/output_file.h"
#include "bert_embed/io/output_set.h"
#include "bert_embed/model/encoder.h"
#include "bert_embed/model/runtime.h"
#include "bert_embed/pipeline/pipeline.h"
#include "bert_embed/pipeline/sink.h"
#include "bert_embed/vectors/postprocess.h"
#include "commands/command.h"

namespace bert_embed {
namespace {

constexpr const char* kFooter = R"(Output:
  jsonl  one object per input line, in input order: {"index": i, "embedding": [...]}
         (plus "id" with --id-field); several layers kept apart under "layers";
         --pooling tokens gives "tokens", "spans" and "embeddings".
  npy    float32 [lines, dim]; [lines, layers, dim] for several layers kept apart;
         --pooling tokens: [total_tokens, dim] and OUT.offsets.npy (int64 [lines+1]).
         Needs an output file (-o FILE.npy), not stdout.
Every input line gets its row; an empty line gets the vector of [CLS] [SEP].

Commands: embed (the default), tokenize; bert-embed COMMAND --help.
Exit status: 0 success, 1 runtime error (input, model, I/O), 2 usage error.)";

enum class Normalization { kNone, kL2 };
constexpr EnumNames<Normalization, 2> kNormalizationNames{{{"none", Normalization::kNone}, {"l2", Normalization::kL2}}};

struct EmbedOptions {
  TextInputOptions text;
  std::filesystem::path output = "-";
  OutputFormat format = OutputFormat::kJsonl;  // unless given: from the output's extension
  std::string layers = "-1";
  LayerAggregation layer_aggregation = LayerAggregation::kNone;
  Pooling pooling = Pooling::kMean;
  bool exclude_special = false;
  PostProcessOptions postprocess;
  Normalization normalization = Normalization::kNone;
  std::filesystem::path stats;       // empty: fit on the input
  std::filesystem::path save_stats;  // empty: not saved
  EncoderOptions encoder;
  int threads = 0;
  BatchLimits batch;
  WindowLimits window;
  bool progress = isatty(STDERR_FILENO) != 0;
};

void add_embed_options(CLI::App& app, EmbedOptions& options) {
  app.add_option("-o,--output", options.output, "Output file, written whole or not at all; - is stdout")
      ->type_name("FILE")
      ->capture_default_str();
  add_enum_option(app, "-f,--format", options.format, kOutputFormatNames, "Output format")
      ->default_str("npy for an output ending in .npy, else jsonl");
  app.add_option("-l,--layers", options.layers,
                 "Hidden states to use: 0 is the embedding output, k the output of layer k, "
                 "negatives count from the end (-1 the last layer); lists (-4,-3,-2,-1), "
                 "inclusive ranges (1:4) or all")
      ->type_name("SPEC")
      ->capture_default_str();
  add_enum_option(app, "--layer-agg", options.layer_aggregation, kLayerAggregationNames,
                  "Several layers: keep them apart, average them, or concatenate them");
  add_enum_option(app, "-p,--pooling", options.pooling, kPoolingNames,
                  "cls: the [CLS] vector; mean, max: over every real token, [CLS] and [SEP] "
                  "included; tokens: one vector per token; pooler: the checkpoint's pooler output");
  app.add_flag("--exclude-special", options.exclude_special,
               "Leave [CLS] and [SEP] out of mean, max and tokens (a line with no other token keeps them)")
      ->default_str("off");
  app.add_option("--whiten", options.postprocess.whiten_components,
                 "BERT-whitening: centre, then project on the top K directions of the "
                 "covariance, scaled to unit variance")
      ->check(CLI::Range(1, 1 << 20))
      ->type_name("K")
      ->default_str("off");
  app.add_option("--remove-top", options.postprocess.remove_top,
                 "All-but-the-top: centre, then remove the top D principal directions")
      ->check(CLI::Range(1, 1 << 20))
      ->type_name("D")
      ->default_str("off");
  app.add_flag("--standardize", options.postprocess.standardize,
               "Z-score each dimension (after --whiten and --remove-top)")
      ->default_str("off");
  add_enum_option(app, "--normalize", options.normalization, kNormalizationNames,
                  "Scale every vector to unit L2 norm, last");
  app.add_option("--stats", options.stats,
                 "Apply statistics saved by --save-stats instead of fitting them on the input "
                 "(memory then stays flat)")
      ->check(CLI::ExistingFile)
      ->type_name("FILE")
      ->default_str("fit on the input");
  app.add_option("--save-stats", options.save_stats,
                 "Write the statistics fitted on this input, for --stats in later runs")
      ->type_name("FILE")
      ->default_str("none");
  app.add_option("--device", options.encoder.device, "cpu, cuda or cuda:N")
      ->type_name("DEVICE")
      ->capture_default_str();
  app.add_option("--threads", options.threads, "Threads for inference")
      ->check(CLI::Range(0, 4096))
      ->type_name("N")
      ->default_str("0, all cores");
  add_enum_option(app, "--dtype", options.encoder.dtype, kDTypeNames,
                  "Number format for inference: float16 needs CUDA; int8 (dynamically quantized "
                  "linear layers, CPU) needs a bundle exported with --int8");
  app.add_option("--batch-tokens", options.batch.max_tokens,
                 "Token budget of a batch: texts x the longest text's tokens, padding included")
      ->check(CLI::Range(std::size_t{1}, std::size_t{1} << 24))
      ->type_name("N")
      ->capture_default_str();
  app.add_flag("--progress,!--no-progress", options.progress,
               "Show lines, tokens per second and an ETA (when the input size is known) on stderr")
      ->default_str("on when stderr is a terminal");
}

// What CLI11 cannot check alone; throws UsageError.
void check_embed_options(const CLI::App& app, EmbedOptions& options) {
  check_text_input_options(options.text);
  if (app.count("--format") == 0) options.format = output_format_for(options.output);
  if (options.format == OutputFormat::kNpy && options.output == "-") {
    throw UsageError("NPY output needs a file it can seek in, not stdout: pass -o FILE.npy");
  }
  options.postprocess.l2_normalize = options.normalization == Normalization::kL2;
  if (options.pooling == Pooling::kPooler && app.count("--layers") + app.count("--layer-agg") > 0) {
    throw UsageError("--layers and --layer-agg do not apply to --pooling pooler, which reads the "
                     "pooler on top of the last layer");
  }
  if (options.exclude_special && (options.pooling == Pooling::kCls || options.pooling == Pooling::kPooler)) {
    throw UsageError("--exclude-special applies to --pooling mean, max and tokens");
  }
  const PostProcessOptions& post = options.postprocess;
  const bool fitted = post.whiten_components > 0 || post.remove_top > 0 || post.standardize;
  if ((!options.stats.empty() || !options.save_stats.empty()) && !fitted) {
    throw UsageError("--stats and --save-stats need --whiten, --remove-top or --standardize");
  }
  if (!options.stats.empty() && !options.save_stats.empty()) {
    throw UsageError("--stats applies saved statistics, --save-stats saves fitted ones: use one");
  }
  if (options.save_stats == "-" ||
      (!options.save_stats.empty() &&
       std::filesystem::weakly_canonical(options.save_stats) == std::filesystem::weakly_canonical(options.output))) {
    throw UsageError("--save-stats needs a file of its own (a manifest with arrays beside it), not " +
                     options.save_stats.string());
  }
}

// Temporaries (the spooled vectors of a two-pass run) go beside an output
// file, on the disk meant to hold that much; for stdout or a special file
// (/dev/null, a FIFO), to the temporary directory.
std::filesystem::path spool_directory(const std::filesystem::path& output) {
  std::error_code error;
  const auto status = std::filesystem::status(output, error);
  const bool special = std::filesystem::exists(status) && !std::filesystem::is_regular_file(status);
  if (output == "-" || special) return std::filesystem::temp_directory_path();
  return std::filesystem::absolute(output).parent_path();
}

// Reads top to bottom like the pipeline it runs. Everything that can be
// checked without the model (input, layers, post-processing, every output
// file) is checked before the model loads.
void run_embed(const EmbedOptions& options, const CommonOptions& common) {
  // Process-wide, so before any thread starts.
  apply_runtime_settings(RuntimeSettings{options.threads, options.encoder.dtype});
  const TextStage text = load_text_stage(options.text);
  TextSource source(options.text.input, options.text.input_options, text.tokenizer, text.settings, RecordRange{},
                    options.window.max_lines);
  const OutputSpec spec = as_usage_error([&] {
    return plan_output(options.layers, options.layer_aggregation, options.pooling, options.exclude_special,
                       text.bundle);
  });
  const VectorSource vector_source = describe_source(spec, text.bundle, options.encoder.dtype);

  PostProcessor postprocessor(options.postprocess);
  as_usage_error([&] { postprocessor.check_dimensions(spec.dim); });
  if (!options.stats.empty()) postprocessor.load(options.stats, vector_source);
  const bool fit_on_input = postprocessor.needs_statistics() && options.stats.empty();
  const bool postprocessing = postprocessor.needs_statistics() || options.postprocess.l2_normalize;

  // Every file of the run is opened now, so that an unwritable one fails
  // before the model runs, and committed together at the end.
  OutputSet outputs(options.text.input);
  WriterOptions writer_options;
  writer_options.format = options.format;
  writer_options.output = options.output;
  writer_options.per_token = options.pooling == Pooling::kTokens;
  writer_options.slot_labels = spec.slot_labels;
  writer_options.dim = postprocessor.output_dim(spec.dim);
  Manifest provenance;
  provenance.source = vector_source;
  provenance.postprocess = postprocess_label(options.postprocess);
  provenance.input = InputDescription{source.input_name(), source.input_size(), 0, 0};
  const std::unique_ptr<EmbeddingWriter> writer =
      as_usage_error([&] { return make_embedding_writer(outputs, writer_options, provenance); });
  if (!options.save_stats.empty()) {
    as_usage_error([&] { check_output_is_not_input(options.text.input, options.save_stats); });
    const OutputFile probe(options.save_stats);  // fails now, not after the whole input, when unwritable
  }
  WriterSink written(*writer, postprocessing ? &postprocessor : nullptr, writer_options.per_token);
  RunSummary summary;
  std::optional<FittingSink> fitted;
  if (fit_on_input) {
    fitted.emplace(postprocessor, spec, written, spool_directory(options.output), [&] {
      if (options.save_stats.empty()) return;
      InputDescription fitted_on = provenance.input;
      fitted_on.end_record = summary.lines;
      postprocessor.save(outputs, options.save_stats, vector_source, fitted_on);
    });
  }
  VectorSink& sink = fitted ? static_cast<VectorSink&>(*fitted) : written;

  const Encoder encoder = as_usage_error([&] { return Encoder(text.bundle.dir, options.encoder); });
  spdlog::info("model {}: {}, {} layers, hidden size {}; {} tokens at most per text", text.bundle.dir.string(),
               text.bundle.architecture, text.bundle.num_layers, text.bundle.hidden_size, text.settings.max_length);
  const Embedder embedder(encoder, text.tokenizer, {spec});
  Batcher batcher(options.batch, options.window);
  ProgressLine progress(options.progress && !common.quiet, source.input_size());
  summary = run_pipeline(source, batcher, embedder, {&sink}, progress);
  sink.finish();
  outputs.commit();
  if (!common.quiet) std::cerr << "bert-embed: " << format_summary(summary) << '\n';
}

}  // namespace

CommandRun define_embed(CLI::App& app, const CommonOptions& common) {
  auto options = std::make_shared<EmbedOptions>();
  add_text_input_options(app, options->text);
  add_embed_options(app, *options);
  app.footer(kFooter);
  return [&app, options, &common] {
    check_embed_options(app, *options);
    run_embed(*options, common);
  };
}

}  // namespace bert_embed
