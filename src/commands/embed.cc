// bert-embed embed: input lines -> vectors, the default command.
#include <unistd.h>

#include <cmath>
#include <iostream>
#include <limits>
#include <map>
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
#include "bert_embed/pipeline/shard.h"
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
         --output-dtype float16, int8 or binary (uint8 [lines, ceil(dim/8)]) to shrink it;
         --pooling tokens: [total_tokens, dim] and OUT.offsets.npy (int64 [lines+1]).
         Needs an output file (-o FILE.npy), not stdout.
Every input line gets its row; an empty line gets the vector of its framing tokens
([CLS] [SEP], <s> </s>, ...), or a zero vector where there are none (GPT-2).
A bundle may carry defaults (pooling, layers, normalize, max length, prefix, strip):
options not given take them; the manifest records what was used.

Shards: --shard I/N embeds the I-th of N contiguous ranges of the input's lines
(a regular file). It writes OUT.partial and checkpoints to OUT.checkpoint.json;
rerun after a kill, the same command goes on from the last checkpoint, and a
finished one does nothing. bert-embed merge joins the shards' outputs.

Commands: embed (the default), tokenize, merge, stats, postprocess; bert-embed COMMAND --help.
Exit status: 0 success, 1 runtime error (input, model, I/O), 2 usage error.)";


struct EmbedOptions {
  TextInputOptions text;
  std::filesystem::path output = "-";
  OutputFormat format = OutputFormat::kJsonl;  // unless given: from the output's extension
  OutputDtypeOptions output_dtype;
  std::string layers = "-1";
  LayerAggregation layer_aggregation = LayerAggregation::kNone;
  Pooling pooling = Pooling::kMean;
  bool exclude_special = false;
  PostProcessOptions postprocess;
  Normalization normalization = Normalization::kNone;
  std::filesystem::path stats;       // empty: fit on the input
  std::filesystem::path save_stats;  // empty: not saved
  EncoderOptions encoder;
  bool dtype_auto = false;  // --dtype auto: encoder.dtype is resolved for this machine
  int threads = 0;
  BatchLimits batch;
  WindowLimits window;
  bool progress = isatty(STDERR_FILENO) != 0;
  std::optional<ShardSpec> shard;  // a resumable run over part of the input
  CheckpointInterval checkpoint;
  bool restart = false;
};

void add_embed_options(CLI::App& app, EmbedOptions& options) {
  app.add_option("-o,--output", options.output, "Output file, written whole or not at all; - is stdout")
      ->type_name("FILE")
      ->capture_default_str();
  add_enum_option(app, "-f,--format", options.format, kOutputFormatNames, "Output format")
      ->default_str("npy for an output ending in .npy, else jsonl");
  add_output_dtype_options(app, options.output_dtype);
  app.add_option("-l,--layers", options.layers,
                 "Hidden states to use: 0 is the embedding output, k the output of layer k, "
                 "negatives count from the end (-1 the last layer); lists (-4,-3,-2,-1), "
                 "inclusive ranges (1:4) or all")
      ->type_name("SPEC")
      ->capture_default_str();
  add_enum_option(app, "--layer-agg", options.layer_aggregation, kLayerAggregationNames,
                  "Several layers: keep them apart, average them, or concatenate them");
  add_enum_option(app, "-p,--pooling", options.pooling, kPoolingNames,
                  "cls: the classification token ([CLS], <s>; XLNet's final <cls>; none for GPT-2); "
                  "mean, max: over every real token, special ones included; last: the last real token "
                  "(GPT-2, XLNet); tokens: one vector per token; pooler: the checkpoint's pooler output. "
                  "Default: the bundle's, else mean");
  app.add_flag("--exclude-special", options.exclude_special,
               "Leave the framing's special tokens ([CLS] [SEP], <s> </s>, <sep> <cls>) out of mean, max, "
               "last and tokens (a line with no other token keeps them)")
      ->default_str("off");
  add_fitted_transform_options(app, options.postprocess);
  add_normalize_option(app, options.normalization);
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
  std::vector<std::string> dtype_names = all_names(kDTypeNames);
  dtype_names.insert(dtype_names.begin(), "auto");
  app.add_option_function<std::string>(
         "--dtype",
         [&options](const std::string& name) {
           options.dtype_auto = name == "auto";
           if (!options.dtype_auto) options.encoder.dtype = parse_dtype(name);
         },
         "Number format for inference: float16 needs CUDA; int8 (dynamically quantized linear layers, CPU) "
         "needs a bundle exported with --int8; auto picks the fastest of float32 and bfloat16 on CPU "
         "(bfloat16 with AMX), float16 or bfloat16 on CUDA, and logs its choice")
      ->check(CLI::IsMember(dtype_names).description(""))
      ->type_name(CLI::detail::join(dtype_names, "|"))
      ->default_str(to_string(options.encoder.dtype));
  app.add_option("--batch-tokens", options.batch.max_tokens,
                 "Token budget of a batch: texts x the longest text's tokens, padding included")
      ->check(CLI::Range(std::size_t{1}, std::size_t{1} << 24))
      ->type_name("N")
      ->capture_default_str();
  app.add_option("--window-lines", options.window.max_lines,
                 "Lines embedded together, sorted by length into batches; windows, shards and "
                 "checkpoints lie on a grid of this many lines, so that shards, resumed and whole "
                 "runs make the same bytes")
      ->check(CLI::Range(std::size_t{1}, std::size_t{1} << 24))
      ->type_name("N")
      ->capture_default_str();
  app.add_option_function<std::string>(
         "--shard",
         [&options](const std::string& text) {
           try {
             options.shard = parse_shard(text);
           } catch (const std::invalid_argument& error) {
             throw UsageError(std::string("--shard: ") + error.what());
           }
         },
         "Embed shard I (from 0) of N contiguous ranges of the input, resumably (see below)")
      ->type_name("I/N")
      ->default_str("the whole input, not resumable");
  app.add_option("--checkpoint-lines", options.checkpoint.lines,
                 "--shard: make the output durable after this many lines (at the next window on the grid)")
      ->check(CLI::Range(std::size_t{1}, std::numeric_limits<std::size_t>::max()))
      ->type_name("N")
      ->capture_default_str();
  app.add_option("--checkpoint-seconds", options.checkpoint.seconds,
                 "--shard: ... or after this many seconds, whichever comes first")
      ->check(CLI::Range(0.0, 1e9))
      ->type_name("S")
      ->capture_default_str();
  app.add_flag("--restart", options.restart,
               "--shard: discard the partial output of a different command instead of refusing it")
      ->default_str("off");
  app.add_flag("--progress,!--no-progress", options.progress,
               "Show lines, tokens per second and an ETA (when the input size is known) on stderr")
      ->default_str("on when stderr is a terminal");
}

// Options not given on the command line take the defaults bundle.json
// carries (what a sentence-transformers directory implies).
void apply_bundle_defaults(const CLI::App& app, EmbedOptions& options) {
  const BundleDefaults defaults = read_bundle_info(options.text.model_dir).defaults;
  const auto given = [&](const char* option) { return app.count(option) > 0; };
  try {
    if (defaults.pooling && !given("--pooling")) options.pooling = parse_pooling(*defaults.pooling);
    if (defaults.layers && !given("--layers")) options.layers = *defaults.layers;
    if (defaults.normalize && !given("--normalize")) {
      options.normalization = parse_name(kNormalizationNames, *defaults.normalize, "normalize");
    }
  } catch (const std::invalid_argument& error) {
    throw std::runtime_error((options.text.model_dir / "bundle.json").string() + ": defaults: " + error.what());
  }
}

// What CLI11 cannot check alone; throws UsageError.
void check_embed_options(const CLI::App& app, EmbedOptions& options) {
  check_text_input_options(options.text);
  if (app.count("--format") == 0) options.format = output_format_for(options.output);
  if (options.format == OutputFormat::kNpy && options.output == "-") {
    throw UsageError("NPY output needs a file it can seek in, not stdout: pass -o FILE.npy");
  }
  check_output_dtype_options(options.output_dtype);
  if (options.output_dtype.dtype != OutputDtype::kFloat32 && options.format != OutputFormat::kNpy) {
    throw UsageError("--output-dtype " + output_dtype_name(options.output_dtype.dtype) +
                     " needs NPY output (-o FILE.npy): JSONL holds float32 numbers");
  }
  const PostProcessOptions& post = options.postprocess;
  const bool fitted = post.whiten_components > 0 || post.remove_top > 0 || post.standardize;
  if ((!options.stats.empty() || !options.save_stats.empty()) && !fitted) {
    throw UsageError("--stats and --save-stats need --whiten, --remove-top or --standardize");
  }
  if (options.shard) {
    if (fitted && options.stats.empty()) {
      throw UsageError("--shard cannot fit --whiten, --remove-top or --standardize on its part of the input: "
                       "fit them on every shard's vectors with bert-embed stats, then embed the shards with "
                       "--stats FILE");
    }
    if (options.text.input == "-") {
      throw UsageError("--shard needs an input file to count its lines, not stdin: pass -i FILE");
    }
    std::error_code error;
    if (!std::filesystem::is_regular_file(options.text.input, error)) {
      throw UsageError("--shard needs a regular input file to count its lines: " + options.text.input.string() +
                       " is not one");
    }
    if (options.output == "-") throw UsageError("--shard needs an output file it can resume, not stdout: pass -o FILE");
    if (options.output_dtype.dtype == OutputDtype::kInt8 && options.output_dtype.int8_ranges.empty()) {
      throw UsageError("--shard cannot calibrate --output-dtype int8 on its part of the input (the shards would be "
                       "quantized differently): fit ranges on every shard's vectors with bert-embed stats, then "
                       "embed the shards with --int8-ranges FILE");
    }
  } else if (app.count("--checkpoint-lines") + app.count("--checkpoint-seconds") + app.count("--restart") > 0) {
    throw UsageError("--checkpoint-lines, --checkpoint-seconds and --restart apply to resumable runs: add --shard "
                     "I/N (--shard 0/1 for the whole input)");
  }
  // CLI::Range lets NaN through: every comparison with it is false.
  if (std::isnan(options.checkpoint.seconds)) {
    throw UsageError("--checkpoint-seconds: expected seconds in [0, 1e9], got nan");
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

  // The bundle is read last, so that usage errors come first.
  apply_bundle_defaults(app, options);
  options.postprocess.l2_normalize = options.normalization == Normalization::kL2;
  if (options.pooling == Pooling::kPooler && app.count("--layers") + app.count("--layer-agg") > 0) {
    throw UsageError("--layers and --layer-agg do not apply to --pooling pooler, which reads the "
                     "pooler on top of the last layer");
  }
  if (options.exclude_special && (options.pooling == Pooling::kCls || options.pooling == Pooling::kPooler)) {
    throw UsageError("--exclude-special applies to --pooling mean, max, last and tokens");
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

// What else decides the bytes of the vectors (ShardDescription::settings):
// the shards of one job and a resumed run must agree on it.
std::map<std::string, std::string> embed_settings(const EmbedOptions& options, const TextStage& text) {
  const InputOptions& input = options.text.input_options;
  return {
      {"input_format", std::string(name_of(kInputFormatNames, input.format))},
      {"text_field", input.text_field},
      {"pair_field", input.pair_field},
      {"id_field", input.id_field},
      {"on_invalid_utf8", std::string(name_of(kInvalidUtf8PolicyNames, input.on_invalid_utf8))},
      {"max_line_bytes", std::to_string(input.max_line_bytes)},
      {"max_length", std::to_string(text.settings.max_length)},
      {"on_overflow", std::string(name_of(kOverflowPolicyNames, text.settings.on_overflow))},
      {"batch_tokens", std::to_string(options.batch.max_tokens)},
      {"batch_lines", std::to_string(options.batch.max_lines)},
      {"batch_cost", std::to_string(options.batch.batch_cost)},
      {"window_lines", std::to_string(options.window.max_lines)},
      {"window_tokens", std::to_string(options.window.max_tokens)},
  };
}

std::string shard_place(const Manifest& manifest) {
  return "shard " + std::to_string(manifest.shard.index) + "/" + std::to_string(manifest.shard.count) + ", records [" +
         std::to_string(manifest.shard.begin) + ", " + std::to_string(manifest.shard.end) + ")";
}

// Empty when `found` (an output's manifest or checkpoint) was made by the
// command of `planned`; otherwise what differs.
std::string describe_command_difference(const Manifest& planned, const Manifest& found, const std::string& found_name) {
  std::string differences = describe_run_difference(found, found_name, planned, "this run");
  if (shard_place(found) != shard_place(planned)) {
    if (!differences.empty()) differences += "; ";
    differences += shard_place(found) + " in " + found_name + ", " + shard_place(planned) + " in this run";
  }
  return differences;
}

// Where a resumable run starts, from what earlier runs of its output left.
struct ResumePoint {
  bool done = false;                      // the output is complete: nothing to do
  std::vector<std::uint64_t> keep_bytes;  // of each partial file, in the order the writer opens them
  std::optional<WriterProgress> progress;
  std::uint64_t next_record = 0;
};

ResumePoint find_resume_point(const EmbedOptions& options, const Manifest& planned) {
  namespace fs = std::filesystem;
  ResumePoint point;
  point.next_record = planned.shard.begin;
  const fs::path manifest_file = manifest_path_for(options.output);
  std::error_code error;
  if (fs::exists(manifest_file, error)) {
    try {
      const Manifest finished = read_manifest(manifest_file);
      if (finished.shard.complete && describe_command_difference(planned, finished, manifest_file.string()).empty()) {
        check_manifest_files(finished, manifest_file);
        fs::remove(checkpoint_path_for(options.output));  // left by a kill just after the commit
        point.done = true;
        return point;
      }
    } catch (const std::runtime_error& problem) {
      spdlog::warn("{}: embedding it again", problem.what());
    }
  }
  const fs::path checkpoint_file = checkpoint_path_for(options.output);
  if (!fs::exists(checkpoint_file, error) || options.restart) return point;
  Manifest checkpoint;
  try {
    checkpoint = read_manifest(checkpoint_file);
  } catch (const std::runtime_error& problem) {
    throw std::runtime_error(std::string(problem.what()) + " (pass --restart to start " + options.output.string() +
                             " over)");
  }
  const std::string difference = describe_command_difference(planned, checkpoint, checkpoint_file.string());
  if (!difference.empty()) {
    throw UsageError(options.output.string() + " holds the partial output of another command (" + difference +
                     "): rerun that command to finish it, or pass --restart to discard it");
  }
  for (const ManifestFile& file : checkpoint.files) point.keep_bytes.push_back(file.size_bytes);
  point.next_record = checkpoint.input.end_record;
  point.progress = WriterProgress{static_cast<std::int64_t>(checkpoint.input.end_record - planned.input.first_record),
                                  checkpoint.rows};
  return point;
}

// Reads top to bottom like the pipeline it runs. Everything that can be
// checked without the model (input, layers, post-processing, every output
// file) is checked before the model loads.
void run_embed(const EmbedOptions& options, const CommonOptions& common) {
  // Process-wide, so before any thread starts.
  EncoderOptions encoder_options = options.encoder;
  encoder_options.dtype = as_usage_error([&] {
    return apply_runtime_settings(RuntimeSettings{
        options.threads, options.dtype_auto ? std::nullopt : std::optional(options.encoder.dtype), options.encoder.device});
  });
  const TextStage text = load_text_stage(options.text);
  const OutputSpec spec = as_usage_error([&] {
    return plan_output(options.layers, options.layer_aggregation, options.pooling, options.exclude_special,
                       text.bundle);
  });
  const VectorSource vector_source = describe_source(spec, text.bundle, encoder_options.dtype);

  PostProcessor postprocessor(options.postprocess);
  as_usage_error([&] { postprocessor.check_dimensions(spec.dim); });
  if (!options.stats.empty()) postprocessor.load(options.stats, vector_source);
  const bool fit_on_input = postprocessor.needs_statistics() && options.stats.empty();
  const bool postprocessing = postprocessor.needs_statistics() || options.postprocess.l2_normalize;

  WriterOptions writer_options;
  writer_options.format = options.format;
  writer_options.output = options.output;
  writer_options.per_token = options.pooling == Pooling::kTokens;
  writer_options.slot_labels = spec.slot_labels;
  writer_options.dim = postprocessor.output_dim(spec.dim);
  Manifest provenance;
  provenance.source = vector_source;
  provenance.postprocess = postprocess_label(options.postprocess);
  apply_output_dtype(options.output_dtype, vector_source, "this run", provenance.postprocess, writer_options);
  provenance.format = output_format_name(options.format);
  provenance.dim = writer_options.dim;
  provenance.shard.settings = embed_settings(options, text);
  provenance.text = TextPreparation{text.settings.prefix, text.settings.strip_text, text.settings.max_length};

  // A shard counts the input's records, finds its range on the grid, and
  // goes on from what an earlier run of the same command left.
  RecordRange range;
  ResumePoint resume;
  if (options.shard) {
    provenance.input = InputDescription{options.text.input.string(), std::filesystem::file_size(options.text.input),
                                        0, 0};
    const std::uint64_t total = count_records(options.text.input, options.text.input_options);
    range = shard_range(*options.shard, total, options.window.max_lines);
    provenance.input.first_record = range.first;
    provenance.shard = ShardDescription{options.shard->index, options.shard->count, range.first, range.end, total,
                                        false, provenance.shard.settings};
    resume = find_resume_point(options, provenance);
    if (resume.done) {
      if (!common.quiet) {
        std::cerr << "bert-embed: " << options.output.string() << " is complete (" << shard_place(provenance)
                  << "): nothing to do\n";
      }
      return;
    }
    if (resume.progress && !common.quiet) {
      std::cerr << "bert-embed: resuming " << options.output.string() << " at record " << resume.next_record << " of "
                << shard_place(provenance) << "\n";
    }
    range.first = resume.next_record;
    writer_options.resume = resume.progress;
  }
  TextSource source(options.text.input, options.text.input_options, text.tokenizer, text.settings, range,
                    options.window.max_lines);
  if (!options.shard) provenance.input = InputDescription{source.input_name(), source.input_size(), 0, 0};

  // Every file of the run is opened now, so that an unwritable one fails
  // before the model runs, and committed together at the end.
  OutputSet outputs(options.text.input);
  if (options.shard) outputs.make_resumable(checkpoint_path_for(options.output), resume.keep_bytes);
  const std::unique_ptr<EmbeddingWriter> writer =
      as_usage_error([&] { return make_embedding_writer(outputs, writer_options, provenance); });
  if (!options.save_stats.empty()) {
    as_usage_error([&] { check_output_is_not_input(options.text.input, options.save_stats); });
    const OutputFile probe(options.save_stats);  // fails now, not after the whole input, when unwritable
  }
  WriterSink written(*writer, postprocessing ? &postprocessor : nullptr, writer_options.per_token);
  RunSummary summary;
  std::optional<FittingSink> fitted;
  std::optional<CheckpointSink> checkpointed;
  if (fit_on_input) {
    fitted.emplace(postprocessor, spec, written, spool_directory(options.output), [&] {
      if (options.save_stats.empty()) return;
      InputDescription fitted_on = provenance.input;
      fitted_on.end_record = summary.lines;
      postprocessor.save(outputs, options.save_stats, vector_source, fitted_on);
    });
  } else if (options.shard) {
    checkpointed.emplace(written, options.window.max_lines, options.checkpoint, [&](std::size_t next_record) {
      Manifest progress = provenance;
      progress.input.end_record = next_record;
      progress.rows = writer->rows_written();
      outputs.checkpoint(std::move(progress));
    });
  }
  VectorSink& sink = fitted        ? static_cast<VectorSink&>(*fitted)
                     : checkpointed ? static_cast<VectorSink&>(*checkpointed)
                                    : written;

  const Encoder encoder = as_usage_error([&] { return Encoder(text.bundle.dir, encoder_options); });
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
