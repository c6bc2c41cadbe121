#include "bert_embed/io/output_file.h"

#include <fcntl.h>
#include <poll.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <iostream>
#include <stdexcept>
#include <streambuf>
#include <system_error>
#include <vector>

#include "io/temporary_files.h"

namespace bert_embed {
namespace fs = std::filesystem;

// A write buffer over a file descriptor that keeps the errno of the first
// failed write or seek: std::ofstream reports only that something failed.
class OutputFile::Buffer final : public std::streambuf {
 public:
  explicit Buffer(int fd) : fd_(fd), buffer_(kCapacity) {
    setp(buffer_.data(), buffer_.data() + buffer_.size());
  }

  int error() const { return error_; }

 protected:
  int_type overflow(int_type c) override {
    if (!drain()) return traits_type::eof();
    if (!traits_type::eq_int_type(c, traits_type::eof())) {
      *pptr() = traits_type::to_char_type(c);
      pbump(1);
    }
    return traits_type::not_eof(c);
  }

  std::streamsize xsputn(const char* data, std::streamsize size) override {
    if (size == 0) return 0;  // data may then be null, which memcpy must not see
    const auto room = static_cast<std::streamsize>(epptr() - pptr());
    if (size <= room) {
      std::memcpy(pptr(), data, static_cast<std::size_t>(size));
      pbump(static_cast<int>(size));
      return size;
    }
    // Too big for what is left: write the buffer, then the block directly.
    if (!drain() || !write_all(data, static_cast<std::size_t>(size))) return 0;
    return size;
  }

  int sync() override { return drain() ? 0 : -1; }

  pos_type seekoff(off_type offset, std::ios_base::seekdir direction,
                   std::ios_base::openmode) override {
    if (!drain()) return pos_type(off_type(-1));
    const int whence = direction == std::ios_base::beg   ? SEEK_SET
                       : direction == std::ios_base::cur ? SEEK_CUR
                                                         : SEEK_END;
    const off_t position = ::lseek(fd_, offset, whence);
    if (position < 0) {
      record_error();
      return pos_type(off_type(-1));
    }
    return pos_type(position);
  }

  pos_type seekpos(pos_type position, std::ios_base::openmode which) override {
    return seekoff(off_type(position), std::ios_base::beg, which);
  }

 private:
  // 64 KiB: a few JSONL lines or NPY rows per write() call.
  static constexpr std::size_t kCapacity = 1 << 16;

  void record_error() {
    if (error_ == 0) error_ = errno != 0 ? errno : EIO;
  }

  bool drain() {
    const auto size = static_cast<std::size_t>(pptr() - pbase());
    setp(buffer_.data(), buffer_.data() + buffer_.size());
    return write_all(buffer_.data(), size);
  }

  bool write_all(const char* data, std::size_t size) {
    if (error_ != 0) return false;  // a file with a hole in it is worthless
    while (size > 0) {
      const ssize_t written = ::write(fd_, data, size);
      if (written >= 0) {
        data += written;
        size -= static_cast<std::size_t>(written);
      } else if (errno == EAGAIN || errno == EWOULDBLOCK) {
        // A non-blocking pipe or terminal (shared with the reader): wait
        // until it takes more.
        pollfd ready{fd_, POLLOUT, 0};
        ::poll(&ready, 1, -1);
      } else if (errno != EINTR) {
        record_error();
        return false;
      }
    }
    return true;
  }

  int fd_;
  std::vector<char> buffer_;
  int error_ = 0;
};

namespace {

constexpr int kMaxSymlinks = 40;  // as the kernel's ELOOP limit

// `target` with symbolic links followed, even a dangling one (fs::canonical
// refuses it): the path whose file the output replaces or creates.
fs::path follow_symbolic_links(const fs::path& target, const std::string& name) {
  fs::path path = target;
  for (int hop = 0; hop < kMaxSymlinks; ++hop) {
    struct stat info {};
    if (::lstat(path.c_str(), &info) != 0 || !S_ISLNK(info.st_mode)) return path;
    std::error_code error;
    const fs::path link = fs::read_symlink(path, error);
    if (error) throw std::runtime_error("cannot write " + name + ": " + error.message());
    path = link.is_absolute() ? link : path.parent_path() / link;
  }
  throw std::runtime_error("cannot write " + name + ": " + std::strerror(ELOOP));
}

}  // namespace

OutputFile::OutputFile(const fs::path& target) : path_(target), stream_(nullptr) {
  if (target.empty() || target == "-") {
    kind_ = Kind::kStdout;
    name_ = "<stdout>";
    std::cout.flush();  // whatever went out through std::cout comes first
    fd_ = STDOUT_FILENO;
    buffer_ = std::make_unique<Buffer>(fd_);
    stream_.rdbuf(buffer_.get());
    return;
  }
  name_ = target.string();
  if (!target.has_filename()) fail("it names a directory");
  destination_ = follow_symbolic_links(target, name_);

  struct stat existing {};
  const bool exists = ::stat(destination_.c_str(), &existing) == 0;
  if (!exists && errno != ENOENT) fail(std::strerror(errno));
  if (exists && S_ISDIR(existing.st_mode)) fail("it names a directory");
  if (exists && !S_ISREG(existing.st_mode)) {
    kind_ = Kind::kInPlace;
    fd_ = ::open(destination_.c_str(), O_WRONLY | O_CLOEXEC | O_NOCTTY);
    if (fd_ < 0) fail(std::strerror(errno));
  } else {
    kind_ = Kind::kTemporary;
    const fs::path dir = destination_.has_parent_path() ? destination_.parent_path() : ".";
    std::error_code error;
    if (!fs::is_directory(dir, error)) fail("directory " + dir.string() + " does not exist");
    temporaries::remove_stale(destination_);
    try {
      const temporaries::Created created = temporaries::create(destination_);
      temporary_ = created.path;
      fd_ = created.fd;
    } catch (const std::system_error& failure) {
      fail(failure.code().message());
    }
    if (exists && ::fchmod(fd_, existing.st_mode & 0777) != 0) {
      const std::string reason = std::strerror(errno);
      ::close(fd_);
      temporaries::remove(temporary_);
      fail("keeping the permissions of the file it replaces: " + reason);
    }
  }
  buffer_ = std::make_unique<Buffer>(fd_);
  stream_.rdbuf(buffer_.get());
}

OutputFile::OutputFile(const fs::path& target, Partial partial) : path_(target), stream_(nullptr) {
  name_ = target.string();
  if (target.empty() || target == "-" || !target.has_filename()) fail("a resumable output must be a file");
  destination_ = follow_symbolic_links(target, name_);
  struct stat existing {};
  if (::stat(destination_.c_str(), &existing) == 0 && !S_ISREG(existing.st_mode)) {
    fail("a resumable output must be a regular file");
  }
  kind_ = Kind::kPartial;
  partial_ = partial_path_for(destination_);
  // A commit interrupted after renaming the partial file onto the target:
  // the checkpoint still stands, so the file goes back to being partial.
  if (partial.keep_bytes > 0 && ::access(partial_.c_str(), F_OK) != 0 && errno == ENOENT &&
      ::access(destination_.c_str(), F_OK) == 0 && ::rename(destination_.c_str(), partial_.c_str()) != 0) {
    fail("renaming it back to " + partial_.string() + ": " + std::strerror(errno));
  }
  fd_ = ::open(partial_.c_str(), O_RDWR | O_CREAT | O_CLOEXEC | O_NOCTTY, 0666);
  if (fd_ < 0) fail(partial_.string() + ": " + std::strerror(errno));
  struct stat info {};
  std::string problem;
  if (::flock(fd_, LOCK_EX | LOCK_NB) != 0) {
    problem = errno == EWOULDBLOCK ? "another run is writing it" : std::strerror(errno);
  } else if (::fstat(fd_, &info) != 0) {
    problem = std::strerror(errno);
  } else if (static_cast<std::uint64_t>(info.st_size) < partial.keep_bytes) {
    problem = "it has " + std::to_string(info.st_size) + " bytes, its checkpoint records " +
              std::to_string(partial.keep_bytes) + ": it changed since";
  } else if (::ftruncate(fd_, static_cast<off_t>(partial.keep_bytes)) != 0 ||
             ::lseek(fd_, 0, SEEK_END) < 0) {
    problem = std::strerror(errno);
  }
  if (!problem.empty()) {
    ::close(fd_);
    fail(partial_.string() + ": " + problem);
  }
  buffer_ = std::make_unique<Buffer>(fd_);
  stream_.rdbuf(buffer_.get());
}

OutputFile::~OutputFile() {
  if (kind_ != Kind::kStdout && !closed_) ::close(fd_);
  if (kind_ == Kind::kTemporary && !committed_) temporaries::remove(temporary_);
}

void OutputFile::fail(const std::string& problem) const {
  throw std::runtime_error("cannot write " + name_ + ": " + problem);
}

void OutputFile::check_written() const {
  if (buffer_->error() != 0) fail(std::strerror(buffer_->error()));
  if (!stream_) fail("the stream failed");
}

void OutputFile::flush() {
  stream_.flush();
  check_written();
}

std::uint64_t OutputFile::sync() {
  if (kind_ != Kind::kPartial) throw std::logic_error("OutputFile::sync: " + name_ + " is not a partial file");
  flush();
  struct stat info {};
  if (::fsync(fd_) != 0 || ::fstat(fd_, &info) != 0) fail(partial_.string() + ": " + std::strerror(errno));
  return static_cast<std::uint64_t>(info.st_size);
}

std::uint64_t OutputFile::close() {
  if (closed_) return size_;
  flush();
  closed_ = true;
  if (kind_ == Kind::kStdout) return 0;
  struct stat info {};
  if (kind_ == Kind::kTemporary || kind_ == Kind::kPartial) {
    // Data on disk before the rename makes it visible: after a crash the
    // target holds the old file or the new one, never an empty one.
    if (::fsync(fd_) != 0 || ::fstat(fd_, &info) != 0) {
      const std::string reason = std::strerror(errno);
      ::close(fd_);
      fail(reason);
    }
    size_ = static_cast<std::uint64_t>(info.st_size);
  }
  // Some file systems (NFS) report a failed write only when the file is closed.
  if (::close(fd_) != 0) fail(std::strerror(errno));
  return size_;
}

void OutputFile::commit() {
  if (committed_) throw std::logic_error("OutputFile::commit: " + name_ + " was already committed");
  close();
  if (kind_ == Kind::kTemporary) {
    try {
      temporaries::rename_onto(temporary_, destination_);
    } catch (const std::system_error& failure) {
      fail(failure.what());
    }
  } else if (kind_ == Kind::kPartial && ::rename(partial_.c_str(), destination_.c_str()) != 0) {
    fail("renaming " + partial_.string() + " onto it: " + std::strerror(errno));
  }
  committed_ = true;
}

fs::path partial_path_for(const fs::path& target) {
  fs::path partial = target;
  partial += ".partial";
  return partial;
}

void check_output_is_not_input(const fs::path& input, const fs::path& output) {
  if (input.empty() || output.empty() || output == "-") return;
  struct stat output_file {};
  if (::stat(output.c_str(), &output_file) != 0 || !S_ISREG(output_file.st_mode)) return;
  const bool from_stdin = input == "-";
  struct stat input_file {};
  const int status =
      from_stdin ? ::fstat(STDIN_FILENO, &input_file) : ::stat(input.c_str(), &input_file);
  if (status != 0) return;  // reading the input reports why
  if (input_file.st_dev == output_file.st_dev && input_file.st_ino == output_file.st_ino) {
    throw std::invalid_argument("the output " + output.string() + " is the input " +
                                (from_stdin ? std::string("<stdin>") : input.string()) +
                                ": writing it would destroy the input");
  }
}

}  // namespace bert_embed
