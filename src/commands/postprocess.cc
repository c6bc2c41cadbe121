// bert-embed postprocess: post-processing and compact number formats applied
// to saved vectors, streaming, with no model.
#include <iostream>
#include <memory>
#include <string>
#include <vector>

#include "bert_embed/io/embedding_writer.h"
#include "bert_embed/io/output_set.h"
#include "bert_embed/io/saved_vectors.h"
#include "bert_embed/pipeline/pipeline.h"
#include "bert_embed/pipeline/sink.h"
#include "bert_embed/vectors/postprocess.h"
#include "commands/command.h"

namespace bert_embed {
namespace {

constexpr const char* kFooter = R"(The output is what embed writes with the same options: float32 [rows, dim]
or [rows, layers, dim], or the --output-dtype asked, with a manifest that
records the post-processing. Statistics fitted on vectors of another model,
layers, pooling or width are refused; so are per-token outputs (their offsets
file) and statistics on vectors already post-processed.)";

// Vectors are read and written this many bytes at a time.
constexpr std::int64_t kBlockBytes = 8 << 20;

struct PostprocessOptions {
  std::filesystem::path input;
  std::filesystem::path output;
  std::filesystem::path stats;  // empty: no fitted transform
  Normalization normalization = Normalization::kNone;
  OutputDtypeOptions output_dtype;
  bool allow_missing_manifest = false;
};

void check_postprocess_options(const PostprocessOptions& options) {
  check_output_dtype_options(options.output_dtype);
  if (options.stats.empty() && options.normalization == Normalization::kNone &&
      options.output_dtype.dtype == OutputDtype::kFloat32) {
    throw UsageError("nothing to do: pass --stats FILE, --normalize l2 or --output-dtype");
  }
  if (options.output == "-") {
    throw UsageError("NPY output needs a file it can seek in, not stdout: pass -o FILE.npy");
  }
}

// The transforms this run applies: those of the statistics file, and the
// normalization.
PostProcessOptions transforms_of(const PostprocessOptions& options) {
  PostProcessOptions transforms;
  if (!options.stats.empty()) transforms = statistics_file_options(options.stats);
  transforms.l2_normalize = options.normalization == Normalization::kL2;
  return transforms;
}

// What the output's manifest records: the input's post-processing, then this
// run's (fitted transforms only on vectors that had none).
std::string combined_label(const SavedVectors& input, const PostProcessOptions& transforms) {
  PostProcessOptions combined = parse_postprocess_label(input.postprocess());
  if (transforms.whiten_components > 0 || transforms.remove_top > 0 || transforms.standardize) {
    combined = transforms;
  }
  combined.l2_normalize = combined.l2_normalize || transforms.l2_normalize;
  return postprocess_label(combined);
}

// Returns the number of vectors written.
std::int64_t run_postprocess(const PostprocessOptions& options) {
  const SavedVectors input(options.input, options.allow_missing_manifest);
  if (input.source().pooling == "tokens") {
    throw UsageError("saved vectors " + input.name() +
                     " are per token (--pooling tokens): postprocess takes pooled vectors");
  }
  const PostProcessOptions transforms = transforms_of(options);
  PostProcessor postprocessor(transforms);
  if (!options.stats.empty()) {
    if (input.postprocess() != "none") {
      throw std::runtime_error("saved vectors " + input.name() + " are post-processed already (" +
                               input.postprocess() + "); statistics file " + options.stats.string() +
                               " applies to vectors as the model made them");
    }
    postprocessor.load(options.stats, input.source(), input.name());
  }

  Manifest provenance = input.manifest().value_or(Manifest{});
  if (!input.manifest()) {
    provenance.source = input.source();
    provenance.input.name = input.name();
  }
  provenance.postprocess = combined_label(input, transforms);
  provenance.files.clear();
  provenance.int8_ranges.reset();

  OutputSet outputs(input.path());
  WriterOptions writer_options;
  writer_options.format = OutputFormat::kNpy;
  writer_options.output = options.output;
  writer_options.slot_labels = input.source().slot_labels;
  writer_options.dim = postprocessor.output_dim(input.dim());
  apply_output_dtype(options.output_dtype, input.source(), input.name(), provenance.postprocess, writer_options);
  const std::unique_ptr<EmbeddingWriter> writer = make_embedding_writer(outputs, writer_options, provenance);
  const bool postprocessing = postprocessor.needs_statistics() || transforms.l2_normalize;
  WriterSink sink(*writer, postprocessing ? &postprocessor : nullptr, false);

  const std::int64_t block = input.rows_per_block(kBlockBytes);
  for (std::int64_t first = 0; first < input.rows(); first += block) {
    WindowVectors window;
    window.rows = input.read(first, std::min(block, input.rows() - first));
    for (std::int64_t row = 0; row < window.rows.size(0); ++row) {
      window.lines.push_back(WindowVectors::Line{static_cast<std::size_t>(first + row), std::nullopt, {}, {}});
    }
    sink.consume(window);
  }
  sink.finish();
  outputs.commit();
  return input.rows();
}

}  // namespace

CommandRun define_postprocess(CLI::App& app, const CommonOptions& common) {
  auto options = std::make_shared<PostprocessOptions>();
  app.add_option("input", options->input, "NPY file written by bert-embed embed")
      ->required()
      ->check(CLI::ExistingFile)
      ->type_name("IN.npy");
  app.add_option("-o,--output", options->output, "Output NPY file, with its manifest beside it")
      ->required()
      ->type_name("OUT.npy");
  app.add_option("--stats", options->stats,
                 "Apply the transforms of a statistics file (bert-embed stats, embed --save-stats)")
      ->check(CLI::ExistingFile)
      ->type_name("FILE")
      ->default_str("none");
  add_normalize_option(app, options->normalization);
  add_output_dtype_options(app, options->output_dtype);
  add_allow_missing_manifest_option(app, options->allow_missing_manifest);
  app.footer(kFooter);
  return [options, &common] {
    check_postprocess_options(*options);
    const std::int64_t written = run_postprocess(*options);
    if (!common.quiet) {
      std::cerr << "bert-embed: " << written << " vectors written to " << options->output.string() << '\n';
    }
  };
}

}  // namespace bert_embed
