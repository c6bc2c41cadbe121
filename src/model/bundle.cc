#include "bert_embed/model/bundle.h"

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <limits>
#include <map>
#include <stdexcept>
#include <string_view>
#include <system_error>
#include <vector>

#include <nlohmann/json.hpp>

#include "model/export_command.h"

namespace bert_embed {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

// 2: bundle.json records the sha256 of every file.
constexpr int kSupportedFormatVersion = 2;

// bundle.json with accessors whose errors name the file and the (dotted) field.
class BundleJson {
 public:
  BundleJson(fs::path file, json root) : file_(std::move(file)), root_(std::move(root)) {}

  const json& root() const { return root_; }

  const json& field(std::string_view name) const {
    const json* node = find(name);
    if (node == nullptr) fail(name, "missing");
    return *node;
  }

  bool has(std::string_view name) const { return find(name) != nullptr; }

  std::int64_t positive_integer(std::string_view name,
                                std::int64_t max = std::numeric_limits<std::int64_t>::max()) const {
    return integer_in(name, 1, max);
  }

  std::int64_t integer_in(std::string_view name, std::int64_t min, std::int64_t max) const {
    const json& value = field(name);
    if (!value.is_number_integer()) fail(name, "must be an integer, got " + value.dump());
    // nlohmann stores non-negative literals as unsigned: compare in that type
    // so that huge values cannot wrap into range (min is never negative here).
    const bool in_range = value.is_number_unsigned()
                              ? value.get<std::uint64_t>() >= static_cast<std::uint64_t>(min) &&
                                    value.get<std::uint64_t>() <= static_cast<std::uint64_t>(max)
                              : value.get<std::int64_t>() >= min && value.get<std::int64_t>() <= max;
    if (!in_range) {
      fail(name, "must be an integer in [" + std::to_string(min) + ", " + std::to_string(max) + "], got " +
                     value.dump());
    }
    return value.get<std::int64_t>();
  }

  int positive_int(std::string_view name) const {
    return static_cast<int>(positive_integer(name, std::numeric_limits<int>::max()));
  }

  bool boolean(std::string_view name) const {
    const json& value = field(name);
    if (!value.is_boolean()) fail(name, "must be true or false, got " + value.dump());
    return value.get<bool>();
  }

  std::string string(std::string_view name) const {
    const json& value = field(name);
    if (!value.is_string()) fail(name, "must be a string, got " + value.dump());
    return value.get<std::string>();
  }

  std::string one_of(std::string_view name, const std::vector<std::string>& allowed) const {
    std::string value = string(name);
    for (const std::string& candidate : allowed) {
      if (value == candidate) return value;
    }
    std::string expected;
    for (const std::string& candidate : allowed) {
      expected += (expected.empty() ? "\"" : ", \"") + candidate + "\"";
    }
    fail(name, "must be one of " + expected + ", got \"" + value + "\"");
  }

  std::vector<std::string> strings(std::string_view name) const {
    const json& value = field(name);
    const auto is_string = [](const json& item) { return item.is_string(); };
    if (!value.is_array() || !std::all_of(value.begin(), value.end(), is_string)) {
      fail(name, "must be a list of strings, got " + value.dump());
    }
    return value.get<std::vector<std::string>>();
  }

  // A JSON object mapping plain file names to sha256 hex digests.
  std::map<std::string, std::string> file_hashes(std::string_view name) const {
    const json& value = field(name);
    if (!value.is_object()) fail(name, "must be an object of file name -> sha256, got " + value.dump());
    std::map<std::string, std::string> hashes;
    for (const auto& [file, digest] : value.items()) {
      const std::string entry = std::string(name) + "." + file;
      if (file.empty() || file == "." || file == ".." || file.find('/') != std::string::npos) {
        fail(entry, "is not a file name of the bundle directory");
      }
      if (!digest.is_string() || digest.get<std::string>().size() != 64 ||
          digest.get<std::string>().find_first_not_of("0123456789abcdef") != std::string::npos) {
        fail(entry, "must be a sha256 of 64 lowercase hex digits, got " + digest.dump());
      }
      hashes.emplace(file, digest.get<std::string>());
    }
    return hashes;
  }

  [[noreturn]] void fail(std::string_view name, const std::string& problem) const {
    throw std::runtime_error(file_.string() + ": field '" + std::string(name) + "' " + problem);
  }

  const fs::path& file() const { return file_; }

 private:
  // The (dotted) field, or nullptr when it or an object above it is missing.
  const json* find(std::string_view name) const {
    const json* node = &root_;
    std::size_t start = 0;
    while (true) {
      const std::size_t dot = name.find('.', start);
      const std::string key(name.substr(start, dot == std::string_view::npos ? name.npos : dot - start));
      if (!node->is_object() || !node->contains(key)) return nullptr;
      node = &(*node)[key];
      if (dot == std::string_view::npos) return node;
      start = dot + 1;
    }
  }

  fs::path file_;
  json root_;
};

BundleJson load_bundle_json(const fs::path& dir) {
  if (!fs::is_directory(dir)) {
    throw std::runtime_error("bundle directory " + dir.string() +
                             (fs::exists(dir) ? " is not a directory" : " does not exist") +
                             "; make a bundle with " + std::string(kExportUsage));
  }
  const fs::path file = dir / "bundle.json";
  std::error_code ignored;
  if (fs::is_directory(file, ignored)) {
    throw std::runtime_error(file.string() + " cannot be read: it is a directory; re-export the bundle with " +
                             std::string(kExportUsage));
  }
  std::ifstream in(file);
  if (!in && errno != ENOENT) {
    throw std::runtime_error(file.string() + " cannot be read: " + std::strerror(errno));
  }
  if (!in) {
    const bool is_checkpoint = fs::exists(dir / "config.json");
    throw std::runtime_error(
        dir.string() + " is not a bert-embed bundle (" + file.string() + " is missing)" +
        (is_checkpoint ? "; it looks like a HuggingFace checkpoint: export it with "
                       : "; make a bundle with ") +
        std::string(kExportUsage));
  }
  try {
    return BundleJson(file, json::parse(in));
  } catch (const json::parse_error& error) {
    throw std::runtime_error(file.string() + ": invalid JSON: " + error.what());
  }
}

// tokenizer.added_tokens: [{"content": ..., "id": ..., "lstrip": ..., "rstrip": ...}, ...].
std::vector<AddedToken> read_added_tokens(const BundleJson& bundle, std::int64_t max_id) {
  const json& list = bundle.field("tokenizer.added_tokens");
  if (!list.is_array()) bundle.fail("tokenizer.added_tokens", "must be a list of objects, got " + list.dump());
  std::vector<AddedToken> tokens;
  for (std::size_t i = 0; i < list.size(); ++i) {
    const json& item = list[i];
    const std::string name = "tokenizer.added_tokens[" + std::to_string(i) + "]";
    const bool valid = item.is_object() && item.value("content", json()).is_string() &&
                       !item["content"].get<std::string>().empty() && item.value("id", json()).is_number_unsigned() &&
                       item["id"].get<std::uint64_t>() <= static_cast<std::uint64_t>(max_id) &&
                       item.value("lstrip", json()).is_boolean() && item.value("rstrip", json()).is_boolean();
    if (!valid) {
      bundle.fail(name, "must be {\"content\": non-empty string, \"id\": integer in [0, " + std::to_string(max_id) +
                            "], \"lstrip\": bool, \"rstrip\": bool}, got " + item.dump());
    }
    tokens.push_back({item["content"].get<std::string>(), item["id"].get<std::int64_t>(), item["lstrip"].get<bool>(),
                      item["rstrip"].get<bool>()});
  }
  return tokens;
}

// The tokenizer section: the piece tokenizer with its settings, its
// vocabulary file (one of tokenizer.files), the framing, the special ids and
// the added tokens. Every setting of the piece tokenizer is required, so that
// nothing falls back to a default the model was not trained with; bundles
// written before framing, added_tokens and id_offset existed (BERT and
// ALBERT) read as bert framing, no added tokens and offset 0.
TokenizerDescription read_tokenizer_description(const BundleJson& bundle, const fs::path& dir) {
  TokenizerDescription description;
  const std::string kind = bundle.one_of("tokenizer.kind", {"wordpiece", "sentencepiece", "bpe"});
  const std::vector<std::string> files = bundle.strings("tokenizer.files");
  const auto tokenizer_file = [&](const std::vector<std::string>& candidates) {
    for (const std::string& candidate : candidates) {
      if (std::find(files.begin(), files.end(), candidate) != files.end()) return dir / candidate;
    }
    bundle.fail("tokenizer.files", "names no vocabulary (expected " + candidates.front() +
                                       (candidates.size() > 1 ? " or " + candidates.back() : "") + ")");
  };
  if (kind == "wordpiece") {
    description.pieces = WordPieceSettings{bundle.boolean("tokenizer.do_lower_case"),
                                           bundle.boolean("tokenizer.strip_accents"),
                                           bundle.boolean("tokenizer.tokenize_chinese_chars")};
    description.vocabulary_file = tokenizer_file({"vocab.txt", "tokenizer.json"});
  } else if (kind == "sentencepiece") {
    const std::int64_t id_offset =
        bundle.has("tokenizer.id_offset") ? bundle.integer_in("tokenizer.id_offset", 0, 1) : 0;
    description.pieces = SentencePieceSettings{bundle.boolean("tokenizer.do_lower_case"),
                                               bundle.boolean("tokenizer.remove_space"),
                                               bundle.boolean("tokenizer.keep_accents"), id_offset};
    description.vocabulary_file = tokenizer_file({"spiece.model", "sentencepiece.bpe.model"});
  } else {
    if (bundle.boolean("tokenizer.add_prefix_space")) {
      bundle.fail("tokenizer.add_prefix_space", "is true, which bert-embed does not support");
    }
    description.vocabulary_file = tokenizer_file({"vocab.json"});
    description.pieces = BytePairSettings{tokenizer_file({"merges.txt"})};
  }
  description.framing = bundle.has("tokenizer.framing")
                            ? parse_name(kFramingNames, bundle.one_of("tokenizer.framing", all_names(kFramingNames)),
                                         "framing")
                            : Framing::kBert;
  constexpr std::int64_t kMaxId = std::numeric_limits<std::int32_t>::max();
  SpecialTokenIds& ids = description.special_ids;
  // -1: none (GPT-2 has no cls, sep or mask token).
  const auto id = [&](const char* role, bool required) {
    const std::string name = std::string("tokenizer.special_ids.") + role;
    if (!required && (!bundle.has(name) || bundle.field(name) == json(-1))) return std::int64_t{-1};
    return bundle.integer_in(name, 0, kMaxId);
  };
  const bool framed = description.framing != Framing::kNone;
  ids.cls = id("cls", framed);
  ids.sep = id("sep", framed);
  ids.pad = id("pad", true);
  ids.unk = id("unk", true);
  ids.mask = id("mask", false);
  if (bundle.has("tokenizer.added_tokens")) description.added_tokens = read_added_tokens(bundle, kMaxId);
  description.origin = bundle.file().string() + "'s tokenizer.special_ids";
  return description;
}

// defaults: the options the model is meant to be run with (a
// sentence-transformers directory's pooling, normalization, max_seq_length).
BundleDefaults read_defaults(const BundleJson& bundle) {
  BundleDefaults defaults;
  if (!bundle.has("defaults")) return defaults;
  const json& section = bundle.field("defaults");
  if (!section.is_object()) bundle.fail("defaults", "must be an object, got " + section.dump());
  const std::map<std::string, std::optional<std::string>*> text_fields = {{"pooling", &defaults.pooling},
                                                                            {"layers", &defaults.layers},
                                                                            {"normalize", &defaults.normalize},
                                                                            {"prefix", &defaults.prefix}};
  for (const auto& item : section.items()) {
    const std::string& key = item.key();
    const std::string name = "defaults." + key;
    if (const auto field = text_fields.find(key); field != text_fields.end()) {
      *field->second = bundle.string(name);
    } else if (key == "max_length") {
      defaults.max_length = static_cast<std::size_t>(bundle.positive_integer(name, std::int64_t{1} << 20));
    } else if (key == "strip_text") {
      defaults.strip_text = bundle.boolean(name);
    } else {
      bundle.fail(name, "is not a default bert-embed knows (pooling, layers, normalize, max_length, strip_text, "
                        "prefix)");
    }
  }
  return defaults;
}

// The command that exports this bundle again, as far as bundle.json tells it.
std::string reexport_command(const BundleJson& bundle, const fs::path& dir) {
  const json& root = bundle.root();
  const json source = root.contains("source") && root["source"].is_object() ? root["source"] : json::object();
  std::string command = "scripts/export_model.py --force";
  if (root.value("int8_model", json()) == json(true)) command += " --int8";
  if (source.value("random_init", json()) == json(true)) {
    return command + " --random-init --seed " + source.value("seed", json(0)).dump() +
           " (--preset NAME | --config FILE) --vocab TOKENIZER_DIR " + dir.string();
  }
  command += " SOURCE_DIR " + dir.string();
  const json checkpoint = source.value("dir", json());
  if (checkpoint.is_string()) {
    command += " (SOURCE_DIR: the checkpoint directory '" + checkpoint.get<std::string>() + "' it came from)";
  }
  return command;
}

}  // namespace

BundleInfo read_bundle_info(const fs::path& dir) {
  const BundleJson bundle = load_bundle_json(dir);

  const std::int64_t format_version = bundle.positive_integer("format_version");
  if (format_version != kSupportedFormatVersion) {
    bundle.fail("format_version", "is " + std::to_string(format_version) + " but this bert-embed reads " +
                                      std::to_string(kSupportedFormatVersion) +
                                      " (bundles that record the sha256 of their files); re-export it: " +
                                      reexport_command(bundle, dir));
  }

  BundleInfo info;
  info.dir = dir;
  info.architecture = bundle.one_of(
      "architecture", {"bert", "albert", "roberta", "xlm-roberta", "distilbert", "electra", "mpnet", "gpt2", "xlnet"});
  info.num_layers = bundle.positive_int("num_layers");
  info.hidden_size = bundle.positive_int("hidden_size");
  info.embedding_size = bundle.positive_int("embedding_size");
  info.max_positions = bundle.positive_int("max_position_embeddings");
  info.vocab_size = bundle.positive_integer("vocab_size");
  info.has_pooler = bundle.boolean("has_pooler");
  info.has_int8_model = bundle.boolean("int8_model");
  info.tokenizer = read_tokenizer_description(bundle, dir);
  info.defaults = read_defaults(bundle);
  info.weights_sha256 = bundle.string("source.sha256");
  info.file_sha256 = bundle.file_hashes("files");
  if (info.architecture == "bert" && info.embedding_size != info.hidden_size) {
    bundle.fail("embedding_size", "is " + std::to_string(info.embedding_size) +
                                      " but a bert model embeds at hidden_size " +
                                      std::to_string(info.hidden_size));
  }
  return info;
}

std::unique_ptr<Tokenizer> load_bundle_tokenizer(const BundleInfo& info) {
  std::unique_ptr<Tokenizer> tokenizer = make_tokenizer(info.tokenizer);
  check_tokenizer_vocab_size(info, tokenizer->vocab_size());
  return tokenizer;
}

void check_tokenizer_vocab_size(const BundleInfo& info, std::size_t tokenizer_vocab_size) {
  if (tokenizer_vocab_size > static_cast<std::uint64_t>(info.vocab_size)) {
    throw std::runtime_error("bundle " + info.dir.string() + ": the tokenizer has " +
                             std::to_string(tokenizer_vocab_size) + " ids but " +
                             (info.dir / "bundle.json").string() + " gives vocab_size " +
                             std::to_string(info.vocab_size) +
                             " (the model's embedding rows); the tokenizer files do not belong to this model");
  }
}

}  // namespace bert_embed
