// bert-embed: text lines in, vectors out. Parses the command line, runs the
// pipeline and turns any failure into one line on stderr and an exit status.
#include <exception>
#include <iostream>
#include <optional>
#include <string>

#include <c10/util/Exception.h>
#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>

#include "commands/cli.h"

namespace {

constexpr int kExitSuccess = 0;
constexpr int kExitRuntimeError = 1;
constexpr int kExitUsageError = 2;

void report_error(const char* message) { std::cerr << "bert-embed: error: " << message << '\n'; }

// Diagnostics go to stderr: stdout carries data only.
void configure_logging(const std::string& level) {
  auto logger = spdlog::stderr_logger_mt("bert-embed");
  logger->set_pattern("bert-embed: %l: %v");
  logger->set_level(spdlog::level::from_str(level));
  spdlog::set_default_logger(std::move(logger));
}

int run(const bert_embed::CommandLine& command_line) {
  using bert_embed::CommandLine;
  configure_logging(command_line.log_level);
  if (command_line.command == CommandLine::Command::kTokenize) {
    bert_embed::run_tokenize(command_line.tokenize);
    return kExitSuccess;
  }
  const bert_embed::RunSummary summary = bert_embed::run_pipeline(command_line.embed);
  if (!command_line.quiet) std::cerr << "bert-embed: " << bert_embed::format_summary(summary) << '\n';
  return kExitSuccess;
}

}  // namespace

int main(int argc, char* argv[]) {
  try {
    const std::optional<bert_embed::CommandLine> command_line = bert_embed::parse_command_line(argc, argv);
    return command_line ? run(*command_line) : kExitSuccess;
  } catch (const bert_embed::UsageError& error) {
    report_error(error.what());
    return kExitUsageError;
  } catch (const c10::Error& error) {
    // libtorch's messages go on with a backtrace; the first line says what failed.
    const std::string message = error.what_without_backtrace();
    report_error(message.substr(0, message.find('\n')).c_str());
    return kExitRuntimeError;
  } catch (const std::exception& error) {
    report_error(error.what());
    return kExitRuntimeError;
  }
}
