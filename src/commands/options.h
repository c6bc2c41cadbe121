// Option groups that several subcommands share, and the one way enum options
// are declared (their names come from the enum's table).
#pragma once

#include <cstddef>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>

#include <CLI/CLI.hpp>

#include "bert_embed/enum_names.h"
#include "bert_embed/io/embedding_writer.h"
#include "bert_embed/io/input_reader.h"
#include "bert_embed/io/manifest.h"
#include "bert_embed/model/bundle.h"
#include "bert_embed/pipeline/pipeline.h"
#include "bert_embed/pipeline/text_source.h"
#include "bert_embed/text/tokenizer.h"
#include "bert_embed/vectors/postprocess.h"

namespace bert_embed {

// Runs `action`, turning std::invalid_argument into UsageError: a request
// this model, build or machine cannot serve.
template <typename Action>
auto as_usage_error(Action action) {
  try {
    return action();
  } catch (const UsageError&) {
    throw;
  } catch (const std::invalid_argument& error) {
    throw UsageError(error.what());
  }
}

// Options every subcommand has.
struct CommonOptions {
  std::string log_level = "warn";
  bool quiet = false;  // no progress, no summary
};
void add_common_options(CLI::App& app, CommonOptions& options);

// An option whose value is one of an enum's names: parsing, --help and the
// error message all come from `names`.
template <typename Enum, std::size_t N>
CLI::Option* add_enum_option(CLI::App& app, const std::string& flags, Enum& target,
                             const EnumNames<Enum, N>& names, const std::string& description) {
  const std::string what = flags.substr(flags.rfind('-') + 1);
  return app
      .add_option_function<std::string>(
          flags, [&target, &names, what](const std::string& name) { target = parse_name(names, name, what); },
          description)
      ->check(CLI::IsMember(all_names(names)).description(""))
      ->type_name(CLI::detail::join(all_names(names), "|"))
      ->default_str(std::string(name_of(names, target)));
}

// Where texts come from and how they become model inputs: embed, tokenize
// read them alike.
struct TextInputOptions {
  std::filesystem::path model_dir;
  std::filesystem::path input = "-";  // "-": stdin
  InputOptions input_options;
  std::size_t max_length = 0;  // 0: the bundle's default, else the model's maximum
  OverflowPolicy on_overflow = OverflowPolicy::kTruncate;
  std::optional<std::string> prefix;  // unset: the bundle's default, else none
  std::optional<bool> strip_text;     // unset: the bundle's default, else no
};
void add_text_input_options(CLI::App& app, TextInputOptions& options);
// After parsing: completes the options and throws UsageError for
// combinations CLI11 cannot check.
void check_text_input_options(TextInputOptions& options);

// The text stage of a run: bundle.json, the tokenizer (loaded once) and the
// tokenize settings resolved against the model and its defaults.
struct TextStage {
  BundleInfo bundle;
  std::shared_ptr<const Tokenizer> tokenizer;
  TokenizeSettings settings;
};
TextStage load_text_stage(const TextInputOptions& options);

// Post-processing, one set of options for embed, stats and postprocess: the
// fitted transforms (--whiten, --remove-top, --standardize: embed, stats) and
// the final normalization (--normalize: embed, postprocess).
void add_fitted_transform_options(CLI::App& app, PostProcessOptions& options);
enum class Normalization { kNone, kL2 };
inline constexpr EnumNames<Normalization, 2> kNormalizationNames{
    {{"none", Normalization::kNone}, {"l2", Normalization::kL2}}};
void add_normalize_option(CLI::App& app, Normalization& normalization);

// Saved vectors without a manifest are refused unless this is given (stats,
// postprocess).
void add_allow_missing_manifest_option(CLI::App& app, bool& allow);

// How NPY outputs store their numbers: embed and postprocess.
struct OutputDtypeOptions {
  OutputDtype dtype = OutputDtype::kFloat32;
  std::filesystem::path int8_ranges;  // a statistics file; empty: calibrated on the data
};
void add_output_dtype_options(CLI::App& app, OutputDtypeOptions& options);
// After parsing: UsageError for --int8-ranges without --output-dtype int8.
void check_output_dtype_options(const OutputDtypeOptions& options);
// Sets the writer's dtype and, for int8 from a statistics file, its ranges,
// checked against the vectors' source (named `vectors_name`) and
// post-processing (a postprocess_label); UsageError when they do not fit.
void apply_output_dtype(const OutputDtypeOptions& options, const VectorSource& source,
                        const std::string& vectors_name, const std::string& postprocess,
                        WriterOptions& writer);

}  // namespace bert_embed
