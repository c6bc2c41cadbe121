// Provenance: a small JSON manifest beside every output (vectors, offsets,
// statistics) saying how it was made, so that outputs of separate runs can be
// checked against each other from their manifests alone, and vectors of
// different models, layers or poolings are never mixed silently.
#pragma once

#include <cstdint>
#include <filesystem>
#include <map>
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
  std::string weights_sha256;  // bundle.json's source.sha256: the checkpoint's weights
  std::vector<int> layers;     // hidden-state indices the encoder returned, 0 = embedding output
  std::vector<std::string> slot_labels;  // one per slot: "-1", "0", "mean", "concat", "pooler"
  std::string layer_aggregation = "none";  // none, mean, concat
  std::string pooling = "mean";            // cls, mean, max, tokens, pooler
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

// How the texts became model inputs (--prefix, --strip-text, --max-length,
// each as given or from the bundle's defaults).
struct TextPreparation {
  std::string prefix;
  bool strip_text = false;
  std::uint64_t max_length = 0;  // tokens per text, framing included

  bool operator==(const TextPreparation& other) const {
    return prefix == other.prefix && strip_text == other.strip_text && max_length == other.max_length;
  }
};

// A file a manifest covers, as it was committed.
struct ManifestFile {
  std::string name;  // file name, in the manifest's directory
  std::uint64_t size_bytes = 0;
  std::int64_t rows = 0;  // NPY: the first dimension; JSONL: lines

  bool operator==(const ManifestFile& other) const {
    return name == other.name && size_bytes == other.size_bytes && rows == other.rows;
  }
};

// The ranges an int8 output was quantized with, as sentence-transformers'
// quantize_embeddings does: value v of slot s, dimension d is stored as
// trunc((v - min) / ((max - min) / 255) - 128), in float32, clamped to
// [-128, 127] (a dimension with max == min is stored as -128); it reads back
// as min + (q + 128) * (max - min) / 255.
struct Int8Ranges {
  std::string calibration;  // "data" (the output's own vectors) or the statistics file
  std::vector<std::vector<float>> minimum;  // [slots][dim]
  std::vector<std::vector<float>> maximum;  // [slots][dim]
};

// The part of the input a run embedded (--shard I/N; a run without it is
// shard 0 of 1 over the whole input) and whether its output is all there. The
// settings are what else decides the bytes of the vectors (the tokenizer's
// limits, the input's fields, the batching), so that the shards of one job,
// and a resumed run, can be checked against each other.
struct ShardDescription {
  std::uint64_t index = 0;  // 0-based
  std::uint64_t count = 1;
  std::uint64_t begin = 0;  // records [begin, end) of the input are this shard's
  std::uint64_t end = 0;
  std::uint64_t total_records = 0;  // in the whole input
  // false in a checkpoint (resumable.h): records [begin, input.end_record) are done.
  bool complete = true;
  std::map<std::string, std::string> settings;  // e.g. "batch_tokens": "8192"
};

struct Manifest {
  // Out of line: built inline, as an aggregate, `Manifest{}` draws GCC 12's
  // false -Wmaybe-uninitialized warnings.
  Manifest();

  std::string kind = "vectors";  // "vectors" or "statistics"
  std::string bert_embed_version;  // stamped by OutputSet::commit()
  VectorSource source;
  std::string postprocess = "none";  // e.g. "whiten:256,standardize,normalize:l2"
  InputDescription input;
  // Absent from manifests written before it was recorded: read as the
  // defaults (no prefix, no stripping, max_length 0 = unknown).
  TextPreparation text;
  std::string format;                // "jsonl", "npy"; statistics: "npy"
  std::string output_dtype = "float32";  // float32, float16, int8, binary
  std::optional<Int8Ranges> int8_ranges;  // int8 outputs only; "int8_ranges" when present
  std::int64_t rows = 0;             // vectors (per token: token rows)
  std::int64_t dim = 0;              // width after post-processing
  // The files this manifest covers, filled in when the output is committed
  // (output_set.h), the first one being the output itself.
  std::vector<ManifestFile> files;
  ShardDescription shard;
};

void to_json(nlohmann::json& out, const VectorSource& source);
void from_json(const nlohmann::json& in, VectorSource& source);
void to_json(nlohmann::json& out, const ManifestFile& file);
void from_json(const nlohmann::json& in, ManifestFile& file);
void to_json(nlohmann::json& out, const ShardDescription& shard);
void to_json(nlohmann::json& out, const Manifest& manifest);
void from_json(const nlohmann::json& in, Manifest& manifest);

// Empty when the two manifests describe vectors made alike from the same input:
// every field but the progress of the run (rows, files, input.end_record,
// shard.complete, the version) and the place of the shard (shard.index,
// shard.count, shard.begin, shard.end, input.first_record), which merge checks
// apart. Otherwise one line naming each field that differs with both values,
// e.g. "source.pooling: \"mean\" in a.npy, \"cls\" in b.npy".
std::string describe_run_difference(const Manifest& expected, const std::string& expected_name,
                                    const Manifest& actual, const std::string& actual_name);

// OUT -> OUT.manifest.json
std::filesystem::path manifest_path_for(const std::filesystem::path& output);

// Reads a manifest: a regular file of at most 1 MiB. std::runtime_error
// naming the file when it is missing, unreadable, special, too big,
// malformed, or has a missing field or one of the wrong type (named too).
Manifest read_manifest(const std::filesystem::path& file);

// The manifest as written: indented JSON and a final newline.
std::string manifest_text(const Manifest& manifest);

// Writes to a temporary name beside the target and renames it into place.
void write_manifest(const std::filesystem::path& file, const Manifest& manifest);

// Checks that every file `manifest` (read from `manifest_file`) lists is
// there with the size listed; std::runtime_error naming the manifest and the
// file otherwise: its commit was interrupted, or the file changed since.
void check_manifest_files(const Manifest& manifest, const std::filesystem::path& manifest_file);

}  // namespace bert_embed
