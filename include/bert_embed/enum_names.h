// One table of names per enum option, used for parsing, --help and messages
// alike, so that the names live in one place.
#pragma once

#include <array>
#include <cstddef>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace bert_embed {

template <typename Enum>
struct EnumName {
  std::string_view name;
  Enum value;
};

template <typename Enum, std::size_t N>
using EnumNames = std::array<EnumName<Enum>, N>;

// "a, b or c"
template <typename Enum, std::size_t N>
std::string list_names(const EnumNames<Enum, N>& names) {
  std::string text;
  for (std::size_t i = 0; i < N; ++i) {
    text += (i == 0 ? "" : i + 1 == N ? " or " : ", ");
    text += names[i].name;
  }
  return text;
}

template <typename Enum, std::size_t N>
std::vector<std::string> all_names(const EnumNames<Enum, N>& names) {
  std::vector<std::string> result;
  for (const EnumName<Enum>& entry : names) result.emplace_back(entry.name);
  return result;
}

// Throws std::invalid_argument: unknown <what> "x" (expected a, b or c).
template <typename Enum, std::size_t N>
Enum parse_name(const EnumNames<Enum, N>& names, std::string_view text, std::string_view what) {
  for (const EnumName<Enum>& entry : names) {
    if (entry.name == text) return entry.value;
  }
  throw std::invalid_argument("unknown " + std::string(what) + " \"" + std::string(text) + "\" (expected " +
                              list_names(names) + ")");
}

template <typename Enum, std::size_t N>
std::string_view name_of(const EnumNames<Enum, N>& names, Enum value) {
  for (const EnumName<Enum>& entry : names) {
    if (entry.value == value) return entry.name;
  }
  throw std::invalid_argument("no name for enum value " + std::to_string(static_cast<int>(value)));
}

}  // namespace bert_embed
