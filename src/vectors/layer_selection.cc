#include "bert_embed/vectors/layer_selection.h"

#include <charconv>
#include <stdexcept>
#include <string>

namespace bert_embed {
namespace {

std::string_view trim(std::string_view text) {
  const auto first = text.find_first_not_of(" \t");
  if (first == std::string_view::npos) return {};
  const auto last = text.find_last_not_of(" \t");
  return text.substr(first, last - first + 1);
}

std::string in_quotes(std::string_view text) { return "\"" + std::string(text) + "\""; }

class LayerSpecParser {
 public:
  LayerSpecParser(std::string_view spec, int num_layers) : spec_(spec), num_layers_(num_layers) {}

  LayerSelection parse() {
    if (trim(spec_) == "all") {
      for (int layer = 0; layer <= num_layers_; ++layer) add(layer, std::to_string(layer), "all");
      return std::move(selection_);
    }
    std::string_view rest = spec_;
    while (true) {
      const auto comma = rest.find(',');
      parse_part(trim(rest.substr(0, comma)));
      if (comma == std::string_view::npos) break;
      rest.remove_prefix(comma + 1);
    }
    return std::move(selection_);
  }

 private:
  void parse_part(std::string_view part) {
    if (part.empty()) fail("an empty entry", "");
    const auto colon = part.find(':');
    if (colon == std::string_view::npos) {
      add(resolve(part, part), std::string(part), part);
      return;
    }
    const int first = resolve(trim(part.substr(0, colon)), part);
    const int last = resolve(trim(part.substr(colon + 1)), part);
    if (first > last) {
      fail("range " + in_quotes(part), " runs backwards (layer " + std::to_string(first) +
                                           " to layer " + std::to_string(last) + ")");
    }
    for (int layer = first; layer <= last; ++layer) add(layer, std::to_string(layer), part);
  }

  // Absolute hidden-state index of one number of `part`.
  int resolve(std::string_view number, std::string_view part) const {
    int value = 0;
    const char* end = number.data() + number.size();
    const auto [stop, error] = std::from_chars(number.data(), end, value);
    if (number.empty() || error != std::errc() || stop != end) {
      fail(in_quotes(part), " is not a layer number, a range a:b or \"all\"");
    }
    const int absolute = value < 0 ? value + num_layers_ + 1 : value;
    if (absolute < 0 || absolute > num_layers_)
      fail("layer " + in_quotes(number), " is out of range");
    return absolute;
  }

  void add(int layer, std::string label, std::string_view part) {
    for (std::size_t i = 0; i < selection_.indices.size(); ++i) {
      if (selection_.indices[i] == layer) {
        fail(in_quotes(part), " asks for layer " + std::to_string(layer) +
                                  " again (already asked as " + in_quotes(selection_.labels[i]) +
                                  ")");
      }
    }
    selection_.indices.push_back(layer);
    selection_.labels.push_back(std::move(label));
  }

  [[noreturn]] void fail(const std::string& what, const std::string& problem) const {
    throw std::invalid_argument(
        "invalid layers " + in_quotes(spec_) + ": " + what + problem +
        "; this model has layers 0.." + std::to_string(num_layers_) +
        " (0 is the embedding output), or -" + std::to_string(num_layers_ + 1) +
        "..-1 counting from the end; use a list such as " +
        "\"-2,-1\", a range such as \"1:" + std::to_string(num_layers_) + "\" or \"all\"");
  }

  std::string_view spec_;
  int num_layers_;
  LayerSelection selection_;
};

}  // namespace

LayerSelection parse_layers(std::string_view spec, int num_layers) {
  if (num_layers < 1) {
    throw std::invalid_argument("parse_layers: a model has at least one layer, got " +
                                std::to_string(num_layers));
  }
  return LayerSpecParser(spec, num_layers).parse();
}

at::Tensor aggregate_layers(const at::Tensor& per_layer, LayerAggregation aggregation) {
  if (per_layer.dim() != 3) {
    throw std::invalid_argument("aggregate_layers: expected [rows, layers, dim], got " +
                                std::to_string(per_layer.dim()) + " dimensions");
  }
  switch (aggregation) {
    case LayerAggregation::kNone:
      return per_layer;
    case LayerAggregation::kMean:
      return per_layer.mean(1, /*keepdim=*/true);
    case LayerAggregation::kConcat:
      return per_layer.reshape({per_layer.size(0), 1, per_layer.size(1) * per_layer.size(2)});
  }
  throw std::logic_error("aggregate_layers: unknown aggregation");
}

}  // namespace bert_embed
