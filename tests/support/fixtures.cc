#include "fixtures.h"

#include <cstdlib>
#include <fstream>
#include <sstream>
#include <stdexcept>

namespace bert_embed::test {

std::filesystem::path fixtures_dir() {
  const char* from_env = std::getenv("BERT_EMBED_FIXTURES");
  std::filesystem::path dir = from_env ? from_env : BERT_EMBED_FIXTURES_DIR;
  if (!std::filesystem::is_directory(dir)) {
    throw std::runtime_error("test fixtures not found at " + dir.string() +
                             " (set BERT_EMBED_FIXTURES)");
  }
  return dir;
}

std::filesystem::path test_bundle(const std::string& model) {
  std::filesystem::path dir = std::filesystem::path(BERT_EMBED_TEST_BUNDLES_DIR) / model;
  if (!std::filesystem::exists(dir / "bundle.json")) {
    throw std::runtime_error("test bundle missing: " + dir.string() +
                             " (build the test_bundles target)");
  }
  return dir;
}

std::filesystem::path bert_embed_binary() { return BERT_EMBED_BINARY; }
std::filesystem::path source_dir() { return BERT_EMBED_SOURCE_DIR; }

std::vector<std::string> read_lines(const std::filesystem::path& file) {
  std::ifstream in(file, std::ios::binary);
  if (!in) throw std::runtime_error("cannot open " + file.string());
  std::ostringstream buffer;
  buffer << in.rdbuf();
  const std::string text = buffer.str();
  std::vector<std::string> lines;
  std::size_t start = 0;
  while (start < text.size()) {
    std::size_t end = text.find('\n', start);
    if (end == std::string::npos) end = text.size();
    lines.push_back(text.substr(start, end - start));
    start = end + 1;
  }
  return lines;
}

}  // namespace bert_embed::test
