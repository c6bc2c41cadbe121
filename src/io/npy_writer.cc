#include "bert_embed/io/npy_writer.h"

#include <limits>
#include <stdexcept>
#include <string>

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
      data_(open_seekable(outputs, options.output)) {
  if (options.per_token) offsets_file_ = &open_seekable(outputs, npy_offsets_path(options.output));
  if (options.resume) {
    rows_ = options.resume->rows;
    return;
  }
  const std::string header = reserved_npy_header("<f4", shape());
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
  shape.push_back(dim());
  return shape;
}

void NpyWriter::write_rows(const at::Tensor& rows) {
  write_bytes(data_, rows.data_ptr<float>(), rows.numel() * sizeof(float));
  rows_ += rows.size(0);
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

std::vector<CoveredFile> NpyWriter::finish_output() {
  const auto rewrite_header = [](OutputFile& file, const std::string& header) {
    file.stream().seekp(0);
    write_bytes(file, header.data(), header.size());
  };
  rewrite_header(data_, reserved_npy_header("<f4", shape()));
  if (offsets_file_ == nullptr) return {{&data_, rows_}};
  const std::int64_t offsets = records_written() + 1;
  rewrite_header(*offsets_file_, reserved_npy_header("<i8", {offsets}));
  return {{&data_, rows_}, {offsets_file_, offsets}};
}

}  // namespace bert_embed
