#include "bert_embed/io/input_reader.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cstring>
#include <utility>

#include <nlohmann/json.hpp>

#include "bert_embed/text/utf8.h"

namespace bert_embed {
namespace {

constexpr std::string_view kByteOrderMark = "\xEF\xBB\xBF";
constexpr std::string_view kDefaultJsonlTextField = "text";
constexpr std::string_view kDefaultTsvTextColumn = "1";
// Bytes read from the input at a time.
constexpr std::size_t kReadBufferBytes = std::size_t{64} << 10;

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

// Cuts line to at most max bytes, back to the start of a UTF-8 character the
// cut would split (at most three bytes back: further is not UTF-8 anyway).
void cut_line(std::string& line, std::size_t max) {
  std::size_t cut = max;
  const auto is_continuation = [&](std::size_t pos) {
    return (static_cast<unsigned char>(line[pos]) & 0xC0) == 0x80;
  };
  while (cut > 0 && max - cut < 3 && is_continuation(cut)) --cut;
  line.resize(is_continuation(cut) ? max : cut);
}

InputOptions checked(InputOptions options) {
  if (options.max_line_bytes == 0) throw std::invalid_argument("the maximum line size must be at least 1 byte");
  return options;
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

std::optional<std::size_t> tsv_column_index(std::string_view field) {
  if (!is_column_number(field)) return std::nullopt;
  std::size_t number = 0;
  const auto [end, error] = std::from_chars(field.data(), field.data() + field.size(), number);
  if (error != std::errc() || end != field.data() + field.size() || number == 0) {
    throw std::invalid_argument("bad tsv column number \"" + std::string(field) + "\" (columns count from 1)");
  }
  return number - 1;
}

InputError::InputError(const std::string& input_name, std::size_t line_number,
                       const std::string& problem)
    : std::runtime_error(input_name + ":" + std::to_string(line_number) + ": " + problem) {}

// 0-based tsv column of each field.
struct InputReader::FieldColumns {
  std::size_t text = 0;
  std::optional<std::size_t> pair;
  std::optional<std::size_t> id;
};

class InputReader::Source {
 public:
  virtual ~Source() = default;
  // Up to size bytes into data; 0 at the end of the input. Throws
  // std::runtime_error on a read error.
  virtual std::size_t read(char* data, std::size_t size) = 0;
};

// A file descriptor read with read(2), which, unlike std::cin, reports
// errors (reading a directory is EISDIR, not the end of the input).
class InputReader::DescriptorSource final : public Source {
 public:
  DescriptorSource(int descriptor, bool owned, std::string name)
      : descriptor_(descriptor), owned_(owned), name_(std::move(name)) {}
  ~DescriptorSource() override {
    if (owned_) ::close(descriptor_);
  }
  DescriptorSource(const DescriptorSource&) = delete;
  DescriptorSource& operator=(const DescriptorSource&) = delete;

  std::size_t read(char* data, std::size_t size) override {
    while (true) {
      const ssize_t count = ::read(descriptor_, data, size);
      if (count >= 0) return static_cast<std::size_t>(count);
      if (errno != EINTR) throw std::runtime_error("error reading " + name_ + ": " + std::strerror(errno));
    }
  }

 private:
  int descriptor_;
  bool owned_;
  std::string name_;
};

class InputReader::StreamSource final : public Source {
 public:
  StreamSource(std::istream& in, std::string name) : in_(in), name_(std::move(name)) {}

  // What the stream has ready, at least one byte unless it ended: a pipe's
  // lines are passed on as they come (a co-process waits for each one's
  // vector), not once a buffer of them has gathered, as istream::read would.
  std::size_t read(char* data, std::size_t size) override {
    const bool ended = in_.peek() == std::char_traits<char>::eof();
    if (in_.bad()) throw std::runtime_error("error reading " + name_);
    if (ended) return 0;
    return static_cast<std::size_t>(in_.readsome(data, static_cast<std::streamsize>(size)));
  }

 private:
  std::istream& in_;
  std::string name_;
};

InputReader::InputReader(const std::filesystem::path& path, InputOptions options)
    : buffer_(kReadBufferBytes), options_(checked(std::move(options))) {
  if (path == "-") {
    name_ = "<stdin>";
    source_ = std::make_unique<DescriptorSource>(STDIN_FILENO, false, name_);
    size_bytes_ = stdin_file_size();
  } else {
    name_ = path.string();
    if (std::filesystem::is_directory(path)) {
      throw std::runtime_error("cannot read " + name_ + ": it is a directory");
    }
    const int descriptor = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (descriptor < 0) throw std::runtime_error("cannot open " + name_ + ": " + std::strerror(errno));
    source_ = std::make_unique<DescriptorSource>(descriptor, true, name_);
    size_bytes_ = regular_file_size(path);
  }
}

InputReader::InputReader(std::istream& in, std::string name, InputOptions options)
    : source_(std::make_unique<StreamSource>(in, name)),
      buffer_(kReadBufferBytes),
      name_(std::move(name)),
      options_(checked(std::move(options))) {}

InputReader::~InputReader() = default;

bool InputReader::fill_buffer() {
  buffer_begin_ = 0;
  buffer_end_ = source_->read(buffer_.data(), buffer_.size());
  return buffer_end_ > 0;
}

bool InputReader::read_line(std::string& line) {
  line.clear();
  const bool first_line = line_number_ == 0;
  // One byte over the limit tells a long line from one that ends in "\r\n";
  // the first line may also start with a byte order mark.
  const std::size_t keep = options_.max_line_bytes + 1 + (first_line ? kByteOrderMark.size() : 0);
  std::size_t skipped = 0;  // bytes of the line not kept
  std::uint64_t consumed = 0;
  bool read_any = false;
  bool ended_by_newline = false;
  while (buffer_begin_ < buffer_end_ || fill_buffer()) {
    read_any = true;
    const char* begin = buffer_.data() + buffer_begin_;
    const std::size_t available = buffer_end_ - buffer_begin_;
    const auto* newline = static_cast<const char*>(std::memchr(begin, '\n', available));
    const std::size_t length = newline ? static_cast<std::size_t>(newline - begin) : available;
    const std::size_t kept = std::min(length, keep - line.size());
    line.append(begin, kept);
    skipped += length - kept;
    const std::size_t taken = length + (newline ? 1 : 0);
    buffer_begin_ += taken;
    consumed += taken;
    if (newline) {
      ended_by_newline = true;
      break;
    }
  }
  if (!read_any) return false;
  // A byte order mark alone is an empty document, as an empty file is.
  if (first_line && !ended_by_newline && line == kByteOrderMark) return false;

  ++line_number_;
  offset_ += consumed;
  line_prefix_bytes_ = 0;
  if (first_line && std::string_view(line).substr(0, kByteOrderMark.size()) == kByteOrderMark) {
    line.erase(0, kByteOrderMark.size());
    line_prefix_bytes_ = kByteOrderMark.size();
  }
  if (skipped == 0 && !line.empty() && line.back() == '\r') line.pop_back();
  line_truncated_ = skipped > 0 || line.size() > options_.max_line_bytes;
  if (line_truncated_) {
    const std::string limit = "longer than the maximum of " + std::to_string(options_.max_line_bytes) +
                              " bytes (--max-line-bytes)";
    if (options_.format == InputFormat::kJsonl) {
      throw InputError(name_, line_number_, limit + "; a JSON line cannot be cut");
    }
    if (options_.on_long_line == OverflowPolicy::kError) throw InputError(name_, line_number_, limit);
    cut_line(line, options_.max_line_bytes);
  }
  return true;
}

bool InputReader::check_utf8(std::string_view line) const {
  const std::size_t invalid_at = find_invalid_utf8(line);
  if (invalid_at == std::string_view::npos) return true;
  if (options_.on_invalid_utf8 == InvalidUtf8Policy::kReplace) return false;
  throw InputError(name_, line_number_,
                   "invalid UTF-8 at byte " + std::to_string(line_prefix_bytes_ + invalid_at + 1) +
                       " (--on-invalid-utf8 replace substitutes U+FFFD)");
}

std::optional<InputRecord> InputReader::next() {
  if (options_.format == InputFormat::kTsv && !columns_) read_tsv_header();
  std::string line;
  if (!read_line(line)) return std::nullopt;
  const bool valid = check_utf8(line);

  InputRecord record;
  switch (options_.format) {
    case InputFormat::kText:
      record.text = valid ? std::move(line) : replace_invalid_utf8(line, &record.text_repairs);
      break;
    case InputFormat::kJsonl:
      record = parse_jsonl(valid ? line : replace_invalid_utf8(line));
      break;
    case InputFormat::kTsv:
      record = parse_tsv(line, valid);
      break;
  }
  record.index = records_++;
  record.line_number = line_number_;
  record.end_offset = offset_;
  record.line_truncated = line_truncated_;
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
    if (!check_utf8(header_line)) header_line = replace_invalid_utf8(header_line);
    header = split_tabs(header_line);
  }
  const auto column_of = [&](const std::string& field) -> std::size_t {
    if (const std::optional<std::size_t> index = tsv_column_index(field)) return *index;
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

InputRecord InputReader::parse_tsv(std::string_view line, bool valid_utf8) const {
  // Cells are repaired one by one, which is the same as repairing the line:
  // an ill-formed sequence never takes in a tab.
  const std::vector<std::string_view> cells = split_tabs(line);
  const auto cell = [&](std::size_t column, const std::string& field, Utf8Repairs* repairs) {
    if (column >= cells.size()) {
      throw InputError(name_, line_number_,
                       "has " + std::to_string(cells.size()) + " tab-separated columns, so no " +
                           field_description(field.empty() ? kDefaultTsvTextColumn : field));
    }
    return valid_utf8 ? std::string(cells[column]) : replace_invalid_utf8(cells[column], repairs);
  };
  InputRecord record;
  record.text = cell(columns_->text, options_.text_field, &record.text_repairs);
  if (columns_->pair) record.pair = cell(*columns_->pair, options_.pair_field, &record.pair_repairs);
  if (columns_->id) record.id = cell(*columns_->id, options_.id_field, nullptr);
  return record;
}

InputRecord InputReader::parse_jsonl(std::string_view line) const {
  // Counted while parsing, before a deep value could be built: the parser
  // itself is iterative, but dump() and the like recurse.
  const auto limit_depth = [&](int depth, nlohmann::json::parse_event_t event, nlohmann::json&) {
    const bool opens = event == nlohmann::json::parse_event_t::object_start ||
                       event == nlohmann::json::parse_event_t::array_start;
    if (opens && depth >= kMaxJsonDepth) {
      throw InputError(name_, line_number_,
                       "JSON nested deeper than " + std::to_string(kMaxJsonDepth) + " levels");
    }
    return true;
  };
  nlohmann::json object;
  try {
    object = nlohmann::json::parse(line, limit_depth);
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
