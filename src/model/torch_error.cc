#include "model/torch_error.h"

#include <string_view>

#include <c10/util/Exception.h>
#include <spdlog/spdlog.h>

namespace bert_embed {

std::string torch_error_summary(const std::exception& error) {
  const auto* c10_error = dynamic_cast<const c10::Error*>(&error);
  const std::string text = c10_error != nullptr ? c10_error->what_without_backtrace() : error.what();
  spdlog::debug("libtorch error in full:\n{}", text);

  constexpr std::string_view kInterpreterFailure = "The following operation failed in the TorchScript interpreter.";
  if (text.rfind(kInterpreterFailure, 0) == 0) {
    const std::size_t end = text.find_last_not_of("\n ") + 1;
    const std::size_t start = text.rfind('\n', end - 1) + 1;  // npos + 1 wraps to 0: a single line
    return text.substr(start, end - start);
  }
  return text.substr(0, text.find('\n'));
}

}  // namespace bert_embed
