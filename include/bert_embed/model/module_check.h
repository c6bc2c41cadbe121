// A bundle's model file is TorchScript, which is code: before libtorch loads
// it (loading already runs a module's __setstate__), every function in the
// archive is compiled without running and checked against the operators a
// bert-embed encoder needs.
#pragma once

#include <filesystem>
#include <set>
#include <string>

namespace bert_embed {

// The operator kinds (e.g. "aten::linear", "prim::If") of every method of
// every class and of every function they call, in the TorchScript archive
// `file`, compiled without running any of it. Throws std::runtime_error
// naming the file when it is not a TorchScript archive or its code does not
// compile.
std::set<std::string> module_operators(const std::filesystem::path& file);

// Throws std::runtime_error naming the first operator of module_operators(file)
// outside the encoder's allow-list, and the file.
void check_module_operators(const std::filesystem::path& file);

}  // namespace bert_embed
