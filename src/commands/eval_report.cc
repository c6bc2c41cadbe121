#include "commands/eval_report.h"

#include <fcntl.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iterator>
#include <map>
#include <sstream>
#include <stdexcept>

#include <fmt/format.h>

extern char** environ;

namespace bert_embed {
namespace {

constexpr const char* kGnuplot = "gnuplot";

std::string format_score(double value) { return std::isnan(value) ? "nan" : fmt::format("{:.2f}", value); }

std::string layers_cell(const EvalResult& result) {
  return result.layer_agg.empty() ? result.layers : result.layers + " (" + result.layer_agg + ")";
}

std::string describe(const EvalResult& result) {
  return "layers " + layers_cell(result) + ", pooling " + result.pooling + ", postprocess " + result.postprocess +
         ": " + result.scores.front().first + " " + format_score(result.scores.front().second);
}

// A gnuplot string literal: single quotes, where '' is a quote.
std::string gnuplot_string(const std::string& text) {
  std::string quoted = "'";
  for (const char c : text) quoted += c == '\'' ? std::string("''") : std::string(1, c);
  return quoted + "'";
}

// Lines of text as one gnuplot string: double quotes, where \n breaks a line.
std::string gnuplot_lines(const std::vector<std::string>& lines) {
  std::string quoted = "\"";
  for (const std::string& line : lines) {
    if (quoted.size() > 1) quoted += "\\n";
    for (const char c : line) {
      if (c == '"' || c == '\\') quoted += '\\';
      quoted += c;
    }
  }
  return quoted + "\"";
}

// Distinct colours (Okabe-Ito, then Tableau's), one per pooling and
// post-processing; an aggregation's dashed line takes its series' colour.
constexpr const char* kColours[] = {"#0072b2", "#d55e00", "#009e73", "#cc79a7", "#e69f00", "#56b4e9",
                                    "#000000", "#8c564b", "#7f7f7f", "#bcbd22", "#9467bd", "#f0e442"};

bool on_path(const std::string& program) {
  const char* path = std::getenv("PATH");
  std::istringstream directories(path == nullptr ? "/usr/bin:/bin" : path);
  std::string directory;
  while (std::getline(directories, directory, ':')) {
    if (!directory.empty() && ::access((std::filesystem::path(directory) / program).c_str(), X_OK) == 0) return true;
  }
  return false;
}

// Runs gnuplot on `script` without a shell; throws with what it said.
void run_gnuplot(const std::filesystem::path& script, const std::filesystem::path& messages) {
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, STDOUT_FILENO, "/dev/null", O_WRONLY, 0);
  posix_spawn_file_actions_addopen(&actions, STDERR_FILENO, messages.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
  std::string program = kGnuplot;
  std::string script_arg = script.string();
  char* argv[] = {program.data(), script_arg.data(), nullptr};
  pid_t pid = 0;
  const int spawned = posix_spawnp(&pid, kGnuplot, &actions, nullptr, argv, environ);
  posix_spawn_file_actions_destroy(&actions);
  if (spawned != 0) {
    throw std::runtime_error(std::string("cannot run gnuplot for --plot (Debian: apt-get install gnuplot-nox): ") +
                             std::strerror(spawned));
  }
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    std::ifstream said(messages);
    std::string first_line;
    std::getline(said, first_line);
    throw std::runtime_error("gnuplot failed to draw the plot: " + first_line);
  }
}

std::string plot_script(const EvalReport& report, const std::filesystem::path& drawn) {
  const std::size_t best = best_result(report.results);
  const EvalResult& winner = report.results[best];
  const std::string metric = winner.scores.front().first;
  const bool svg = drawn.extension() == ".svg";
  std::ostringstream script;
  script << (svg ? "set terminal svg size 1000,600 dynamic noenhanced font 'sans,12'\n"
                 : "set terminal pngcairo size 1000,600 noenhanced font 'sans,11'\n");
  script << "set output " << gnuplot_string(drawn.string()) << "\n";
  const std::string model = std::filesystem::path(report.model.value("bundle", std::string("?"))).filename().string();
  script << "set title "
         << gnuplot_lines(
                {report.task + " on " + model + ": " + metric + " x100 against layer", "best: " + describe(winner)})
         << "\n";
  script << "set xlabel 'layer (0 = embedding output)'\nset ylabel " << gnuplot_string(metric + " x100") << "\n";
  script << "set grid\nset key outside right top\nset xtics 1\n";

  // One series per pooling and post-processing, in the order of the results.
  std::vector<std::string> names;
  std::map<std::string, std::vector<std::pair<int, double>>> per_layer;
  std::vector<const EvalResult*> aggregations;
  int low = 0, high = 0;
  bool any_layer = false;
  for (const EvalResult& result : report.results) {
    if (!result.layer) {
      aggregations.push_back(&result);
      continue;
    }
    const std::string name = result.pooling + ", " + result.postprocess;
    if (per_layer.find(name) == per_layer.end()) names.push_back(name);
    per_layer[name].emplace_back(*result.layer, result.scores.front().second);
    low = any_layer ? std::min(low, *result.layer) : *result.layer;
    high = any_layer ? std::max(high, *result.layer) : *result.layer;
    any_layer = true;
  }
  script << "set xrange [" << low - 0.5 << ":" << high + 0.5 << "]\n";
  const auto colour = [&](const std::string& name) {
    const auto position = std::find(names.begin(), names.end(), name) - names.begin();
    return std::string(" lc rgb '") + kColours[static_cast<std::size_t>(position) % std::size(kColours)] + "'";
  };
  std::vector<std::string> plots;
  for (std::size_t series = 0; series < names.size(); ++series) {
    script << "$series" << series << " << EOD\n";
    for (const auto& [layer, score] : per_layer[names[series]]) script << layer << ' ' << score << "\n";
    script << "EOD\n";
    plots.push_back("$series" + std::to_string(series) + " using 1:2 with linespoints lw 2 pt 7 ps 0.8" +
                    colour(names[series]) + " title " + gnuplot_string(names[series]));
  }
  for (std::size_t aggregation = 0; aggregation < aggregations.size(); ++aggregation) {
    const EvalResult& result = *aggregations[aggregation];
    script << "$aggregation" << aggregation << " << EOD\n"
           << low << ' ' << result.scores.front().second << "\n"
           << high << ' ' << result.scores.front().second << "\nEOD\n";
    const std::string name = result.pooling + ", " + result.postprocess;
    if (per_layer.find(name) == per_layer.end()) names.push_back(name);
    plots.push_back(
        "$aggregation" + std::to_string(aggregation) + " using 1:2 with lines dt 2 lw 2" + colour(name) + " title " +
        gnuplot_string("layers " + layers_cell(result) + ": " + result.pooling + ", " + result.postprocess));
  }
  const double best_x = winner.layer ? *winner.layer : (low + high) / 2.0;
  script << "$best << EOD\n" << best_x << ' ' << winner.scores.front().second << "\nEOD\n";
  plots.push_back("$best using 1:2 with points pt 6 ps 3 lw 3 lc rgb 'red' title " +
                  gnuplot_string("best: " + format_score(winner.scores.front().second)));
  script << "plot ";
  for (std::size_t plot = 0; plot < plots.size(); ++plot) script << (plot > 0 ? ", \\\n     " : "") << plots[plot];
  script << "\nunset output\n";
  return script.str();
}

}  // namespace

std::size_t best_result(const std::vector<EvalResult>& results) {
  std::size_t best = 0;
  for (std::size_t i = 1; i < results.size(); ++i) {
    const double score = results[i].scores.front().second;
    const double leader = results[best].scores.front().second;
    if (!std::isnan(score) && (std::isnan(leader) || score > leader)) best = i;
  }
  return best;
}

std::string markdown_table(const EvalReport& report) {
  std::ostringstream table;
  const std::size_t best = best_result(report.results);
  const std::vector<std::pair<std::string, double>>& columns = report.results.front().scores;
  table << "| layers | pooling | postprocess |";
  for (const auto& [name, value] : columns) table << ' ' << name << " |";
  table << " n |\n|---|---|---|";
  for (std::size_t column = 0; column < columns.size(); ++column) table << "---:|";
  table << "---:|\n";
  for (std::size_t i = 0; i < report.results.size(); ++i) {
    const EvalResult& result = report.results[i];
    const std::string mark = i == best ? "**" : "";
    table << "| " << mark << layers_cell(result) << mark << " | " << mark << result.pooling << mark << " | " << mark
          << result.postprocess << mark << " |";
    for (const auto& [name, value] : result.scores) table << ' ' << mark << format_score(value) << mark << " |";
    table << ' ' << result.n << " |\n";
  }
  table << "\nBest (bold): " << describe(report.results[best]) << "\n";
  return table.str();
}

nlohmann::ordered_json report_json(const EvalReport& report) {
  nlohmann::ordered_json results = nlohmann::ordered_json::array();
  for (const EvalResult& result : report.results) {
    nlohmann::ordered_json entry = {{"layers", result.layers}};
    if (!result.layer_agg.empty()) entry["layer_agg"] = result.layer_agg;
    entry["pooling"] = result.pooling;
    entry["postprocess"] = result.postprocess;
    for (const auto& [name, value] : result.scores) {
      entry[name] = std::isnan(value) ? nlohmann::ordered_json(nullptr) : nlohmann::ordered_json(value);
    }
    entry["n"] = result.n;
    results.push_back(std::move(entry));
  }
  return {{"task", report.task},
          {"model", report.model},
          {"metric", report.results.front().scores.front().first},
          {"results", std::move(results)},
          {"best", best_result(report.results)}};
}

void check_plot_output(const std::filesystem::path& file) {
  const std::string extension = file.extension().string();
  if (extension != ".png" && extension != ".svg") {
    throw std::invalid_argument("--plot " + file.string() + ": name a .png or .svg file");
  }
  if (!on_path(kGnuplot)) {
    throw std::invalid_argument("--plot needs gnuplot on the PATH (Debian: apt-get install gnuplot-nox)");
  }
}

void plot_report(const EvalReport& report, const std::filesystem::path& file) {
  // gnuplot draws into a temporary file beside the target, renamed onto it
  // only when gnuplot succeeded: the picture is whole or absent.
  const std::filesystem::path target = std::filesystem::absolute(file);
  const std::string temporary = "." + target.filename().string() + ".tmp-" + std::to_string(::getpid());
  const std::filesystem::path drawn = target.parent_path() / (temporary + target.extension().string());
  const std::filesystem::path script = target.parent_path() / (temporary + ".gp");
  const std::filesystem::path messages = target.parent_path() / (temporary + ".log");
  const auto clean_up = [&] {
    std::error_code ignored;
    std::filesystem::remove(script, ignored);
    std::filesystem::remove(messages, ignored);
    std::filesystem::remove(drawn, ignored);
  };
  try {
    {
      std::ofstream out(script);
      out << plot_script(report, drawn);
      if (!out.flush()) throw std::runtime_error("cannot write " + script.string() + " for --plot");
    }
    run_gnuplot(script, messages);
    std::filesystem::rename(drawn, target);
  } catch (...) {
    clean_up();
    throw;
  }
  clean_up();
}

}  // namespace bert_embed
