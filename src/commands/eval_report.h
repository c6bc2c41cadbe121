// What `bert-embed eval` reports: the scores of every combination of layers,
// pooling and post-processing, as a Markdown table, a JSON file and a plot.
#pragma once

#include <cstddef>
#include <filesystem>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

namespace bert_embed {

struct EvalResult {
  std::string layers;        // as --layers writes them: "3", "-1", or an aggregation's whole spec
  std::optional<int> layer;  // a single layer's hidden-state index (the plot's x); none for an aggregation
  std::string layer_agg;     // "mean" or "concat" for an aggregation, else empty
  std::string pooling;       // cls, mean, max; tokens: the word vector (first, mean)
  std::string postprocess;   // as --postprocess names it: "none", "whiten:256", "whiten:256+standardize"
  // The task's scores (x100), in the order the table and JSON show them; the
  // first one ranks the combinations.
  std::vector<std::pair<std::string, double>> scores;
  std::size_t n = 0;  // examples scored: pairs, texts, or test words
};

struct EvalReport {
  std::string task;              // sts, classify, tokens
  nlohmann::ordered_json model;  // the bundle and the options that made the vectors
  std::vector<EvalResult> results;
};

// The index of the result with the highest first score; NaN ranks last, ties
// go to the earlier result.
std::size_t best_result(const std::vector<EvalResult>& results);

// One row per result, the best one's cells in bold, and a closing line that
// names it.
std::string markdown_table(const EvalReport& report);

// {"task", "model", "metric", "results": [{"layers", ["layer_agg",] "pooling",
// "postprocess", <scores>, "n"}], "best": index}; a NaN score is null.
nlohmann::ordered_json report_json(const EvalReport& report);

// Score against layer, one line per pooling and post-processing (an
// aggregation of layers as a dashed horizontal line), the best point ringed,
// drawn by gnuplot into a .png or .svg file (written whole or not at all).
// std::runtime_error when gnuplot cannot run or fails.
void plot_report(const EvalReport& report, const std::filesystem::path& file);

// Throws std::invalid_argument unless `file` ends in .png or .svg and
// gnuplot is on the PATH: checked before the model runs.
void check_plot_output(const std::filesystem::path& file);

}  // namespace bert_embed
