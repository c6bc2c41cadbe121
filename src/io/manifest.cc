#include "bert_embed/io/manifest.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <climits>
#include <cstdint>
#include <cstring>
#include <nlohmann/json.hpp>
#include <stdexcept>
#include <system_error>

#include "bert_embed/io/output_file.h"

namespace bert_embed {
namespace fs = std::filesystem;
using json = nlohmann::json;
namespace {

// Written into every manifest; a reader refuses other versions rather than
// guess at their fields.
constexpr int kManifestVersion = 1;
// Manifests are a few hundred bytes: anything larger is not one.
constexpr std::size_t kMaxManifestBytes = 1 << 20;

// Field readers: a missing field or one of the wrong type is an
// std::invalid_argument naming it by its path ("source.dim", "files[1].name").
[[noreturn]] void wrong_type(const std::string& name, const char* expected, const json& value) {
  constexpr std::size_t kShown = 40;
  std::string shown = value.dump();
  if (shown.size() > kShown) shown = shown.substr(0, kShown) + "...";
  throw std::invalid_argument("field \"" + name + "\" must be " + expected + ", not " + shown);
}

// where: the path of `object` with a final '.', or "" for the manifest itself.
const json& field(const json& object, const std::string& where, const char* key) {
  if (!object.is_object()) {
    if (where.empty()) {
      throw std::invalid_argument(std::string("a manifest must be an object, not ") +
                                  object.type_name());
    }
    wrong_type(where.substr(0, where.size() - 1), "an object", object);
  }
  const auto found = object.find(key);
  if (found == object.end()) throw std::invalid_argument("missing field \"" + where + key + "\"");
  return *found;
}

std::string read_string(const json& object, const std::string& where, const char* key) {
  const json& value = field(object, where, key);
  if (!value.is_string()) wrong_type(where + key, "a string", value);
  return value.get<std::string>();
}

bool read_bool(const json& object, const std::string& where, const char* key) {
  const json& value = field(object, where, key);
  if (!value.is_boolean()) wrong_type(where + key, "true or false", value);
  return value.get<bool>();
}

std::uint64_t read_count(const json& value, const std::string& name) {
  if (!value.is_number_unsigned()) wrong_type(name, "a non-negative integer", value);
  return value.get<std::uint64_t>();
}

std::int64_t read_signed_count(const json& object, const std::string& where, const char* key) {
  const std::uint64_t count = read_count(field(object, where, key), where + key);
  if (count > static_cast<std::uint64_t>(INT64_MAX)) {
    wrong_type(where + key, "a 64-bit integer", field(object, where, key));
  }
  return static_cast<std::int64_t>(count);
}

std::vector<int> read_ints(const json& object, const std::string& where, const char* key) {
  const json& list = field(object, where, key);
  if (!list.is_array()) wrong_type(where + key, "a list of integers", list);
  std::vector<int> values;
  for (const json& value : list) {
    if (!value.is_number_integer() || value.get<std::int64_t>() < INT_MIN ||
        value.get<std::int64_t>() > INT_MAX) {
      wrong_type(where + key, "a list of integers", list);
    }
    values.push_back(value.get<int>());
  }
  return values;
}

std::vector<std::string> read_strings(const json& object, const std::string& where,
                                      const char* key) {
  const json& list = field(object, where, key);
  if (!list.is_array()) wrong_type(where + key, "a list of strings", list);
  std::vector<std::string> values;
  for (const json& value : list) {
    if (!value.is_string()) wrong_type(where + key, "a list of strings", list);
    values.push_back(value.get<std::string>());
  }
  return values;
}

VectorSource read_source(const json& in, const std::string& where) {
  VectorSource source;
  source.architecture = read_string(in, where, "architecture");
  source.weights_sha256 = read_string(in, where, "weights_sha256");
  source.layers = read_ints(in, where, "layers");
  source.slot_labels = read_strings(in, where, "slot_labels");
  source.layer_aggregation = read_string(in, where, "layer_aggregation");
  source.pooling = read_string(in, where, "pooling");
  source.exclude_special = read_bool(in, where, "exclude_special");
  source.dtype = read_string(in, where, "dtype");
  source.dim = read_signed_count(in, where, "dim");
  return source;
}

ManifestFile read_file(const json& in, const std::string& where) {
  ManifestFile file;
  file.name = read_string(in, where, "name");
  file.size_bytes = read_count(field(in, where, "size_bytes"), where + "size_bytes");
  file.rows = read_signed_count(in, where, "rows");
  return file;
}

InputDescription read_input(const json& in, const std::string& where) {
  InputDescription input;
  input.name = read_string(in, where, "name");
  const json& size = field(in, where, "size_bytes");
  if (!size.is_null()) input.size_bytes = read_count(size, where + "size_bytes");
  input.first_record = read_count(field(in, where, "first_record"), where + "first_record");
  input.end_record = read_count(field(in, where, "end_record"), where + "end_record");
  return input;
}

// [slots][dim] numbers, every row as long as the first.
std::vector<std::vector<float>> read_table(const json& object, const std::string& where, const char* key) {
  const json& table = field(object, where, key);
  if (!table.is_array() || table.empty()) wrong_type(where + key, "a list of lists of numbers", table);
  std::vector<std::vector<float>> rows;
  for (const json& row : table) {
    if (!row.is_array() || row.size() != table.front().size())
      wrong_type(where + key, "a list of lists of numbers, all of one length", table);
    std::vector<float>& values = rows.emplace_back();
    for (const json& value : row) {
      if (!value.is_number()) wrong_type(where + key, "a list of lists of numbers", table);
      values.push_back(value.get<float>());
    }
  }
  return rows;
}

Int8Ranges read_int8_ranges(const json& in, const std::string& where) {
  Int8Ranges ranges;
  ranges.calibration = read_string(in, where, "calibration");
  ranges.minimum = read_table(in, where, "min");
  ranges.maximum = read_table(in, where, "max");
  if (ranges.minimum.size() != ranges.maximum.size() ||
      ranges.minimum.front().size() != ranges.maximum.front().size()) {
    throw std::invalid_argument("fields \"" + where + "min\" and \"" + where +
                                "max\" must have one shape");
  }
  return ranges;
}

ShardDescription read_shard(const json& in, const std::string& where) {
  ShardDescription shard;
  shard.index = read_count(field(in, where, "index"), where + "index");
  shard.count = read_count(field(in, where, "count"), where + "count");
  shard.begin = read_count(field(in, where, "begin"), where + "begin");
  shard.end = read_count(field(in, where, "end"), where + "end");
  shard.total_records = read_count(field(in, where, "total_records"), where + "total_records");
  shard.complete = read_bool(in, where, "complete");
  const json& settings = field(in, where, "settings");
  if (!settings.is_object()) wrong_type(where + "settings", "an object of strings", settings);
  for (const auto& [name, value] : settings.items()) {
    if (!value.is_string()) wrong_type(where + "settings." + name, "a string", value);
    shard.settings[name] = value.get<std::string>();
  }
  if (shard.count == 0 || shard.index >= shard.count || shard.begin > shard.end ||
      shard.end > shard.total_records) {
    throw std::invalid_argument("field \"" + where.substr(0, where.size() - 1) + "\" is inconsistent: shard " +
                                std::to_string(shard.index) + " of " + std::to_string(shard.count) +
                                ", records [" + std::to_string(shard.begin) + ", " + std::to_string(shard.end) +
                                ") of " + std::to_string(shard.total_records));
  }
  return shard;
}

// Appends "path: a in x, b in y" for every leaf where two JSON values differ.
void describe_json_difference(const json& expected, const json& actual, const std::string& path,
                              const std::string& expected_name, const std::string& actual_name,
                              std::string& differences) {
  if (expected.is_object() && actual.is_object()) {
    json keys = json::object();
    for (const auto& item : expected.items()) keys[item.key()] = true;
    for (const auto& item : actual.items()) keys[item.key()] = true;
    for (const auto& item : keys.items()) {
      const std::string& key = item.key();
      const json missing = "(none)";
      describe_json_difference(expected.contains(key) ? expected[key] : missing,
                               actual.contains(key) ? actual[key] : missing,
                               path.empty() ? key : path + "." + key, expected_name, actual_name, differences);
    }
    return;
  }
  if (expected == actual) return;
  if (!differences.empty()) differences += "; ";
  differences += path + ": " + expected.dump() + " in " + expected_name + ", " + actual.dump() + " in " + actual_name;
}

// The fields describe_run_difference compares.
json run_description(const Manifest& manifest) {
  json description = manifest;
  for (const char* progress : {"bert_embed_version", "rows", "files"}) description.erase(progress);
  for (const char* progress : {"first_record", "end_record"}) description["input"].erase(progress);
  for (const char* place : {"index", "count", "begin", "end", "complete"}) description["shard"].erase(place);
  return description;
}

[[noreturn]] void manifest_error(const fs::path& file, const std::string& problem) {
  throw std::runtime_error("manifest " + file.string() + ": " + problem);
}

// The file's bytes: a regular file (O_NONBLOCK: opening a FIFO must not wait
// for a writer) of at most kMaxManifestBytes.
std::string read_small_file(const fs::path& file) {
  const int fd = ::open(file.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);
  if (fd < 0) manifest_error(file, std::strerror(errno));
  std::string text;
  std::string problem;
  struct stat info {};
  if (::fstat(fd, &info) != 0) {
    problem = std::strerror(errno);
  } else if (!S_ISREG(info.st_mode)) {
    problem = "not a regular file";
  } else {
    text.resize(kMaxManifestBytes + 1);
    std::size_t size = 0;
    while (size < text.size()) {
      const ssize_t got = ::read(fd, text.data() + size, text.size() - size);
      if (got == 0) break;
      if (got > 0) {
        size += static_cast<std::size_t>(got);
      } else if (errno != EINTR) {
        problem = std::strerror(errno);
        break;
      }
    }
    if (size > kMaxManifestBytes) problem = "over 1 MiB, too big for a manifest";
    text.resize(size);
  }
  ::close(fd);
  if (!problem.empty()) manifest_error(file, problem);
  return text;
}

std::string list_text(const std::vector<std::string>& items) {
  std::string text = "[";
  for (std::size_t i = 0; i < items.size(); ++i) text += (i > 0 ? ", " : "") + items[i];
  return text + "]";
}

std::string list_text(const std::vector<int>& items) {
  std::vector<std::string> texts;
  for (const int item : items) texts.push_back(std::to_string(item));
  return list_text(texts);
}

}  // namespace

std::string bert_embed_version() { return BERT_EMBED_VERSION; }

Manifest::Manifest() = default;

bool VectorSource::operator==(const VectorSource& other) const {
  return describe_difference(*this, "", other, "").empty();
}

std::string describe_difference(const VectorSource& expected, const std::string& expected_name,
                                const VectorSource& actual, const std::string& actual_name) {
  std::string differences;
  const auto compare = [&](const char* field, const std::string& expected_value,
                           const std::string& actual_value) {
    if (expected_value == actual_value) return;
    if (!differences.empty()) differences += "; ";
    differences += std::string(field) + ": " + expected_value + " in " + expected_name + ", " +
                   actual_value + " in " + actual_name;
  };
  compare("architecture", expected.architecture, actual.architecture);
  compare("weights_sha256", expected.weights_sha256, actual.weights_sha256);
  compare("layers", list_text(expected.layers), list_text(actual.layers));
  compare("slot_labels", list_text(expected.slot_labels), list_text(actual.slot_labels));
  compare("layer_aggregation", expected.layer_aggregation, actual.layer_aggregation);
  compare("pooling", expected.pooling, actual.pooling);
  compare("exclude_special", expected.exclude_special ? "true" : "false",
          actual.exclude_special ? "true" : "false");
  compare("dtype", expected.dtype, actual.dtype);
  compare("dim", std::to_string(expected.dim), std::to_string(actual.dim));
  return differences;
}

void to_json(json& out, const VectorSource& source) {
  out = json{{"architecture", source.architecture},
             {"weights_sha256", source.weights_sha256},
             {"layers", source.layers},
             {"slot_labels", source.slot_labels},
             {"layer_aggregation", source.layer_aggregation},
             {"pooling", source.pooling},
             {"exclude_special", source.exclude_special},
             {"dtype", source.dtype},
             {"dim", source.dim}};
}

void from_json(const json& in, VectorSource& source) { source = read_source(in, ""); }

void to_json(json& out, const ShardDescription& shard) {
  out = json{{"index", shard.index},   {"count", shard.count},
             {"begin", shard.begin},   {"end", shard.end},
             {"total_records", shard.total_records}, {"complete", shard.complete},
             {"settings", shard.settings}};
}

void to_json(json& out, const ManifestFile& file) {
  out = json{{"name", file.name}, {"size_bytes", file.size_bytes}, {"rows", file.rows}};
}

void from_json(const json& in, ManifestFile& file) { file = read_file(in, ""); }

void to_json(json& out, const Manifest& manifest) {
  json input = {{"name", manifest.input.name},
                {"size_bytes", nullptr},
                {"first_record", manifest.input.first_record},
                {"end_record", manifest.input.end_record}};
  if (manifest.input.size_bytes) input["size_bytes"] = *manifest.input.size_bytes;
  out = json{{"manifest_version", kManifestVersion},
             {"kind", manifest.kind},
             {"bert_embed_version", manifest.bert_embed_version},
             {"source", manifest.source},
             {"postprocess", manifest.postprocess},
             {"input", input},
             {"text",
              {{"prefix", manifest.text.prefix},
               {"strip_text", manifest.text.strip_text},
               {"max_length", manifest.text.max_length}}},
             {"format", manifest.format},
             {"output_dtype", manifest.output_dtype},
             {"rows", manifest.rows},
             {"dim", manifest.dim},
             {"files", manifest.files},
             {"shard", manifest.shard}};
  if (manifest.int8_ranges) {
    out["int8_ranges"] = json{{"calibration", manifest.int8_ranges->calibration},
                              {"min", manifest.int8_ranges->minimum},
                              {"max", manifest.int8_ranges->maximum}};
  }
}

void from_json(const json& in, Manifest& manifest) {
  const json& version = field(in, "", "manifest_version");
  if (version != kManifestVersion) {
    throw std::invalid_argument("manifest_version " + version.dump() + " is not the one this " +
                                "bert-embed reads (" + std::to_string(kManifestVersion) + ")");
  }
  Manifest read;
  read.kind = read_string(in, "", "kind");
  read.bert_embed_version = read_string(in, "", "bert_embed_version");
  read.source = read_source(field(in, "", "source"), "source.");
  read.postprocess = read_string(in, "", "postprocess");
  read.input = read_input(field(in, "", "input"), "input.");
  if (in.contains("text")) {
    const json& text = field(in, "", "text");
    read.text.prefix = read_string(text, "text.", "prefix");
    read.text.strip_text = read_bool(text, "text.", "strip_text");
    read.text.max_length = read_count(field(text, "text.", "max_length"), "text.max_length");
  }
  read.format = read_string(in, "", "format");
  read.output_dtype = read_string(in, "", "output_dtype");
  read.rows = read_signed_count(in, "", "rows");
  read.dim = read_signed_count(in, "", "dim");
  const json& files = field(in, "", "files");
  if (!files.is_array()) wrong_type("files", "a list", files);
  for (std::size_t i = 0; i < files.size(); ++i)
    read.files.push_back(read_file(files[i], "files[" + std::to_string(i) + "]."));
  if (in.contains("int8_ranges")) read.int8_ranges = read_int8_ranges(in["int8_ranges"], "int8_ranges.");
  // Manifests written before shards existed describe one whole, complete run.
  if (in.contains("shard")) {
    read.shard = read_shard(in["shard"], "shard.");
  } else {
    read.shard.begin = read.input.first_record;
    read.shard.end = read.shard.total_records = read.input.end_record;
  }
  manifest = std::move(read);
}

std::string describe_run_difference(const Manifest& expected, const std::string& expected_name,
                                    const Manifest& actual, const std::string& actual_name) {
  std::string differences;
  describe_json_difference(run_description(expected), run_description(actual), "", expected_name, actual_name,
                           differences);
  return differences;
}

fs::path manifest_path_for(const fs::path& output) {
  fs::path manifest = output;
  manifest += ".manifest.json";
  return manifest;
}

Manifest read_manifest(const fs::path& file) {
  const std::string text = read_small_file(file);
  json document;
  try {
    document = json::parse(text);
  } catch (const json::parse_error& error) {
    manifest_error(file, std::string("not valid JSON: ") + error.what());
  }
  try {
    return document.get<Manifest>();
  } catch (const std::invalid_argument& error) {
    manifest_error(file, error.what());
  }
}

std::string manifest_text(const Manifest& manifest) { return json(manifest).dump(2) + "\n"; }

void write_manifest(const fs::path& file, const Manifest& manifest) {
  OutputFile out(file);
  out.stream() << manifest_text(manifest);
  out.commit();
}

void check_manifest_files(const Manifest& manifest, const fs::path& manifest_file) {
  for (const ManifestFile& listed : manifest.files) {
    const fs::path path = manifest_file.parent_path() / listed.name;
    std::error_code error;
    const std::uintmax_t size = fs::file_size(path, error);
    std::string problem;
    if (error) {
      problem = path.string() + ": " + error.message();
    } else if (size != listed.size_bytes) {
      problem = path.string() + " has " + std::to_string(size) + " bytes, the manifest lists " +
                std::to_string(listed.size_bytes);
    } else {
      continue;
    }
    manifest_error(manifest_file,
                   problem + ": its output was not committed completely, or changed since");
  }
}

}  // namespace bert_embed
