// Typed, optional fields of the JSON settings files in a tokenizer directory
// (tokenizer_config.json, tokenizer.json), with errors that name the file and
// the field.
#pragma once

#include <cstddef>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>

#include <nlohmann/json.hpp>

namespace bert_embed {

class JsonSettings {
 public:
  // Parses a whole file, which must hold a JSON object.
  static JsonSettings read(const std::filesystem::path& file);

  // Absent or null fields give std::nullopt; a field of another type throws.
  std::optional<bool> optional_bool(const std::string& field) const;
  std::optional<std::string> optional_string(const std::string& field) const;
  std::optional<std::size_t> optional_size(const std::string& field) const;
  // A special token: a string, or an AddedToken object with a "content" string.
  std::optional<std::string> optional_token(const std::string& field) const;
  std::optional<JsonSettings> optional_object(const std::string& field) const;
  JsonSettings object(const std::string& field) const;

  const nlohmann::json& json() const { return *value_; }
  // Throws std::runtime_error "<file>: field <path>: <problem>".
  [[noreturn]] void fail(const std::string& field, const std::string& problem) const;

 private:
  JsonSettings(std::shared_ptr<const nlohmann::json> document, const nlohmann::json* value,
               std::filesystem::path file, std::string path);
  const nlohmann::json* find(const std::string& field) const;
  std::string field_path(const std::string& field) const;

  std::shared_ptr<const nlohmann::json> document_;  // keeps value_ alive
  const nlohmann::json* value_;
  std::filesystem::path file_;
  std::string path_;  // of value_ in the document, "" for the root
};

}  // namespace bert_embed
