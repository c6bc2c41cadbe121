// Single-threaded tokenizer throughput:
//   tokenizer_bench DIR[,DIR...] FILE[,FILE...] [repeats]
// tokenizes every line of each FILE (split on '\n') with the tokenizer of
// each checkpoint directory DIR (load_tokenizer: WordPiece, SentencePiece,
// byte-level BPE), `repeats` times (default 5), and prints per pair the first
// pass's MB/s (cold: the BPE word cache is empty) and the median's MB/s and
// lines/s.
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

std::vector<std::string> split_commas(const std::string& list) {
  std::vector<std::string> items;
  std::size_t start = 0;
  while (start <= list.size()) {
    const std::size_t end = std::min(list.find(',', start), list.size());
    items.push_back(list.substr(start, end - start));
    start = end + 1;
  }
  return items;
}

void bench(const std::string& dir, const std::string& file, int repeats) {
  const auto tokenizer = bert_embed::load_tokenizer(dir);
  const std::vector<std::string> lines = read_lines(file);
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
  const double first = seconds.front();
  std::sort(seconds.begin(), seconds.end());
  const double median = seconds[seconds.size() / 2];
  std::printf("%s on %s: %zu lines, %zu bytes, %zu tokens; first pass %.2f MB/s; median of %d: %.4f s, "
              "%.2f MB/s, %.0f lines/s\n",
              dir.c_str(), file.c_str(), lines.size(), bytes, tokens, static_cast<double>(bytes) / first / 1e6,
              repeats, median, static_cast<double>(bytes) / median / 1e6,
              static_cast<double>(lines.size()) / median);
}

int run(int argc, char** argv) {
  if (argc < 3 || argc > 4) {
    std::cerr << "usage: tokenizer_bench DIR[,DIR...] FILE[,FILE...] [repeats]\n";
    return 2;
  }
  const int repeats = argc == 4 ? std::stoi(argv[3]) : 5;
  if (repeats < 1) throw std::invalid_argument("repeats must be at least 1");
  for (const std::string& dir : split_commas(argv[1])) {
    for (const std::string& file : split_commas(argv[2])) bench(dir, file, repeats);
  }
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
