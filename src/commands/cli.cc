#include "commands/cli.h"

#include <unistd.h>

#include <functional>
#include <string>
#include <utility>
#include <vector>

#include <ATen/detail/CUDAHooksInterface.h>
#include <CLI/CLI.hpp>
#include <torch/version.h>

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

Exit status: 0 success, 1 runtime error (input, model, I/O), 2 usage error.)";

// Option values CLI11 keeps as text, turned into enums once parsing succeeded.
struct TextInputChoices {
  std::string input_format = "text";
  std::string on_invalid_utf8 = "error";
  std::string on_overflow = "truncate";
};

struct EmbedChoices {
  std::string format;  // empty: from the output's extension
  std::string layer_aggregation = "none";
  std::string pooling = "mean";
  std::string normalize = "none";
  std::string dtype = "float32";
  std::string stats;
  std::string save_stats;
};

CLI::IsMember one_of(std::vector<std::string> choices) { return CLI::IsMember(std::move(choices)); }

void add_text_input_options(CLI::App& app, TextInputOptions& text, TextInputChoices& choices) {
  app.add_option("-m,--model", text.model_dir, "Model bundle directory, made by scripts/export_model.py")
      ->envname("BERT_EMBED_MODEL")
      ->type_name("DIR")
      ->default_str("required");
  app.add_option("-i,--input", text.input_file, "Input file, one text per line; - reads stdin")
      ->type_name("FILE")
      ->capture_default_str();
  app.add_option("--input-format", choices.input_format,
                 "text: each line is a text; jsonl: each line is a JSON object; "
                 "tsv: tab-separated columns, no quoting")
      ->check(one_of({"text", "jsonl", "tsv"}))
      ->capture_default_str();
  app.add_option("--text-field", text.input.text_field,
                 "jsonl: key of the text; tsv: column name (the first line is then a header) "
                 "or 1-based column number")
      ->type_name("FIELD")
      ->default_str("jsonl \"text\", tsv 1");
  app.add_option("--pair-field", text.input.pair_field,
                 "jsonl key or tsv column of a second text, encoded with the first as a pair "
                 "([CLS] a [SEP] b [SEP], token type 1)")
      ->type_name("FIELD")
      ->default_str("none");
  app.add_option("--id-field", text.input.id_field,
                 "jsonl key or tsv column copied to the output as \"id\"")
      ->type_name("FIELD")
      ->default_str("none");
  app.add_option("--max-length", text.max_length,
                 "Tokens per text, [CLS] and [SEP] included")
      ->check(CLI::Range(std::size_t{2}, std::size_t{1} << 20))
      ->type_name("N")
      ->default_str("the model's maximum");
  app.add_option("--on-overflow", choices.on_overflow,
                 "A text longer than --max-length: truncate it (counted in the summary) or stop "
                 "with an error naming the line")
      ->check(one_of({"truncate", "error"}))
      ->capture_default_str();
  app.add_option("--on-invalid-utf8", choices.on_invalid_utf8,
                 "A line that is not valid UTF-8: stop with an error naming the line, or replace "
                 "the bad bytes with U+FFFD")
      ->check(one_of({"error", "replace"}))
      ->capture_default_str();
}

void add_embed_options(CLI::App& app, PipelineOptions& options, EmbedChoices& choices,
                       bool& progress) {
  app.add_option("-o,--output", options.output, "Output file, written whole or not at all; - is stdout")
      ->type_name("FILE")
      ->capture_default_str();
  app.add_option("-f,--format", choices.format, "Output format")
      ->check(one_of({"jsonl", "npy"}))
      ->default_str("npy for an output ending in .npy, else jsonl");
  app.add_option("-l,--layers", options.layers,
                 "Hidden states to use: 0 is the embedding output, k the output of layer k, "
                 "negatives count from the end (-1 the last layer); lists (-4,-3,-2,-1), "
                 "inclusive ranges (1:4) or all")
      ->type_name("SPEC")
      ->capture_default_str();
  app.add_option("--layer-agg", choices.layer_aggregation,
                 "Several layers: keep them apart, average them, or concatenate them")
      ->check(one_of({"none", "mean", "concat"}))
      ->capture_default_str();
  app.add_option("-p,--pooling", choices.pooling,
                 "cls: the [CLS] vector; mean, max: over every real token, [CLS] and [SEP] "
                 "included; tokens: one vector per token; pooler: the checkpoint's pooler output")
      ->check(one_of({"cls", "mean", "max", "tokens", "pooler"}))
      ->capture_default_str();
  app.add_flag("--exclude-special", options.exclude_special,
               "Leave [CLS] and [SEP] out of mean, max and tokens")
      ->default_str("off");
  app.add_option("--whiten", options.postprocess.whiten_components,
                 "BERT-whitening: centre, then project on the top K directions of the "
                 "covariance, scaled to unit variance")
      ->check(CLI::PositiveNumber)
      ->type_name("K")
      ->default_str("off");
  app.add_option("--remove-top", options.postprocess.remove_top,
                 "All-but-the-top: centre, then remove the top D principal directions")
      ->check(CLI::PositiveNumber)
      ->type_name("D")
      ->default_str("off");
  app.add_flag("--standardize", options.postprocess.standardize,
               "Z-score each dimension (after --whiten and --remove-top)")
      ->default_str("off");
  app.add_option("--normalize", choices.normalize, "Scale every vector to unit L2 norm, last")
      ->check(one_of({"none", "l2"}))
      ->capture_default_str();
  app.add_option("--stats", choices.stats,
                 "Apply statistics saved by --save-stats instead of fitting them on the input "
                 "(memory then stays flat)")
      ->check(CLI::ExistingFile)
      ->type_name("FILE")
      ->default_str("fit on the input");
  app.add_option("--save-stats", choices.save_stats,
                 "Write the statistics fitted on this input, for --stats in later runs")
      ->type_name("FILE")
      ->default_str("none");
  app.add_option("--device", options.encoder.device, "cpu, cuda or cuda:N")
      ->type_name("DEVICE")
      ->capture_default_str();
  app.add_option("--threads", options.threads, "Threads for inference")
      ->check(CLI::NonNegativeNumber)
      ->type_name("N")
      ->default_str("0, all cores");
  app.add_option("--dtype", choices.dtype,
                 "Number format for inference: float32, bfloat16, float16 (CUDA), or int8 "
                 "(dynamically quantized linear layers, CPU)")
      ->check(one_of({"float32", "bfloat16", "float16", "int8"}))
      ->capture_default_str();
  app.add_option("--batch-tokens", options.batch.max_tokens,
                 "Token budget of a batch: texts x the longest text's tokens, padding included")
      ->check(CLI::PositiveNumber)
      ->type_name("N")
      ->capture_default_str();
  app.add_flag("--progress,!--no-progress", progress,
               "Show lines, tokens per second and an ETA (when the input size is known) on stderr")
      ->default_str("on when stderr is a terminal");
}

void to_text_input(const TextInputChoices& choices, TextInputOptions& text) {
  if (text.model_dir.empty()) {
    throw UsageError("no model: pass -m DIR or set BERT_EMBED_MODEL");
  }
  text.input.format = parse_input_format(choices.input_format);
  text.input.on_invalid_utf8 = parse_invalid_utf8_policy(choices.on_invalid_utf8);
  text.on_overflow = parse_overflow_policy(choices.on_overflow);
  if (text.input.format == InputFormat::kText &&
      !(text.input.text_field.empty() && text.input.pair_field.empty() && text.input.id_field.empty())) {
    throw UsageError("--text-field, --pair-field and --id-field need --input-format jsonl or tsv");
  }
}

void to_pipeline(const EmbedChoices& choices, bool layers_given, PipelineOptions& options) {
  options.format =
      choices.format.empty() ? output_format_for(options.output) : parse_output_format(choices.format);
  if (options.format == OutputFormat::kNpy && options.output == "-") {
    throw UsageError("NPY output needs a file it can seek in, not stdout: pass -o FILE.npy");
  }
  options.layer_aggregation = parse_layer_aggregation(choices.layer_aggregation);
  options.pooling = parse_pooling(choices.pooling);
  options.postprocess.l2_normalize = choices.normalize == "l2";
  options.encoder.dtype = parse_dtype(choices.dtype);
  if (!choices.stats.empty()) options.stats = choices.stats;
  if (!choices.save_stats.empty()) options.save_stats = choices.save_stats;

  if (options.pooling == Pooling::kPooler && layers_given) {
    throw UsageError("--layers and --layer-agg do not apply to --pooling pooler, which reads the "
                     "pooler on top of the last layer");
  }
  if (options.exclude_special &&
      (options.pooling == Pooling::kCls || options.pooling == Pooling::kPooler)) {
    throw UsageError("--exclude-special applies to --pooling mean, max and tokens");
  }
  const bool fitted = options.postprocess.whiten_components > 0 || options.postprocess.remove_top > 0 ||
                      options.postprocess.standardize;
  if ((options.stats || options.save_stats) && !fitted) {
    throw UsageError("--stats and --save-stats need --whiten, --remove-top or --standardize");
  }
  if (options.stats && options.save_stats) {
    throw UsageError("--stats applies saved statistics, --save-stats saves fitted ones: use one");
  }
}

std::string cuda_support() {
  // The CUDA hooks are registered only when libtorch_cuda is linked in.
  if (!at::CUDAHooksRegistry()->Has("CUDAHooks")) return "without CUDA";
  const at::CUDAHooksInterface& hooks = at::detail::getCUDAHooks();
  const long runtime = hooks.versionCUDART();  // e.g. 11080 for 11.8
  return "with CUDA " + std::to_string(runtime / 1000) + "." + std::to_string(runtime % 1000 / 10) + ", " +
         std::to_string(hooks.getNumGPUs()) + " GPU(s) visible";
}

}  // namespace

std::string version_text() {
  return std::string("bert-embed ") + BERT_EMBED_VERSION + "\nlibtorch " + TORCH_VERSION + ", " + cuda_support();
}

std::optional<CommandLine> parse_command_line(int argc, const char* const argv[]) {
  CommandLine command_line;
  TextInputChoices embed_text_choices;
  TextInputChoices tokenize_text_choices;
  EmbedChoices embed_choices;
  bool progress = isatty(STDERR_FILENO) != 0;

  CLI::App app("Turns lines of text into vectors with a BERT-family model.", "bert-embed");
  app.footer(kFooter);
  // Computed only when asked: querying CUDA starts its runtime.
  app.set_version_flag("--version", std::function<std::string()>([] { return version_text() + "\n"; }));
  app.require_subcommand(0, 1);
  add_text_input_options(app, command_line.embed.text, embed_text_choices);
  add_embed_options(app, command_line.embed, embed_choices, progress);
  app.add_flag("-q,--quiet", command_line.quiet, "No progress and no summary on stderr")
      ->default_str("off");
  app.add_option("--log-level", command_line.log_level, "Diagnostics on stderr")
      ->check(one_of({"trace", "debug", "info", "warn", "error", "off"}))
      ->capture_default_str();

  CLI::App* tokenize = app.add_subcommand(
      "tokenize",
      "Print {\"index\": i, \"tokens\": [...], \"ids\": [...]} for each input line: what the "
      "model is given");
  add_text_input_options(*tokenize, command_line.tokenize, tokenize_text_choices);

  try {
    app.parse(argc, argv);
  } catch (const CLI::Success& answered) {
    app.exit(answered);
    return std::nullopt;
  } catch (const CLI::ParseError& error) {
    throw UsageError(std::string(error.what()) + " (bert-embed --help lists the options)");
  }

  // The choices were checked by CLI11, so the conversions below cannot fail.
  if (tokenize->parsed()) {
    command_line.command = CommandLine::Command::kTokenize;
    to_text_input(tokenize_text_choices, command_line.tokenize);
  } else {
    to_text_input(embed_text_choices, command_line.embed.text);
    to_pipeline(embed_choices, app.count("--layers") + app.count("--layer-agg") > 0, command_line.embed);
    command_line.embed.progress = progress && !command_line.quiet;
  }
  return command_line;
}

}  // namespace bert_embed
