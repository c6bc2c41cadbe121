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
CommandRun define_eval(CLI::App& app, const CommonOptions& common);

// Every subcommand; the first is the default when none is named.
inline const std::vector<Command>& commands() {
  static const std::vector<Command> table = {
      {"embed", "Turn each input line into a vector (the default command)", define_embed},
      {"tokenize", "Print {\"index\": i, \"tokens\": [...], \"ids\": [...]} for each input line: what the "
                   "model is given", define_tokenize},
      {"eval", "Score layers, poolings and post-processings on a task: eval sts|classify|tokens", define_eval},
  };
  return table;
}

}  // namespace bert_embed
