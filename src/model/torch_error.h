// One line out of libtorch's many-line error messages.
#pragma once

#include <exception>
#include <string>

namespace bert_embed {

// c10 errors go on with a C++ backtrace, TorchScript compiler errors with a
// source excerpt, and an error raised inside the TorchScript interpreter comes
// as "The following operation failed in the TorchScript interpreter." and a
// traceback of the module's code, ending with the error itself
// ("builtins.ValueError: ..."). Logs the whole text at debug level (visible
// with --log-level debug) and returns the line that says what went wrong.
std::string torch_error_summary(const std::exception& error);

}  // namespace bert_embed
