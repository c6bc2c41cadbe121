// The evaluation tests' independent references: inputs written as NPY (or
// text) into a directory, scored by scipy and scikit-learn in
// reference_scores.py (Debian's python3-scipy and python3-sklearn), results
// read back as JSON.
#pragma once

#include <ATen/ATen.h>
#include <nlohmann/json.hpp>

#include <filesystem>
#include <stdexcept>
#include <string>

#include "bert_embed/io/npy_writer.h"
#include "bert_embed/io/output_file.h"
#include "command.h"
#include "fixtures.h"

namespace bert_embed::test {

// float64, float32 or int64 values, as NPY.
inline void write_npy(const std::filesystem::path& file, const at::Tensor& values) {
  const at::Tensor data = values.contiguous();
  const char* descr = data.scalar_type() == at::kDouble  ? "<f8"
                      : data.scalar_type() == at::kFloat ? "<f4"
                      : data.scalar_type() == at::kLong  ? "<i8"
                                                         : throw std::invalid_argument("write_npy: " +
                                                                                       c10::str(data.scalar_type()));
  OutputFile out(file);
  write_npy_array(out, descr, data.sizes().vec(), data.data_ptr(), data.nbytes());
  out.commit();
}

// reference_scores.py TASK DIRECTORY; throws with its output when it fails.
inline nlohmann::json reference_scores(const std::string& task, const std::filesystem::path& directory) {
  const std::filesystem::path script = source_dir() / "tests" / "evaluation" / "reference_scores.py";
  const CommandResult result = run_command(shell_quote(BERT_EMBED_PYTHON) + " " + shell_quote(script.string()) +
                                           " " + task + " " + shell_quote(directory.string()));
  if (result.exit_status != 0) {
    throw std::runtime_error("reference_scores.py " + task + " failed (exit " +
                             std::to_string(result.exit_status) +
                             "; scipy and scikit-learn come with scripts/install-deps.sh): " + result.output);
  }
  return nlohmann::json::parse(result.output);
}

}  // namespace bert_embed::test
