#include "text/json_settings.h"

#include <stdexcept>
#include <utility>

#include "text/tokenizer_files.h"

namespace bert_embed {

JsonSettings::JsonSettings(std::shared_ptr<const nlohmann::json> document, const nlohmann::json* value,
                           std::filesystem::path file, std::string path)
    : document_(std::move(document)), value_(value), file_(std::move(file)), path_(std::move(path)) {}

JsonSettings JsonSettings::read(const std::filesystem::path& file) {
  const std::string text = read_tokenizer_file(file);
  auto document = std::make_shared<nlohmann::json>();
  try {
    *document = nlohmann::json::parse(text);
  } catch (const nlohmann::json::exception& error) {
    throw std::runtime_error(file.string() + ": invalid JSON: " + error.what());
  }
  if (!document->is_object()) throw std::runtime_error(file.string() + ": expected a JSON object");
  const nlohmann::json* root = document.get();
  return JsonSettings(std::move(document), root, file, "");
}

void JsonSettings::fail(const std::string& field, const std::string& problem) const {
  throw std::runtime_error(file_.string() + ": field " + field_path(field) + ": " + problem);
}

std::string JsonSettings::field_path(const std::string& field) const {
  return path_.empty() ? field : path_ + "." + field;
}

const nlohmann::json* JsonSettings::find(const std::string& field) const {
  const auto it = value_->find(field);
  if (it == value_->end() || it->is_null()) return nullptr;
  return &*it;
}

std::optional<bool> JsonSettings::optional_bool(const std::string& field) const {
  const nlohmann::json* value = find(field);
  if (!value) return std::nullopt;
  if (!value->is_boolean()) fail(field, "expected true, false or null");
  return value->get<bool>();
}

std::optional<std::string> JsonSettings::optional_string(const std::string& field) const {
  const nlohmann::json* value = find(field);
  if (!value) return std::nullopt;
  if (!value->is_string()) fail(field, "expected a string");
  return value->get<std::string>();
}

std::optional<std::size_t> JsonSettings::optional_size(const std::string& field) const {
  const nlohmann::json* value = find(field);
  if (!value) return std::nullopt;
  if (!value->is_number_unsigned()) fail(field, "expected a non-negative integer");
  return value->get<std::size_t>();
}

std::optional<std::string> JsonSettings::optional_token(const std::string& field) const {
  const nlohmann::json* value = find(field);
  if (!value) return std::nullopt;
  if (value->is_string()) return value->get<std::string>();
  if (value->is_object()) {
    if (std::optional<std::string> content = object(field).optional_string("content")) return content;
  }
  fail(field, "expected a string or an object with a \"content\" string");
}

std::optional<JsonSettings> JsonSettings::optional_object(const std::string& field) const {
  const nlohmann::json* value = find(field);
  if (!value) return std::nullopt;
  if (!value->is_object()) fail(field, "expected an object");
  return JsonSettings(document_, value, file_, field_path(field));
}

JsonSettings JsonSettings::object(const std::string& field) const {
  std::optional<JsonSettings> found = optional_object(field);
  if (!found) fail(field, "missing");
  return *std::move(found);
}

}  // namespace bert_embed
