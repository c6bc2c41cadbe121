// The command line of bert-embed: CLI11 options -> PipelineOptions.
#pragma once

#include <optional>
#include <string>

#include "bert_embed/pipeline/pipeline.h"

namespace bert_embed {

struct CommandLine {
  enum class Command { kEmbed, kTokenize };
  Command command = Command::kEmbed;
  PipelineOptions embed;       // Command::kEmbed
  TextInputOptions tokenize;   // Command::kTokenize
  std::string log_level = "warn";
  bool quiet = false;  // no summary, no progress
};

// Parses argv. Returns nothing when the request was --help or --version,
// which are answered here on stdout. Throws UsageError for anything the
// user must change on the command line.
std::optional<CommandLine> parse_command_line(int argc, const char* const argv[]);

// bert-embed's version, the libtorch it was built with and its CUDA support.
std::string version_text();

}  // namespace bert_embed
