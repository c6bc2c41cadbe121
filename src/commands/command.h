// bert-embed's subcommands: one table, one file per subcommand.
#pragma once

#include <functional>
#include <string_view>
#include <vector>

#include <CLI/CLI.hpp>

#include "commands/options.h"

namespace bert_embed {

// What runs a subcommand once its options are parsed.
using CommandRun = std::function<void()>;

struct Command {
  std::string_view name;
  std::string_view summary;
  // Declares the subcommand's own options on `app` (the common ones are
  // added by main) and returns what runs it.
  CommandRun (*define)(CLI::App& app, const CommonOptions& common);
};

CommandRun define_embed(CLI::App& app, const CommonOptions& common);
CommandRun define_tokenize(CLI::App& app, const CommonOptions& common);
CommandRun define_stats(CLI::App& app, const CommonOptions& common);
CommandRun define_postprocess(CLI::App& app, const CommonOptions& common);
CommandRun define_merge(CLI::App& app, const CommonOptions& common);
CommandRun define_eval(CLI::App& app, const CommonOptions& common);

// Every subcommand; the first is the default when none is named.
inline const std::vector<Command>& commands() {
  static const std::vector<Command> table = {
      {"embed", "Turn each input line into a vector (the default command)", define_embed},
      {"tokenize", "Print {\"index\": i, \"tokens\": [...], \"ids\": [...]} for each input line: what the "
                   "model is given", define_tokenize},
      {"stats", "Fit post-processing statistics (--whiten, --remove-top, --standardize) on saved NPY vectors, "
                "one file or several shards", define_stats},
      {"postprocess", "Apply saved statistics, --normalize or --output-dtype to saved NPY vectors, with no model",
       define_postprocess},
      {"merge", "Join the outputs of --shard runs into the output of one run over the whole input", define_merge},
      {"eval", "Score layers, poolings and post-processings on a task: eval sts|classify|tokens", define_eval},
  };
  return table;
}

}  // namespace bert_embed
