#include "bert_embed/io/row_spool.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <stdexcept>
#include <string>
#include <vector>

namespace bert_embed {
namespace {

std::runtime_error spool_error(const std::string& what, const std::filesystem::path& directory) {
  return std::runtime_error(what + " a temporary file of vectors in " + directory.string() + ": " +
                            std::strerror(errno));
}

}  // namespace

RowSpool::RowSpool(const std::filesystem::path& directory) : directory_(directory) {
  // mkstemp and unlink rather than O_TMPFILE, which NFS and others lack.
  std::string name = (directory / ".bert-embed-spool-XXXXXX").string();
  fd_ = mkostemp(name.data(), O_CLOEXEC);
  if (fd_ < 0) throw spool_error("cannot create", directory_);
  unlink(name.c_str());
}

RowSpool::~RowSpool() { close(fd_); }

void RowSpool::append(const at::Tensor& rows) {
  if (rows.size(0) == 0) return;
  if (rows_ == 0) {
    row_shape_ = rows.sizes().slice(1).vec();
    row_bytes_ = static_cast<std::int64_t>(sizeof(float)) * (rows.numel() / rows.size(0));
  }
  if (rows.sizes().slice(1).vec() != row_shape_ || rows.scalar_type() != at::kFloat) {
    throw std::invalid_argument("RowSpool::append: rows of another shape or type than the first");
  }
  const at::Tensor values = rows.contiguous();
  const char* data = static_cast<const char*>(values.data_ptr());
  std::size_t left = static_cast<std::size_t>(values.numel()) * sizeof(float);
  off_t offset = static_cast<off_t>(rows_ * row_bytes_);
  while (left > 0) {
    const ssize_t written = pwrite(fd_, data, left, offset);
    if (written < 0 && errno == EINTR) continue;
    if (written <= 0) throw spool_error("cannot write", directory_);
    data += written;
    offset += written;
    left -= static_cast<std::size_t>(written);
  }
  rows_ += rows.size(0);
}

at::Tensor RowSpool::read(std::int64_t first, std::int64_t count) const {
  if (first < 0 || count < 0 || first + count > rows_) throw std::out_of_range("RowSpool::read: rows out of range");
  std::vector<std::int64_t> shape{count};
  shape.insert(shape.end(), row_shape_.begin(), row_shape_.end());
  at::Tensor rows = at::empty(shape, at::kFloat);
  char* data = static_cast<char*>(rows.data_ptr());
  std::size_t left = static_cast<std::size_t>(count * row_bytes_);
  off_t offset = static_cast<off_t>(first * row_bytes_);
  while (left > 0) {
    const ssize_t got = pread(fd_, data, left, offset);
    if (got < 0 && errno == EINTR) continue;
    if (got <= 0) throw spool_error("cannot read back", directory_);
    data += got;
    offset += got;
    left -= static_cast<std::size_t>(got);
  }
  return rows;
}

}  // namespace bert_embed
