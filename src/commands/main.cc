// bert-embed: text lines in, vectors out. Finds the subcommand (embed when
// none is named), parses its options, runs it, and turns any failure into one
// line on stderr and an exit status.
#include <algorithm>
#include <exception>
#include <iostream>
#include <string>
#include <string_view>
#include <vector>

#include <ATen/detail/CUDAHooksInterface.h>
#include <c10/util/Exception.h>
#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>
#include <torch/version.h>

#include "bert_embed/io/manifest.h"
#include "bert_embed/io/output_file.h"
#include "bert_embed/model/runtime.h"
#include "bert_embed/pipeline/pipeline.h"
#include "commands/command.h"

namespace bert_embed {
namespace {

constexpr int kExitSuccess = 0;
constexpr int kExitRuntimeError = 1;
constexpr int kExitUsageError = 2;

void report_error(const std::string& message) { std::cerr << "bert-embed: error: " << message << '\n'; }

// Diagnostics go to stderr: stdout carries data only.
void configure_logging(const std::string& level) {
  auto logger = spdlog::stderr_logger_mt("bert-embed");
  logger->set_pattern("bert-embed: %l: %v");
  logger->set_level(spdlog::level::from_str(level));
  spdlog::set_default_logger(std::move(logger));
}

std::string cuda_support() {
  // The CUDA hooks are registered only when libtorch_cuda is linked in.
  if (!at::CUDAHooksRegistry()->Has("CUDAHooks")) return "without CUDA";
  const at::CUDAHooksInterface& hooks = at::detail::getCUDAHooks();
  const long runtime = hooks.versionCUDART();  // e.g. 11080 for 11.8
  return "with CUDA " + std::to_string(runtime / 1000) + "." + std::to_string(runtime % 1000 / 10) + ", " +
         std::to_string(hooks.getNumGPUs()) + " GPU(s) visible";
}

std::string version_text() {
  const std::string onednn = onednn_kernels();
  return "bert-embed " + bert_embed_version() + "\nlibtorch " + TORCH_VERSION + ", " + cuda_support() + "\nBLAS: " +
         blas_kernels() + "\n" + (onednn.empty() ? "" : onednn + "\n");
}

// argv with the default subcommand named when none is: `bert-embed -m M`
// is `bert-embed embed -m M`. Options belong to their subcommand, so
// `bert-embed --max-length 4 tokenize` is refused, not silently reordered.
std::vector<std::string> with_subcommand(int argc, const char* const argv[]) {
  std::vector<std::string> args(argv + 1, argv + argc);
  const bool named = !args.empty() && std::any_of(commands().begin(), commands().end(), [&](const Command& command) {
                       return command.name == args.front();
                     });
  if (!named) args.insert(args.begin(), std::string(commands().front().name));
  return args;
}

int run(int argc, const char* const argv[]) {
  CLI::App app("Turns lines of text into vectors with a BERT-family model.", "bert-embed");
  app.require_subcommand(1);
  CommonOptions common;
  std::vector<std::pair<CLI::App*, CommandRun>> subcommands;
  for (const Command& command : commands()) {
    CLI::App* sub = app.add_subcommand(std::string(command.name), std::string(command.summary));
    // Computed only when asked: querying CUDA starts its runtime.
    sub->set_version_flag("--version", std::function<std::string()>(version_text));
    add_common_options(*sub, common);
    subcommands.emplace_back(sub, command.define(*sub, common));
  }
  const std::vector<std::string> args = with_subcommand(argc, argv);
  try {
    std::vector<std::string> reversed(args.rbegin(), args.rend());  // what CLI11 takes, and consumes
    app.parse(reversed);
  } catch (const CLI::Success& answered) {
    return app.exit(answered);
  } catch (const CLI::ParseError& error) {
    for (const Command& command : commands()) {
      if (std::find(args.begin() + 1, args.end(), command.name) != args.end()) {
        throw UsageError(std::string(error.what()) + " (a command comes first and its options after it: bert-embed " +
                         std::string(command.name) + " [OPTIONS])");
      }
    }
    throw UsageError(std::string(error.what()) + " (bert-embed --help lists the options)");
  }
  configure_logging(common.log_level);
  for (const auto& [sub, run_command] : subcommands) {
    if (sub->parsed()) run_command();
  }
  return kExitSuccess;
}

}  // namespace
}  // namespace bert_embed

int main(int argc, char* argv[]) {
  bert_embed::use_fastest_blas_kernels();  // before any BLAS call
  try {
    bert_embed::install_interrupt_cleanup();
    return bert_embed::run(argc, argv);
  } catch (const bert_embed::UsageError& error) {
    bert_embed::report_error(error.what());
    return bert_embed::kExitUsageError;
  } catch (const c10::Error& error) {
    // libtorch's messages go on with a backtrace; the first line says what failed.
    const std::string message = error.what_without_backtrace();
    bert_embed::report_error(message.substr(0, message.find('\n')));
    spdlog::debug("{}", message);
    return bert_embed::kExitRuntimeError;
  } catch (const std::exception& error) {
    bert_embed::report_error(error.what());
    return bert_embed::kExitRuntimeError;
  }
}
