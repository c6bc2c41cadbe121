#include "text/tokenizer_files.h"

#include <fstream>
#include <sstream>
#include <system_error>

namespace bert_embed {

void check_tokenizer_file(const std::filesystem::path& file) {
  std::error_code error;
  const std::filesystem::file_status status = std::filesystem::status(file, error);
  if (error || !std::filesystem::exists(status)) throw std::runtime_error("cannot open " + file.string());
  if (!std::filesystem::is_regular_file(status)) {
    throw std::runtime_error(file.string() + " is not a regular file");
  }
  const std::uintmax_t size = std::filesystem::file_size(file, error);
  if (error) throw std::runtime_error("cannot read " + file.string() + ": " + error.message());
  if (size > kMaxTokenizerFileBytes) {
    throw std::runtime_error(file.string() + " has " + std::to_string(size) + " bytes, more than the " +
                             std::to_string(kMaxTokenizerFileBytes) + " a tokenizer file may have");
  }
}

std::string read_tokenizer_file(const std::filesystem::path& file) {
  check_tokenizer_file(file);
  std::ifstream in(file, std::ios::binary);
  if (!in) throw std::runtime_error("cannot open " + file.string());
  std::ostringstream buffer;
  buffer << in.rdbuf();
  if (in.bad()) throw std::runtime_error("cannot read " + file.string());
  return buffer.str();
}

}  // namespace bert_embed
