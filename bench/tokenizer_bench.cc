// Single-threaded tokenizer throughput: tokenizer_bench DIR FILE [repeats]
// tokenizes every line of FILE (split on '\n') with the tokenizer in DIR,
// `repeats` times (default 5), and prints the median MB/s and lines/s.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <exception>
#include <fstream>
#include <iostream>
#include <sstream>
#include <string>
#include <vector>

#include "bert_embed/text/tokenizer.h"
#include "bert_embed/text/utf8.h"

namespace {

std::vector<std::string> read_lines(const std::string& file) {
  std::ifstream in(file, std::ios::binary);
  if (!in) throw std::runtime_error("cannot open " + file);
  std::ostringstream buffer;
  buffer << in.rdbuf();
  const std::string text = buffer.str();
  std::vector<std::string> lines;
  std::size_t start = 0;
  while (start < text.size()) {
    std::size_t end = text.find('\n', start);
    if (end == std::string::npos) end = text.size();
    lines.push_back(bert_embed::replace_invalid_utf8(std::string_view(text).substr(start, end - start)));
    start = end + 1;
  }
  return lines;
}

int run(int argc, char** argv) {
  if (argc < 3 || argc > 4) {
    std::cerr << "usage: tokenizer_bench DIR FILE [repeats]\n";
    return 2;
  }
  const auto tokenizer = bert_embed::load_tokenizer(argv[1]);
  const std::vector<std::string> lines = read_lines(argv[2]);
  const int repeats = argc == 4 ? std::stoi(argv[3]) : 5;
  if (repeats < 1) throw std::invalid_argument("repeats must be at least 1");

  std::size_t bytes = 0;
  for (const std::string& line : lines) bytes += line.size();

  std::vector<double> seconds;
  std::size_t tokens = 0;
  for (int r = 0; r < repeats; ++r) {
    tokens = 0;
    const auto start = std::chrono::steady_clock::now();
    for (const std::string& line : lines) tokens += tokenizer->tokenize(line).size();
    seconds.push_back(std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
  }
  std::sort(seconds.begin(), seconds.end());
  const double median = seconds[seconds.size() / 2];
  std::printf("file %s: %zu lines, %zu bytes, %zu tokens\n", argv[2], lines.size(), bytes, tokens);
  std::printf("median of %d: %.4f s, %.2f MB/s, %.0f lines/s\n", repeats, median,
              static_cast<double>(bytes) / median / 1e6, static_cast<double>(lines.size()) / median);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    return run(argc, argv);
  } catch (const std::exception& error) {
    std::cerr << "tokenizer_bench: " << error.what() << "\n";
    return 1;
  }
}
