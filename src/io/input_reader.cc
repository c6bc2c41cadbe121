#include "bert_embed/io/input_reader.h"

#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cstring>
#include <iostream>
#include <utility>

#include <nlohmann/json.hpp>

#include "bert_embed/text/utf8.h"

namespace bert_embed {
namespace {

constexpr std::string_view kByteOrderMark = "\xEF\xBB\xBF";
constexpr std::string_view kDefaultJsonlTextField = "text";
constexpr std::string_view kDefaultTsvTextColumn = "1";

bool is_column_number(std::string_view field) {
  return !field.empty() && std::all_of(field.begin(), field.end(), [](char c) {
    return c >= '0' && c <= '9';
  });
}

std::vector<std::string_view> split_tabs(std::string_view line) {
  std::vector<std::string_view> cells;
  std::size_t start = 0;
  while (true) {
    const std::size_t tab = line.find('\t', start);
    cells.push_back(line.substr(start, tab == std::string_view::npos ? tab : tab - start));
    if (tab == std::string_view::npos) return cells;
    start = tab + 1;
  }
}

std::string field_description(std::string_view field) {
  return is_column_number(field) ? "column " + std::string(field)
                                 : "column \"" + std::string(field) + "\"";
}

// nlohmann's messages start with "[json.exception.parse_error.101] ".
std::string without_exception_tag(const char* message) {
  std::string_view text = message;
  if (!text.empty() && text.front() == '[') {
    const std::size_t end = text.find("] ");
    if (end != std::string_view::npos) text.remove_prefix(end + 2);
  }
  return std::string(text);
}

std::optional<std::uint64_t> regular_file_size(const std::filesystem::path& path) {
  std::error_code error;
  if (!std::filesystem::is_regular_file(path, error)) return std::nullopt;
  const std::uintmax_t size = std::filesystem::file_size(path, error);
  if (error) return std::nullopt;
  return size;
}

// stdin redirected from a file (`< big.txt`) still allows an ETA.
std::optional<std::uint64_t> stdin_file_size() {
  struct stat status {};
  if (fstat(STDIN_FILENO, &status) != 0 || !S_ISREG(status.st_mode)) return std::nullopt;
  return static_cast<std::uint64_t>(status.st_size);
}

}  // namespace

InputError::InputError(const std::string& input_name, std::size_t line_number,
                       const std::string& problem)
    : std::runtime_error(input_name + ":" + std::to_string(line_number) + ": " + problem) {}

// 0-based tsv column of each field.
struct InputReader::FieldColumns {
  std::size_t text = 0;
  std::optional<std::size_t> pair;
  std::optional<std::size_t> id;
};

InputReader::InputReader(const std::filesystem::path& path, InputOptions options)
    : in_(&std::cin), options_(std::move(options)) {
  if (path == "-") {
    name_ = "<stdin>";
    size_bytes_ = stdin_file_size();
  } else {
    name_ = path.string();
    if (std::filesystem::is_directory(path)) {
      throw std::runtime_error("cannot read " + name_ + ": it is a directory");
    }
    file_ = std::make_unique<std::ifstream>(path, std::ios::binary);
    if (!*file_) {
      throw std::runtime_error("cannot open " + name_ + ": " + std::strerror(errno));
    }
    in_ = file_.get();
    size_bytes_ = regular_file_size(path);
  }
}

InputReader::InputReader(std::istream& in, std::string name, InputOptions options)
    : in_(&in), name_(std::move(name)), options_(std::move(options)) {}

InputReader::~InputReader() = default;

bool InputReader::read_line(std::string& line) {
  if (!std::getline(*in_, line)) {
    if (in_->bad()) throw std::runtime_error("error reading " + name_);
    return false;
  }
  ++line_number_;
  offset_ += line.size() + (in_->eof() ? 0 : 1);
  line_prefix_bytes_ = 0;
  if (line_number_ == 1 && std::string_view(line).substr(0, kByteOrderMark.size()) == kByteOrderMark) {
    line.erase(0, kByteOrderMark.size());
    line_prefix_bytes_ = kByteOrderMark.size();
  }
  if (!line.empty() && line.back() == '\r') line.pop_back();
  return true;
}

std::string InputReader::valid_utf8(std::string line) const {
  const std::size_t invalid_at = find_invalid_utf8(line);
  if (invalid_at == std::string_view::npos) return line;
  if (options_.on_invalid_utf8 == InvalidUtf8Policy::kReplace) return replace_invalid_utf8(line);
  throw InputError(name_, line_number_,
                   "invalid UTF-8 at byte " + std::to_string(line_prefix_bytes_ + invalid_at + 1) +
                       " (--on-invalid-utf8 replace substitutes U+FFFD)");
}

std::optional<InputRecord> InputReader::next() {
  if (options_.format == InputFormat::kTsv && !columns_) read_tsv_header();
  std::string line;
  if (!read_line(line)) return std::nullopt;
  line = valid_utf8(std::move(line));

  InputRecord record;
  switch (options_.format) {
    case InputFormat::kText:
      record.text = std::move(line);
      break;
    case InputFormat::kJsonl:
      record = parse_jsonl(line);
      break;
    case InputFormat::kTsv:
      record = parse_tsv(line);
      break;
  }
  record.index = records_++;
  record.line_number = line_number_;
  record.end_offset = offset_;
  return record;
}

void InputReader::read_tsv_header() {
  columns_ = std::make_unique<FieldColumns>();
  const std::string text_field =
      options_.text_field.empty() ? std::string(kDefaultTsvTextColumn) : options_.text_field;
  const bool has_header = !is_column_number(text_field) ||
                          (!options_.pair_field.empty() && !is_column_number(options_.pair_field)) ||
                          (!options_.id_field.empty() && !is_column_number(options_.id_field));
  std::vector<std::string_view> header;
  std::string header_line;
  if (has_header) {
    if (!read_line(header_line)) {
      throw InputError(name_, 1, "no header line, which the tsv column names need");
    }
    header_line = valid_utf8(std::move(header_line));
    header = split_tabs(header_line);
  }
  const auto column_of = [&](const std::string& field) -> std::size_t {
    if (is_column_number(field)) {
      std::size_t number = 0;
      const auto [end, error] = std::from_chars(field.data(), field.data() + field.size(), number);
      if (error != std::errc() || end != field.data() + field.size() || number == 0) {
        throw std::invalid_argument("bad tsv column number \"" + field + "\" (columns count from 1)");
      }
      return number - 1;
    }
    const auto found = std::find(header.begin(), header.end(), field);
    if (found == header.end()) {
      throw InputError(name_, 1, "the header has no column \"" + field + "\"");
    }
    return static_cast<std::size_t>(found - header.begin());
  };
  columns_->text = column_of(text_field);
  if (!options_.pair_field.empty()) columns_->pair = column_of(options_.pair_field);
  if (!options_.id_field.empty()) columns_->id = column_of(options_.id_field);
}

InputRecord InputReader::parse_tsv(std::string_view line) const {
  const std::vector<std::string_view> cells = split_tabs(line);
  const auto cell = [&](std::size_t column, const std::string& field) {
    if (column >= cells.size()) {
      throw InputError(name_, line_number_,
                       "has " + std::to_string(cells.size()) + " tab-separated columns, so no " +
                           field_description(field.empty() ? kDefaultTsvTextColumn : field));
    }
    return std::string(cells[column]);
  };
  InputRecord record;
  record.text = cell(columns_->text, options_.text_field);
  if (columns_->pair) record.pair = cell(*columns_->pair, options_.pair_field);
  if (columns_->id) record.id = cell(*columns_->id, options_.id_field);
  return record;
}

InputRecord InputReader::parse_jsonl(std::string_view line) const {
  nlohmann::json object;
  try {
    object = nlohmann::json::parse(line);
  } catch (const nlohmann::json::parse_error& error) {
    throw InputError(name_, line_number_, "invalid JSON: " + without_exception_tag(error.what()));
  }
  if (!object.is_object()) {
    throw InputError(name_, line_number_,
                     std::string("expected a JSON object, found ") + object.type_name());
  }
  const auto string_field = [&](const std::string& field) {
    const auto found = object.find(field);
    if (found == object.end()) {
      throw InputError(name_, line_number_, "no field \"" + field + "\"");
    }
    if (!found->is_string()) {
      throw InputError(name_, line_number_,
                       "field \"" + field + "\" is a " + found->type_name() + ", not a string");
    }
    return found->get<std::string>();
  };
  InputRecord record;
  record.text = string_field(options_.text_field.empty() ? std::string(kDefaultJsonlTextField)
                                                         : options_.text_field);
  if (!options_.pair_field.empty()) record.pair = string_field(options_.pair_field);
  if (!options_.id_field.empty()) {
    const auto found = object.find(options_.id_field);
    if (found == object.end()) {
      throw InputError(name_, line_number_, "no field \"" + options_.id_field + "\"");
    }
    record.id = found->is_string() ? found->get<std::string>() : found->dump();
  }
  return record;
}

}  // namespace bert_embed
