// Provenance: a small JSON manifest beside every output (vectors, offsets,
// statistics) saying how it was made, so that outputs of separate runs can be
// checked against each other from their manifests alone, and vectors of
// different models, layers or poolings are never mixed silently.
#pragma once

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json_fwd.hpp>

namespace bert_embed {

// bert-embed's own version, as --version prints it.
std::string bert_embed_version();

// What makes two sets of vectors comparable: the same model, hidden states,
// pooling, number format and width. Post-processing is not part of it: it is
// what statistics are fitted for.
struct VectorSource {
  std::string architecture;    // bundle.json "architecture"
  std::string weights_sha256;  // bundle.json "weights_sha256"
  std::vector<int> layers;     // hidden-state indices the encoder returned, 0 = embedding output
  std::vector<std::string> slot_labels;  // one per slot: "-1", "0", "mean", "concat", "pooler"
  std::string layer_aggregation = "none";  // none, mean, concat
  std::string pooling = "mean";            // cls, mean, max, last, tokens, pooler
  bool exclude_special = false;
  std::string dtype = "float32";  // the number format the model computed in
  std::int64_t dim = 0;           // width of one slot, before post-processing

  bool operator==(const VectorSource& other) const;
  bool operator!=(const VectorSource& other) const { return !(*this == other); }
};

// Empty when the two are comparable; otherwise one line naming every field
// that differs with both values, e.g.
// "pooling: mean in stats.json, cls in this run; dim: 128 in stats.json, 32 in this run".
std::string describe_difference(const VectorSource& expected, const std::string& expected_name,
                                const VectorSource& actual, const std::string& actual_name);

// Where the vectors' texts came from.
struct InputDescription {
  std::string name;                       // the path as given, or "<stdin>"
  std::optional<std::uint64_t> size_bytes;  // regular files only
  std::uint64_t first_record = 0;         // 0-based index of the first record embedded
  std::uint64_t end_record = 0;           // one past the last
};

struct Manifest {
  std::string kind = "vectors";  // "vectors" or "statistics"
  std::string bert_embed_version;
  VectorSource source;
  std::string postprocess = "none";  // e.g. "whiten:256,standardize,normalize:l2"
  InputDescription input;
  std::string format;                // "jsonl", "npy"; statistics: "npy"
  std::string output_dtype = "float32";
  std::int64_t rows = 0;             // vectors (per token: token rows)
  std::int64_t dim = 0;              // width after post-processing
  std::vector<std::string> files;    // file names (no directory) this manifest covers
};

void to_json(nlohmann::json& out, const VectorSource& source);
void from_json(const nlohmann::json& in, VectorSource& source);
void to_json(nlohmann::json& out, const Manifest& manifest);
void from_json(const nlohmann::json& in, Manifest& manifest);

// OUT -> OUT.manifest.json
std::filesystem::path manifest_path_for(const std::filesystem::path& output);

// Reads a manifest; errors (missing, unreadable, over 1 MiB, malformed, a
// field of the wrong type) name the file.
Manifest read_manifest(const std::filesystem::path& file);

// Writes to a temporary name beside the target and renames it into place.
void write_manifest(const std::filesystem::path& file, const Manifest& manifest);

}  // namespace bert_embed
