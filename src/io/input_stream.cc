#include "bert_embed/io/input_stream.h"

#include <fcntl.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <stdexcept>
#include <utility>

namespace bert_embed {
namespace {

std::runtime_error system_error(const std::string& what, const std::string& name) {
  return std::runtime_error(what + " " + name + ": " + std::strerror(errno));
}

}  // namespace

// A read buffer over a file descriptor. Before each blocking read it polls
// the descriptor together with an eventfd that interrupt() signals.
class InputStream::Buffer : public std::streambuf {
 public:
  Buffer(int fd, bool owns_fd, std::string name)
      : fd_(fd), owns_fd_(owns_fd), name_(std::move(name)), bytes_(kBufferBytes) {
    stop_fd_ = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (stop_fd_ < 0) throw system_error("cannot create an eventfd for", name_);
  }

  ~Buffer() override {
    close(stop_fd_);
    if (owns_fd_) close(fd_);
  }

  void on_waiting(std::function<void()> callback) { on_waiting_ = std::move(callback); }

  void interrupt() {
    const std::uint64_t one = 1;
    // An eventfd write of 1 only fails when the counter would overflow.
    [[maybe_unused]] const ssize_t written = write(stop_fd_, &one, sizeof(one));
  }

 protected:
  int_type underflow() override {
    if (gptr() < egptr()) return traits_type::to_int_type(*gptr());
    if (!wait_until_readable()) return traits_type::eof();
    ssize_t count;
    do {
      count = read(fd_, bytes_.data(), bytes_.size());
    } while (count < 0 && errno == EINTR);
    if (count < 0) throw system_error("cannot read", name_);
    if (count == 0) return traits_type::eof();
    setg(bytes_.data(), bytes_.data(), bytes_.data() + count);
    return traits_type::to_int_type(*gptr());
  }

 private:
  // 64 KiB: reads of a large file cost the same from 16 KiB up; lines of a
  // pipe come as they are written, whatever the size.
  static constexpr std::size_t kBufferBytes = 64 * 1024;

  // False when interrupted.
  bool wait_until_readable() {
    pollfd fds[2] = {{fd_, POLLIN, 0}, {stop_fd_, POLLIN, 0}};
    int ready = poll_retrying(fds, 0);
    if (ready == 0) {
      if (on_waiting_) on_waiting_();
      ready = poll_retrying(fds, -1);
    }
    // A hang-up or error on fd_ is left to read(), which reports it.
    return (fds[1].revents & POLLIN) == 0;
  }

  int poll_retrying(pollfd (&fds)[2], int timeout_ms) {
    int ready;
    do {
      ready = poll(fds, 2, timeout_ms);
    } while (ready < 0 && errno == EINTR);
    if (ready < 0) throw system_error("cannot wait for", name_);
    return ready;
  }

  int fd_;
  bool owns_fd_;
  int stop_fd_ = -1;
  std::string name_;
  std::vector<char> bytes_;
  std::function<void()> on_waiting_;
};

InputStream::InputStream(const std::filesystem::path& path) : stream_(nullptr) {
  int fd = STDIN_FILENO;
  const bool is_stdin = path == "-";
  name_ = is_stdin ? "<stdin>" : path.string();
  if (!is_stdin) {
    fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) throw system_error("cannot open", name_);
  }
  struct stat status {};
  if (fstat(fd, &status) == 0 && S_ISREG(status.st_mode)) {
    size_bytes_ = static_cast<std::uint64_t>(status.st_size);
  }
  try {
    buffer_ = std::make_unique<Buffer>(fd, !is_stdin, name_);
  } catch (...) {
    if (!is_stdin) close(fd);
    throw;
  }
  stream_.rdbuf(buffer_.get());
  stream_.exceptions(std::ios::badbit);
}

InputStream::~InputStream() = default;

void InputStream::on_waiting(std::function<void()> callback) { buffer_->on_waiting(std::move(callback)); }

void InputStream::interrupt() { buffer_->interrupt(); }

}  // namespace bert_embed
