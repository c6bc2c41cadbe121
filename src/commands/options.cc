#include "commands/options.h"

#include <string>

#include "bert_embed/model/bundle_files.h"
#include "bert_embed/pipeline/pipeline.h"
#include "bert_embed/vectors/quantize.h"

namespace bert_embed {
namespace {

void check_field(const std::string& field, const char* option) {
  try {
    tsv_column_index(field);
  } catch (const std::invalid_argument& error) {
    throw UsageError(std::string(option) + " " + field + ": " + error.what());
  }
}

std::size_t resolve_max_length(std::size_t asked, const BundleInfo& info) {
  const auto positions = static_cast<std::size_t>(info.max_positions);
  const std::string source =
      asked != 0 ? "--max-length" : (info.dir / "bundle.json").string() + "'s defaults.max_length";
  if (asked == 0) asked = info.defaults.max_length.value_or(positions);
  if (asked > positions) {
    throw UsageError(source + " " + std::to_string(asked) + " is more than the " + std::to_string(positions) +
                     " positions of the model in " + info.dir.string());
  }
  return asked;
}

}  // namespace

void add_common_options(CLI::App& app, CommonOptions& options) {
  app.add_flag("-q,--quiet", options.quiet, "No progress and no summary on stderr")->default_str("off");
  app.add_option("--log-level", options.log_level, "Diagnostics on stderr")
      ->check(CLI::IsMember({"trace", "debug", "info", "warn", "error", "off"}))
      ->capture_default_str();
}

void add_text_input_options(CLI::App& app, TextInputOptions& options) {
  app.add_option("-m,--model", options.model_dir, "Model bundle directory, made by scripts/export_model.py")
      ->envname("BERT_EMBED_MODEL")
      ->type_name("DIR")
      ->default_str("required");
  app.add_option("-i,--input", options.input, "Input file, one text per line; - reads stdin")
      ->type_name("FILE")
      ->capture_default_str();
  add_enum_option(app, "--input-format", options.input_options.format, kInputFormatNames,
                  "text: each line is a text; jsonl: each line is a JSON object; "
                  "tsv: tab-separated columns, no quoting");
  app.add_option("--text-field", options.input_options.text_field,
                 "jsonl: key of the text; tsv: column name (the first line is then a header) "
                 "or 1-based column number")
      ->type_name("FIELD")
      ->default_str("jsonl \"text\", tsv 1");
  app.add_option("--pair-field", options.input_options.pair_field,
                 "jsonl key or tsv column of a second text, encoded with the first as a pair "
                 "([CLS] a [SEP] b [SEP], token type 1)")
      ->type_name("FIELD")
      ->default_str("none");
  app.add_option("--id-field", options.input_options.id_field,
                 "jsonl key or tsv column copied to the output as \"id\"")
      ->type_name("FIELD")
      ->default_str("none");
  app.add_option("--max-length", options.max_length, "Tokens per text, special tokens included")
      ->check(CLI::Range(std::size_t{2}, std::size_t{1} << 20))
      ->type_name("N")
      ->default_str("the bundle's default, else the model's maximum");
  app.add_option_function<std::string>(
         "--prefix", [&options](const std::string& prefix) { options.prefix = prefix; },
         "Put before every text (the first of a pair), e.g. e5's \"query: \" or a BGE instruction")
      ->type_name("TEXT")
      ->default_str("the bundle's default, else none");
  app.add_flag_function(
         "--strip-text,!--no-strip-text", [&options](std::int64_t count) { options.strip_text = count > 0; },
         "Strip whitespace around each text before tokenizing, as Python's str.strip() "
         "(sentence-transformers does)")
      ->default_str("the bundle's default, else off");
  add_enum_option(app, "--on-overflow", options.on_overflow, kOverflowPolicyNames,
                  "A text longer than --max-length: truncate it (counted in the summary) or stop "
                  "with an error naming the line");
  app.add_option("--max-line-bytes", options.input_options.max_line_bytes,
                 "Longest input line read; a longer one is cut there or refused, as --on-overflow says "
                 "(jsonl lines are always refused: cut JSON is not JSON)")
      ->check(CLI::Range(std::size_t{1}, std::size_t{1} << 30))
      ->type_name("BYTES")
      ->capture_default_str();
  add_enum_option(app, "--on-invalid-utf8", options.input_options.on_invalid_utf8, kInvalidUtf8PolicyNames,
                  "A line that is not valid UTF-8: stop with an error naming the line, or replace "
                  "the bad bytes with U+FFFD");
}

void check_text_input_options(TextInputOptions& options) {
  options.input_options.on_long_line = options.on_overflow;
  if (options.model_dir.empty()) throw UsageError("no model: pass -m DIR or set BERT_EMBED_MODEL");
  const InputOptions& input = options.input_options;
  if (input.format == InputFormat::kText &&
      !(input.text_field.empty() && input.pair_field.empty() && input.id_field.empty())) {
    throw UsageError("--text-field, --pair-field and --id-field need --input-format jsonl or tsv");
  }
  if (input.format == InputFormat::kTsv) {
    check_field(input.text_field, "--text-field");
    check_field(input.pair_field, "--pair-field");
    check_field(input.id_field, "--id-field");
  }
}

TextStage load_text_stage(const TextInputOptions& options) {
  TextStage stage;
  stage.bundle = read_bundle_info(options.model_dir);
  verify_tokenizer_files(stage.bundle);
  stage.tokenizer = load_bundle_tokenizer(stage.bundle);
  const BundleDefaults& defaults = stage.bundle.defaults;
  stage.settings = TokenizeSettings{resolve_max_length(options.max_length, stage.bundle), options.on_overflow,
                                    options.prefix.value_or(defaults.prefix.value_or("")),
                                    options.strip_text.value_or(defaults.strip_text.value_or(false))};
  return stage;
}

void add_fitted_transform_options(CLI::App& app, PostProcessOptions& options) {
  app.add_option("--whiten", options.whiten_components,
                 "BERT-whitening: centre, then project on the top K directions of the "
                 "covariance, scaled to unit variance")
      ->check(CLI::Range(1, 1 << 20))
      ->type_name("K")
      ->default_str("off");
  app.add_option("--remove-top", options.remove_top,
                 "All-but-the-top: centre, then remove the top D principal directions")
      ->check(CLI::Range(1, 1 << 20))
      ->type_name("D")
      ->default_str("off");
  app.add_flag("--standardize", options.standardize,
               "Z-score each dimension (after --whiten and --remove-top)")
      ->default_str("off");
}

void add_normalize_option(CLI::App& app, Normalization& normalization) {
  add_enum_option(app, "--normalize", normalization, kNormalizationNames,
                  "Scale every vector to unit L2 norm, last");
}

void add_allow_missing_manifest_option(CLI::App& app, bool& allow) {
  app.add_flag("--allow-missing-manifest", allow,
               "Read NPY files that have no manifest as vectors of unknown source: nothing "
               "checks that they come from the same model, layers and pooling")
      ->default_str("off");
}

void add_output_dtype_options(CLI::App& app, OutputDtypeOptions& options) {
  add_enum_option(app, "--output-dtype", options.dtype, kOutputDtypeNames,
                  "NPY numbers: float32; float16 (half the size); int8 (a quarter: per-dimension "
                  "ranges, recorded in the manifest); binary (1/32: sign bits packed as "
                  "numpy.packbits, uint8 [rows, ceil(dim/8)])");
  app.add_option("--int8-ranges", options.int8_ranges,
                 "int8: quantize with the min and max of a statistics file (bert-embed stats) "
                 "instead of calibrating on the output's own vectors")
      ->check(CLI::ExistingFile)
      ->type_name("FILE")
      ->default_str("calibrate on the data");
}

void check_output_dtype_options(const OutputDtypeOptions& options) {
  if (!options.int8_ranges.empty() && options.dtype != OutputDtype::kInt8) {
    throw UsageError("--int8-ranges needs --output-dtype int8");
  }
}

void apply_output_dtype(const OutputDtypeOptions& options, const VectorSource& source,
                        const std::string& vectors_name, const std::string& postprocess,
                        WriterOptions& writer) {
  writer.dtype = options.dtype;
  if (options.int8_ranges.empty()) return;
  try {
    writer.int8_ranges = int8_ranges_from_statistics(options.int8_ranges, source, vectors_name, postprocess);
  } catch (const std::invalid_argument& error) {
    throw UsageError(error.what());
  }
}

}  // namespace bert_embed
