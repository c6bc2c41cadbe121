#include "bert_embed/io/npy_reader.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <iterator>
#include <limits>
#include <stdexcept>
#include <string_view>

namespace bert_embed {
namespace {

static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__,
              "NPY data is read as little-endian into memory");

constexpr std::string_view kMagic("\x93NUMPY", 6);
// numpy writes headers of under a kilobyte, and its own loader refuses those
// over 10 000 bytes by default: 64 KiB leaves room, and bounds what a corrupt
// length can make us allocate.
constexpr std::uint32_t kMaxHeaderSize = 65536;

struct DtypeInfo {
  const char* descr;  // as NPY headers spell it
  const char* name;   // as messages do
  std::size_t size;
};
// Indexed by NpyDtype.
constexpr DtypeInfo kDtypes[] = {{"<f4", "float32", 4}, {"<f8", "float64", 8}, {"<i8", "int64", 8}};

const DtypeInfo& info(NpyDtype dtype) { return kDtypes[static_cast<int>(dtype)]; }

template <typename T>
constexpr NpyDtype dtype_of();
template <>
constexpr NpyDtype dtype_of<float>() {
  return NpyDtype::kFloat32;
}
template <>
constexpr NpyDtype dtype_of<double>() {
  return NpyDtype::kFloat64;
}
template <>
constexpr NpyDtype dtype_of<std::int64_t>() {
  return NpyDtype::kInt64;
}

struct HeaderFields {
  std::string descr;
  bool fortran_order = true;
  std::vector<std::int64_t> shape;
  bool has_descr = false, has_fortran_order = false, has_shape = false;
};

// The header is a Python dictionary literal such as
// {'descr': '<f4', 'fortran_order': False, 'shape': (3, 4), }
// padded with spaces and ended by '\n'. This parses exactly that grammar:
// string keys; string, boolean or integer-tuple values.
class HeaderParser {
 public:
  explicit HeaderParser(std::string_view text) : text_(text) {}

  // Returns an empty string on success, else what is wrong.
  std::string parse(HeaderFields& fields) {
    try {
      expect('{');
      while (!accept('}')) {
        const std::string key = string_value();
        expect(':');
        if (key == "descr") {
          fields.descr = string_value();
          fields.has_descr = true;
        } else if (key == "fortran_order") {
          fields.fortran_order = boolean_value();
          fields.has_fortran_order = true;
        } else if (key == "shape") {
          fields.shape = shape_value();
          fields.has_shape = true;
        } else {
          return "unknown header key '" + key + "'";
        }
        if (!accept(',')) {
          expect('}');
          break;
        }
      }
      skip_space();
      if (position_ != text_.size()) return "unexpected text after the header dictionary";
    } catch (const std::invalid_argument& error) {
      return error.what();
    }
    return "";
  }

 private:
  void skip_space() {
    while (position_ < text_.size() && (text_[position_] == ' ' || text_[position_] == '\n'))
      ++position_;
  }
  bool accept(char c) {
    skip_space();
    if (position_ < text_.size() && text_[position_] == c) {
      ++position_;
      return true;
    }
    return false;
  }
  void expect(char c) {
    if (!accept(c)) fail(std::string("'") + c + "' expected");
  }
  [[noreturn]] void fail(const std::string& problem) const {
    throw std::invalid_argument("malformed header: " + problem + " at byte " +
                                std::to_string(position_) + " of the dictionary");
  }
  std::string string_value() {
    skip_space();
    if (position_ >= text_.size() || (text_[position_] != '\'' && text_[position_] != '"'))
      fail("a quoted string expected");
    const char quote = text_[position_++];
    const std::size_t end = text_.find(quote, position_);
    if (end == std::string_view::npos) fail("unterminated string");
    const std::string value(text_.substr(position_, end - position_));
    position_ = end + 1;
    return value;
  }
  bool boolean_value() {
    skip_space();
    for (const auto& [word, value] : {std::pair{"True", true}, std::pair{"False", false}}) {
      if (text_.substr(position_, std::strlen(word)) == word) {
        position_ += std::strlen(word);
        return value;
      }
    }
    fail("True or False expected");
  }
  std::vector<std::int64_t> shape_value() {
    expect('(');
    std::vector<std::int64_t> shape;
    while (!accept(')')) {
      skip_space();
      std::int64_t value = 0;
      const std::size_t start = position_;
      for (; position_ < text_.size() && text_[position_] >= '0' && text_[position_] <= '9';
           ++position_) {
        const int digit = text_[position_] - '0';
        if (value > (std::numeric_limits<std::int64_t>::max() - digit) / 10)
          fail("dimension too large");
        value = value * 10 + digit;
      }
      if (position_ == start) fail("a dimension expected");
      shape.push_back(value);
      if (!accept(',')) {
        expect(')');
        break;
      }
    }
    return shape;
  }

  std::string_view text_;
  std::size_t position_ = 0;
};

}  // namespace

const char* npy_descr(NpyDtype dtype) { return info(dtype).descr; }

std::size_t npy_item_size(NpyDtype dtype) { return info(dtype).size; }

std::string format_shape(const std::vector<std::int64_t>& shape) {
  std::string text = "[";
  for (std::size_t i = 0; i < shape.size(); ++i)
    text += (i > 0 ? ", " : "") + std::to_string(shape[i]);
  return text + "]";
}

NpyReader::NpyReader(const std::filesystem::path& file) : path_(file) {
  const auto fail = [&](const std::string& problem) {
    throw std::runtime_error("NPY file " + path_.string() + ": " + problem);
  };
  file_.fd = ::open(file.c_str(), O_RDONLY | O_CLOEXEC);
  if (file_.fd < 0) fail(std::string("cannot open: ") + std::strerror(errno));
  struct stat status {};
  if (::fstat(file_.fd, &status) != 0) fail(std::string("cannot stat: ") + std::strerror(errno));
  // A device or FIFO has no size to check the data against (/dev/zero would
  // read forever).
  if (!S_ISREG(status.st_mode)) fail("not a regular file");
  const std::uint64_t file_size = static_cast<std::uint64_t>(status.st_size);

  unsigned char prefix[12];
  if (file_size < 10) fail("truncated header (" + std::to_string(file_size) + " bytes)");
  read_at(prefix, 10, 0);
  if (std::string_view(reinterpret_cast<const char*>(prefix), 6) != kMagic)
    fail("not an NPY file (no \\x93NUMPY magic)");
  const int major = prefix[6];
  std::uint32_t header_size = 0;
  std::uint64_t prefix_size = 0;
  if (major == 1) {
    header_size = prefix[8] | (prefix[9] << 8);
    prefix_size = 10;
  } else if (major == 2 || major == 3) {
    if (file_size < 12) fail("truncated header");
    read_at(prefix + 10, 2, 10);
    header_size = prefix[8] | (prefix[9] << 8) | (prefix[10] << 16) |
                  (static_cast<std::uint32_t>(prefix[11]) << 24);
    prefix_size = 12;
  } else {
    fail("unsupported format version " + std::to_string(major) + "." + std::to_string(prefix[7]));
  }
  if (header_size > kMaxHeaderSize) {
    fail("header of " + std::to_string(header_size) + " bytes (at most " +
         std::to_string(kMaxHeaderSize) + ")");
  }
  if (prefix_size + header_size > file_size) fail("truncated header");
  std::string header(header_size, '\0');
  read_at(header.data(), header_size, prefix_size);
  if (header.empty() || header.back() != '\n') fail("header does not end with a newline");

  HeaderFields fields;
  const std::string problem = HeaderParser(header).parse(fields);
  if (!problem.empty()) fail(problem);
  if (!fields.has_descr || !fields.has_fortran_order || !fields.has_shape)
    fail("header lacks 'descr', 'fortran_order' or 'shape'");
  if (fields.fortran_order) fail("Fortran order is not supported");
  const auto known =
      std::find_if(std::begin(kDtypes), std::end(kDtypes),
                   [&](const DtypeInfo& dtype) { return fields.descr == dtype.descr; });
  if (known == std::end(kDtypes))
    fail("unsupported dtype '" + fields.descr + "' (expected <f4, <f8 or <i8)");
  dtype_ = static_cast<NpyDtype>(known - std::begin(kDtypes));
  shape_ = fields.shape;
  data_offset_ = prefix_size + header_size;

  // The data must be exactly what is left of the file, checked before any
  // allocation.
  const std::uint64_t available = file_size - data_offset_;
  std::uint64_t bytes = info(dtype_).size;
  bool overflow = false;
  for (const std::int64_t dim : shape_)
    overflow = __builtin_mul_overflow(bytes, static_cast<std::uint64_t>(dim), &bytes) || overflow;
  if (overflow) bytes = std::numeric_limits<std::uint64_t>::max();
  if (bytes != available) {
    fail((bytes > available ? "truncated: " : "trailing bytes: ") + std::string("shape ") +
         format_shape(shape_) + " of " + info(dtype_).name + " needs " +
         (overflow ? "more than 2^64" : std::to_string(bytes)) + " bytes of data, the file has " +
         std::to_string(available));
  }
  for (std::size_t i = 1; i < shape_.size(); ++i) row_elements_ *= shape_[i];
}

NpyReader::FileDescriptor::~FileDescriptor() {
  if (fd >= 0) ::close(fd);
}

std::int64_t NpyReader::rows() const { return shape_.empty() ? 1 : shape_[0]; }

void NpyReader::expect(NpyDtype dtype, const std::vector<std::int64_t>& shape) const {
  if (dtype != dtype_ || shape != shape_) {
    throw std::runtime_error("NPY file " + path_.string() + ": " + info(dtype_).name + " " +
                             format_shape(shape_) + " where " + info(dtype).name + " " +
                             format_shape(shape) + " was expected");
  }
}

template <typename T>
void NpyReader::read_rows(std::int64_t first, std::int64_t count, T* out) const {
  if (dtype_of<T>() != dtype_) {
    throw std::logic_error("NpyReader::read_rows: " + path_.string() + " holds " +
                           info(dtype_).name + ", not " + info(dtype_of<T>()).name);
  }
  if (first < 0 || count < 0 || first > rows() || count > rows() - first) {
    throw std::logic_error("NpyReader::read_rows: rows [" + std::to_string(first) + ", +" +
                           std::to_string(count) + ") outside the " + std::to_string(rows()) +
                           " rows of " + path_.string());
  }
  const std::size_t row_bytes = static_cast<std::size_t>(row_elements_) * sizeof(T);
  const std::size_t size = static_cast<std::size_t>(count) * row_bytes;
  const std::uint64_t offset = data_offset_ + static_cast<std::uint64_t>(first) * row_bytes;
  read_at(out, size, offset);
}

void NpyReader::read_at(void* out, std::size_t size, std::uint64_t offset) const {
  std::size_t done = 0;
  while (done < size) {
    const ssize_t got = ::pread(file_.fd, static_cast<char*>(out) + done, size - done,
                                static_cast<off_t>(offset + done));
    if (got < 0 && errno == EINTR) continue;
    if (got <= 0) {
      throw std::runtime_error("NPY file " + path_.string() + ": " +
                               (got < 0 ? std::string("read error: ") + std::strerror(errno)
                                        : std::string("shorter than when it was opened")));
    }
    done += static_cast<std::size_t>(got);
  }
}

template <typename T>
std::vector<T> NpyReader::read_all() const {
  std::vector<T> values(static_cast<std::size_t>(rows() * row_elements_));
  read_rows(0, rows(), values.data());
  return values;
}

template void NpyReader::read_rows(std::int64_t, std::int64_t, float*) const;
template void NpyReader::read_rows(std::int64_t, std::int64_t, double*) const;
template void NpyReader::read_rows(std::int64_t, std::int64_t, std::int64_t*) const;
template std::vector<float> NpyReader::read_all() const;
template std::vector<double> NpyReader::read_all() const;
template std::vector<std::int64_t> NpyReader::read_all() const;

}  // namespace bert_embed
