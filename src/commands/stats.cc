// bert-embed stats: post-processing statistics fitted on saved vectors (the
// NPY outputs of embed, one or several shards), streaming, with no model.
#include <iostream>
#include <memory>
#include <string>
#include <vector>

#include "bert_embed/io/output_set.h"
#include "bert_embed/io/saved_vectors.h"
#include "bert_embed/pipeline/pipeline.h"
#include "bert_embed/vectors/postprocess.h"
#include "bert_embed/vectors/statistics.h"
#include "commands/command.h"

namespace bert_embed {
namespace {

constexpr const char* kFooter = R"(The statistics file is the one embed --save-stats writes: apply it with
bert-embed postprocess IN.npy -o OUT.npy --stats FILE, or embed --stats FILE.
Every input needs its manifest (IN.npy.manifest.json); inputs of different
models, layers, pooling, number formats or widths are refused. Without any of
--whiten, --remove-top and --standardize only the moments and ranges are
counted (what --output-dtype int8 --int8-ranges FILE quantizes with).)";

// Vectors are read this many bytes at a time: the statistics' own float64
// copy of a block is twice that.
constexpr std::int64_t kBlockBytes = 8 << 20;

struct StatsOptions {
  std::vector<std::filesystem::path> inputs;
  std::filesystem::path output;
  PostProcessOptions postprocess;
  bool allow_missing_manifest = false;
};

// Where the counted vectors' texts came from: the input of the shards when
// they share one (the range they cover together), else the NPY files.
InputDescription describe_inputs(const std::vector<std::unique_ptr<SavedVectors>>& inputs) {
  const auto& first = inputs.front()->manifest();
  bool one_input = first.has_value();
  for (const auto& input : inputs) {
    one_input = one_input && input->manifest() && input->manifest()->input.name == first->input.name;
  }
  InputDescription description;
  if (one_input) {
    description = first->input;
    for (const auto& input : inputs) {
      description.first_record = std::min(description.first_record, input->manifest()->input.first_record);
      description.end_record = std::max(description.end_record, input->manifest()->input.end_record);
    }
    return description;
  }
  for (const auto& input : inputs) {
    description.name += (description.name.empty() ? "" : ",") + input->name();
    description.end_record += static_cast<std::uint64_t>(input->rows());
  }
  return description;
}

// Returns the number of vectors counted.
std::int64_t run_stats(const StatsOptions& options) {
  // Every input is opened and checked before any is read.
  std::vector<std::unique_ptr<SavedVectors>> inputs;
  for (const std::filesystem::path& file : options.inputs) {
    inputs.push_back(std::make_unique<SavedVectors>(file, options.allow_missing_manifest));
    const SavedVectors& input = *inputs.back();
    if (input.postprocess() != "none") {
      throw std::runtime_error("saved vectors " + input.name() + " are post-processed (" + input.postprocess() +
                               "): statistics are counted on vectors as the model made them");
    }
    const SavedVectors& first = *inputs.front();
    const std::string difference =
        describe_difference(first.source(), first.name(), input.source(), input.name());
    if (!difference.empty()) throw std::runtime_error("saved vectors of different kinds: " + difference);
  }
  const SavedVectors& first = *inputs.front();
  PostProcessor postprocessor(options.postprocess);
  try {
    postprocessor.check_dimensions(first.dim());
  } catch (const std::invalid_argument& error) {
    throw UsageError(error.what());
  }
  OutputSet outputs;
  for (const auto& input : inputs) check_output_is_not_input(input->path(), options.output);

  VectorStatistics statistics(first.slots(), first.dim());
  for (const auto& input : inputs) {
    const std::int64_t block = input->rows_per_block(kBlockBytes);
    for (std::int64_t row = 0; row < input->rows(); row += block) {
      const at::Tensor rows = input->read(row, std::min(block, input->rows() - row));
      // One such vector would make every statistic NaN: named here, with its file.
      const at::Tensor finite = at::isfinite(rows).flatten(1).all(1);
      if (!finite.all().item<bool>()) {
        const std::int64_t first = row + finite.logical_not().nonzero()[0][0].item<std::int64_t>();
        throw std::runtime_error(input->name() + ": vector " + std::to_string(first) +
                                 " (0-based) holds NaN or infinity; no statistics can be fitted");
      }
      statistics.add(rows);
    }
  }
  postprocessor.fit(statistics);
  postprocessor.save(outputs, options.output, first.source(), describe_inputs(inputs));
  outputs.commit();
  return statistics.count();
}

}  // namespace

CommandRun define_stats(CLI::App& app, const CommonOptions& common) {
  auto options = std::make_shared<StatsOptions>();
  app.add_option("inputs", options->inputs, "NPY files written by bert-embed embed (shards of one job, in any order)")
      ->required()
      ->check(CLI::ExistingFile)
      ->type_name("IN.npy");
  app.add_option("-o,--output", options->output,
                 "Statistics file: a JSON manifest with float64 NPY arrays beside it")
      ->required()
      ->type_name("STATS.json");
  add_fitted_transform_options(app, options->postprocess);
  add_allow_missing_manifest_option(app, options->allow_missing_manifest);
  app.footer(kFooter);
  return [options, &common] {
    if (options->output == "-") throw UsageError("stats needs an output file (-o STATS.json), not stdout");
    const std::int64_t counted = run_stats(*options);
    if (!common.quiet) {
      std::cerr << "bert-embed: statistics of " << counted << " vectors written to " << options->output.string()
                << '\n';
    }
  };
}

}  // namespace bert_embed
