// The bytes of an input (a file, or stdin as "-") as a std::istream that a
// second thread can stop, and that says when it is about to wait for more
// input. Both serve the reading thread of the pipeline: it is always joined,
// even while blocked on a terminal or a pipe, and an interactive producer
// gets the vectors of the lines it wrote without waiting for more.
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <istream>
#include <memory>
#include <optional>
#include <streambuf>
#include <string>
#include <vector>

namespace bert_embed {

class InputStream {
 public:
  // Opens the file ("-": standard input, which is not closed). Throws
  // std::runtime_error naming the path when it cannot be opened.
  explicit InputStream(const std::filesystem::path& path);
  ~InputStream();
  InputStream(const InputStream&) = delete;
  InputStream& operator=(const InputStream&) = delete;

  std::istream& stream() { return stream_; }
  // "<stdin>" or the path as given, for messages.
  const std::string& name() const { return name_; }
  // Size in bytes when the input is a regular file (for an ETA and manifests).
  std::optional<std::uint64_t> size_bytes() const { return size_bytes_; }

  // Called on the reading thread each time a read finds no byte ready and is
  // about to block (never for a regular file, whose bytes are always ready).
  void on_waiting(std::function<void()> callback);

  // From any thread: a blocked or later read ends as if the input had ended.
  void interrupt();

  // A read error (EIO, EISDIR, ...) is thrown from the stream's reads as
  // std::runtime_error naming the input; std::istream passes it on because
  // its exception mask includes badbit.

 private:
  class Buffer;

  std::string name_;
  std::optional<std::uint64_t> size_bytes_;
  std::unique_ptr<Buffer> buffer_;
  std::istream stream_;
};

}  // namespace bert_embed
