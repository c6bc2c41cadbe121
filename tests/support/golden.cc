#include "golden.h"

#include <fstream>
#include <stdexcept>

#include <nlohmann/json.hpp>

#include "fixtures.h"

namespace bert_embed::test {

namespace fs = std::filesystem;

Golden::Golden(const std::string& model, const std::string& corpus)
    : model_(model), dir_(fixtures_dir() / "goldens" / model / corpus) {
  if (!fs::is_directory(dir_)) throw std::runtime_error("golden not found: " + dir_.string());
}

bool Golden::is_pairs() const { return fs::exists(dir_ / "input.tsv"); }

fs::path Golden::input_file() const { return dir_ / (is_pairs() ? "input.tsv" : "input.txt"); }

std::vector<GoldenInput> Golden::inputs() const {
  const bool pairs = is_pairs();
  std::vector<GoldenInput> inputs;
  for (const std::string& line : read_lines(input_file())) {
    if (!pairs) {
      inputs.push_back({line, ""});
      continue;
    }
    const std::size_t tab = line.find('\t');
    if (tab == std::string::npos) throw std::runtime_error(input_file().string() + ": no tab in: " + line);
    inputs.push_back({line.substr(0, tab), line.substr(tab + 1)});
  }
  return inputs;
}

std::vector<GoldenTokens> Golden::tokens() const {
  std::vector<GoldenTokens> lines;
  if (!fs::exists(dir_ / "tokens.jsonl")) {
    for (std::vector<std::int64_t>& ids : read_ids_jsonl(dir_ / "ids.jsonl")) {
      GoldenTokens line;
      line.type_ids.assign(ids.size(), 0);
      line.ids = std::move(ids);
      lines.push_back(std::move(line));
    }
    return lines;
  }
  for (const std::string& text : read_lines(dir_ / "tokens.jsonl")) {
    const auto record = nlohmann::json::parse(text);
    GoldenTokens line;
    line.ids = record.at("ids").get<std::vector<std::int64_t>>();
    line.tokens = record.at("tokens").get<std::vector<std::string>>();
    if (record.contains("token_type_ids")) {
      line.type_ids = record["token_type_ids"].get<std::vector<std::int64_t>>();
    } else {
      line.type_ids.assign(line.ids.size(), 0);
    }
    lines.push_back(std::move(line));
  }
  return lines;
}

NpyArray Golden::hidden() const { return read_npy(dir_ / "hidden.npy"); }
std::vector<std::int64_t> Golden::offsets() const { return read_npy(dir_ / "offsets.npy").i64; }
NpyArray Golden::cls() const { return read_npy(dir_ / "cls.npy"); }
NpyArray Golden::mean() const { return read_npy(dir_ / "mean.npy"); }
bool Golden::has_last() const { return fs::exists(dir_ / "last.npy"); }
NpyArray Golden::last() const { return read_npy(dir_ / "last.npy"); }
bool Golden::has_pooler() const { return fs::exists(dir_ / "pooler.npy"); }
NpyArray Golden::pooler() const { return read_npy(dir_ / "pooler.npy"); }

std::int64_t Golden::pad_id() const {
  const fs::path config = fixtures_dir() / "models" / model_ / "config.json";
  std::ifstream in(config);
  if (!in) throw std::runtime_error("cannot open " + config.string());
  const nlohmann::json fields = nlohmann::json::parse(in);
  const nlohmann::json pad = fields.value("pad_token_id", nlohmann::json());
  return (pad.is_null() ? fields.at("eos_token_id") : pad).get<std::int64_t>();
}

namespace {

// Index of a layer among `count`, a negative one counting from the last.
std::int64_t absolute_layer(int layer, std::int64_t count) {
  const std::int64_t index = layer < 0 ? layer + count : layer;
  if (index < 0 || index >= count) {
    throw std::out_of_range("layer " + std::to_string(layer) + " of " + std::to_string(count));
  }
  return index;
}

}  // namespace

std::vector<float> pooled_layer(const NpyArray& pooled, int layer) {
  const std::int64_t lines = pooled.shape.at(0);
  const std::int64_t layers = pooled.shape.at(1);
  const std::int64_t hidden = pooled.shape.at(2);
  const std::int64_t index = absolute_layer(layer, layers);
  std::vector<float> rows;
  for (std::int64_t line = 0; line < lines; ++line) {
    const float* begin = pooled.f32.data() + (line * layers + index) * hidden;
    rows.insert(rows.end(), begin, begin + hidden);
  }
  return rows;
}

std::vector<float> hidden_layer(const NpyArray& hidden, int layer) {
  const std::int64_t size = hidden.shape.at(1) * hidden.shape.at(2);
  const auto begin = hidden.f32.begin() + absolute_layer(layer, hidden.shape.at(0)) * size;
  return std::vector<float>(begin, begin + size);
}

std::vector<std::vector<std::int64_t>> read_ids_jsonl(const fs::path& file) {
  std::vector<std::vector<std::int64_t>> lines;
  for (const std::string& line : read_lines(file)) {
    lines.push_back(nlohmann::json::parse(line).get<std::vector<std::int64_t>>());
  }
  return lines;
}

}  // namespace bert_embed::test
