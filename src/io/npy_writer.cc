#include "bert_embed/io/npy_writer.h"

#include <algorithm>
#include <limits>
#include <stdexcept>
#include <string>

#include "bert_embed/io/npy_reader.h"
#include "bert_embed/vectors/quantize.h"
#include "io/temporary_files.h"

namespace bert_embed {
namespace {

static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__,
              "NPY data is written as little-endian from memory");

constexpr char kMagic[] = "\x93NUMPY\x01\x00";  // format version 1.0
constexpr std::size_t kMagicSize = sizeof(kMagic) - 1;
constexpr std::size_t kPrefixSize = kMagicSize + 2;  // magic, version, uint16 header length
constexpr std::size_t kAlignment = 64;               // numpy aligns the data to 64 bytes

std::string header_dict(const char* descr, const std::vector<std::int64_t>& shape) {
  std::string dims;
  for (std::size_t i = 0; i < shape.size(); ++i) {
    if (i > 0) dims += ", ";
    dims += std::to_string(shape[i]);
  }
  if (shape.size() == 1) dims += ',';
  return std::string("{'descr': '") + descr + "', 'fortran_order': False, 'shape': (" + dims +
         "), }";
}

std::size_t aligned_header_size(const std::string& dict) {
  const std::size_t unpadded = kPrefixSize + dict.size() + 1;  // + the final '\n'
  return (unpadded + kAlignment - 1) / kAlignment * kAlignment;
}

// The whole header, padded with spaces to `size` bytes (a multiple of 64).
std::string npy_header(const char* descr, const std::vector<std::int64_t>& shape,
                       std::size_t size) {
  const std::string dict = header_dict(descr, shape);
  if (aligned_header_size(dict) > size) throw std::logic_error("NPY header does not fit");
  const std::size_t dict_size = size - kPrefixSize;
  std::string header(kMagic, kMagicSize);
  header += static_cast<char>(dict_size & 0xff);
  header += static_cast<char>(dict_size >> 8);
  header += dict;
  header.append(dict_size - dict.size() - 1, ' ');
  header += '\n';
  return header;
}

// Room for any shape of `dims` dimensions: each at most 19 digits (int64).
std::size_t reserved_header_size(const char* descr, std::size_t dims) {
  return aligned_header_size(header_dict(
      descr, std::vector<std::int64_t>(dims, std::numeric_limits<std::int64_t>::max())));
}

void write_bytes(OutputFile& file, const void* data, std::size_t size) {
  file.stream().write(static_cast<const char*>(data), static_cast<std::streamsize>(size));
  file.check_written();
}

const char* descr_of(OutputDtype dtype) {
  switch (dtype) {
    case OutputDtype::kFloat32:
      return "<f4";
    case OutputDtype::kFloat16:
      return "<f2";
    case OutputDtype::kInt8:
      return "|i1";
    case OutputDtype::kBinary:
      return "|u1";
  }
  throw std::logic_error("NpyWriter: unknown output dtype");
}

// Spooled rows are quantized in blocks of about this many bytes of float32.
constexpr std::int64_t kQuantizeBlockBytes = 4 << 20;

OutputFile& open_seekable(OutputSet& outputs, const std::filesystem::path& path) {
  OutputFile& file = outputs.add(path);
  if (!file.is_seekable()) {
    throw std::runtime_error("NPY output needs a regular output file, not " + file.name() +
                             ": its header is rewritten at the end (use -o FILE.npy, or "
                             "--format jsonl to stream)");
  }
  return file;
}

}  // namespace

void write_npy_array(OutputFile& file, const char* descr, const std::vector<std::int64_t>& shape,
                     const void* data, std::size_t bytes) {
  const std::string header =
      npy_header(descr, shape, aligned_header_size(header_dict(descr, shape)));
  write_bytes(file, header.data(), header.size());
  write_bytes(file, data, bytes);
}

std::string reserved_npy_header(const char* descr, const std::vector<std::int64_t>& shape) {
  return npy_header(descr, shape, reserved_header_size(descr, shape.size()));
}

std::filesystem::path npy_offsets_path(const std::filesystem::path& output) {
  std::filesystem::path offsets = output;
  if (offsets.extension() == ".npy") offsets.replace_extension();
  offsets += ".offsets.npy";
  return offsets;
}

NpyWriter::NpyWriter(OutputSet& outputs, const WriterOptions& options, Manifest provenance)
    : EmbeddingWriter(outputs, options, std::move(provenance)),
      dtype_(options.dtype),
      descr_(descr_of(options.dtype)),
      data_(open_seekable(outputs, options.output)) {
  if (options.per_token) {
    offsets_file_ = &open_seekable(outputs, npy_offsets_path(options.output));
  } else {
    // A killed per-token run to this output left its offsets' temporary too,
    // which opening the offsets would have removed.
    temporaries::remove_stale(npy_offsets_path(options.output));
  }
  if (dtype_ == OutputDtype::kInt8) {
    if (options.int8_ranges) {
      int8_calibration_ = options.int8_ranges->calibration;
      int8_minimum_ = int8_minimum(*options.int8_ranges);
      int8_maximum_ = int8_maximum(*options.int8_ranges);
      const std::vector<std::int64_t> expected = {static_cast<std::int64_t>(slots()), dim()};
      if (int8_minimum_.sizes().vec() != expected || dim() == 0) {
        throw std::invalid_argument("int8 ranges from " + options.int8_ranges->calibration + " are of " +
                                    format_shape(int8_minimum_.sizes().vec()) + " (slots, dimensions), the " +
                                    "vectors of " + format_shape(expected));
      }
    } else if (options.resume) {
      throw std::invalid_argument("an int8 output calibrated on its own vectors cannot be resumed: give it "
                                  "ranges from a statistics file (--int8-ranges)");
    } else {
      calibration_spool_ = std::make_unique<RowSpool>(std::filesystem::absolute(options.output).parent_path());
    }
  }
  if (options.resume) {
    rows_ = options.resume->rows;
    return;
  }
  const std::string header = reserved_npy_header(descr_, shape());
  write_bytes(data_, header.data(), header.size());
  if (offsets_file_ != nullptr) {
    const std::string offsets_header = reserved_npy_header("<i8", {0});
    write_bytes(*offsets_file_, offsets_header.data(), offsets_header.size());
    write_offset(0);
  }
}

void NpyWriter::write_offset(std::int64_t offset) { write_bytes(*offsets_file_, &offset, sizeof(offset)); }

std::vector<std::int64_t> NpyWriter::shape() const {
  std::vector<std::int64_t> shape = {rows_};
  if (layers_apart()) shape.push_back(static_cast<std::int64_t>(slots()));
  shape.push_back(dtype_ == OutputDtype::kBinary ? (dim() + 7) / 8 : dim());
  return shape;
}

void NpyWriter::write_rows(const at::Tensor& rows) {
  rows_ += rows.size(0);
  switch (dtype_) {
    case OutputDtype::kFloat32:
      write_encoded(rows);
      return;
    case OutputDtype::kFloat16:
      write_encoded(rows.to(at::kHalf));
      return;
    case OutputDtype::kBinary:
      write_encoded(pack_sign_bits(rows));
      return;
    case OutputDtype::kInt8:
      if (calibration_spool_) {
        calibration_spool_->append(rows);
        const at::Tensor low = rows.amin(0);
        const at::Tensor high = rows.amax(0);
        int8_minimum_ = int8_minimum_.defined() ? at::minimum(int8_minimum_, low) : low;
        int8_maximum_ = int8_maximum_.defined() ? at::maximum(int8_maximum_, high) : high;
      } else {
        write_encoded(quantize_int8(rows, int8_minimum_, int8_maximum_));
      }
      return;
  }
}

void NpyWriter::write_encoded(const at::Tensor& rows) {
  const at::Tensor bytes = rows.contiguous();
  write_bytes(data_, bytes.data_ptr(), bytes.nbytes());
}

void NpyWriter::write_pooled(const PooledRecord& record) {
  write_rows(record.vectors.contiguous().unsqueeze(0));
}

void NpyWriter::write_tokens(const TokenRecord& record) {
  // [slots, tokens, dim] -> rows of [slots, dim], one per token.
  write_rows(record.embeddings.transpose(0, 1).contiguous());
  write_offset(rows_);
}

void NpyWriter::flush_output() {
  data_.flush();
  if (offsets_file_ != nullptr) offsets_file_->flush();
}

std::vector<CoveredFile> NpyWriter::finish_output(Manifest& manifest) {
  if (dtype_ == OutputDtype::kInt8) {
    if (calibration_spool_) {
      const std::int64_t spooled = calibration_spool_->rows();
      if (spooled == 0) {  // no vectors, no range: an empty array still says how it was made
        int8_minimum_ = at::zeros({static_cast<std::int64_t>(slots()), dim()});
        int8_maximum_ = int8_minimum_;
      }
      const std::int64_t block =
          std::max<std::int64_t>(1, kQuantizeBlockBytes / (static_cast<std::int64_t>(slots()) * dim() * 4));
      for (std::int64_t first = 0; first < spooled; first += block) {
        const at::Tensor rows = calibration_spool_->read(first, std::min(block, spooled - first));
        write_encoded(quantize_int8(rows, int8_minimum_, int8_maximum_));
      }
      calibration_spool_.reset();
    }
    manifest.int8_ranges = int8_ranges_of(int8_minimum_, int8_maximum_, int8_calibration_);
  }
  const auto rewrite_header = [](OutputFile& file, const std::string& header) {
    file.stream().seekp(0);
    write_bytes(file, header.data(), header.size());
  };
  rewrite_header(data_, reserved_npy_header(descr_, shape()));
  if (offsets_file_ == nullptr) return {{&data_, rows_}};
  const std::int64_t offsets = records_written() + 1;
  rewrite_header(*offsets_file_, reserved_npy_header("<i8", {offsets}));
  return {{&data_, rows_}, {offsets_file_, offsets}};
}

}  // namespace bert_embed
