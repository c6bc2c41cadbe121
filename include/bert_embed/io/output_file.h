// An output that is either complete or absent: a regular file is written to a
// temporary name beside its target and renamed onto it by commit(), so that a
// failed or interrupted run never leaves a file that looks complete. Several
// files of one run are committed together by an OutputSet (output_set.h).
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <ostream>
#include <string>

namespace bert_embed {

class OutputFile {
 public:
  // "-" or an empty path: standard output. An existing special file (a FIFO,
  // /dev/null) is written in place, as renaming onto it would replace it.
  // Otherwise a temporary ".<name>.tmp-<host>-<pid>-XXXXXX" is created beside
  // the destination, after removing those of ended processes of this host
  // (left by a SIGKILL). A symbolic link, dangling or not, is followed: the
  // data ends up in the file it names. Replacing an existing file keeps its
  // permissions (a new file gets the umask's), but, being a rename, gives it
  // a new inode: hard links to the old file keep the old data.
  // std::runtime_error naming the path when the output cannot be opened.
  explicit OutputFile(const std::filesystem::path& target);

  // A resumable output: written in place at partial_path_for(target), which
  // a crash or a kill leaves behind, so that a later run can go on from its
  // last checkpoint. The file is opened without truncating it and cut to
  // `keep_bytes` (what the checkpoint recorded; 0 starts afresh); writing
  // goes on at its end (when the partial file is missing, keep_bytes > 0 and
  // the target exists, a commit was interrupted after renaming it: the target
  // is renamed back first). commit() renames it onto the target; the destructor
  // leaves it. It is locked (flock) while open: a second run writing the same
  // output is refused. std::runtime_error naming the file when it cannot be
  // opened or locked, or holds fewer than keep_bytes bytes.
  struct Partial {
    std::uint64_t keep_bytes = 0;
  };
  OutputFile(const std::filesystem::path& target, Partial partial);
  // Removes the temporary file unless commit() succeeded.
  ~OutputFile();
  OutputFile(const OutputFile&) = delete;
  OutputFile& operator=(const OutputFile&) = delete;

  // Buffered; writes go to the file descriptor, so that a failure keeps its
  // reason (errno) for check_written().
  std::ostream& stream() { return stream_; }
  // True for regular files, whose stream can seek back (e.g. to rewrite a header).
  bool is_seekable() const { return kind_ == Kind::kTemporary || kind_ == Kind::kPartial; }
  bool is_stdout() const { return kind_ == Kind::kStdout; }
  // The path as the user gave it, or "<stdout>": for messages.
  const std::string& name() const { return name_; }
  // The path as given ("-" for standard output).
  const std::filesystem::path& path() const { return path_; }
  // Where the data ends up: the path with symbolic links followed (empty for
  // standard output).
  const std::filesystem::path& destination() const { return destination_; }

  // Each of these throws std::runtime_error "cannot write <name>: <reason>"
  // when a write has failed, the reason being the system's ("No space left
  // on device", "Broken pipe").
  void check_written() const;
  // Passes what is buffered on to the file, pipe or terminal.
  void flush();
  // Flushes and syncs a partial file to disk (a checkpoint); returns its size.
  std::uint64_t sync();
  // Where a partial file is written (empty for other kinds).
  const std::filesystem::path& partial_path() const { return partial_; }
  // Flushes, syncs a regular file to disk and closes it; returns its size
  // (0 for standard output and special files). Once only; later calls return
  // the same size.
  std::uint64_t close();
  // close(), then renames the temporary file onto the target.
  void commit();

 private:
  enum class Kind { kStdout, kTemporary, kInPlace, kPartial };
  class Buffer;

  [[noreturn]] void fail(const std::string& problem) const;

  Kind kind_ = Kind::kStdout;
  std::filesystem::path path_;
  std::string name_;
  std::filesystem::path destination_;  // the target, symbolic links followed
  std::filesystem::path temporary_;    // kTemporary: where it is written first
  std::filesystem::path partial_;      // kPartial: where it is written first
  int fd_ = -1;
  std::unique_ptr<Buffer> buffer_;
  std::ostream stream_;
  bool closed_ = false;
  std::uint64_t size_ = 0;
  bool committed_ = false;
};

// OUT -> OUT.partial, beside the target.
std::filesystem::path partial_path_for(const std::filesystem::path& target);

// Refuses an output that is the input file itself, compared by device and
// inode, so that a hard link or symbolic link to the input is refused too
// (writing it would destroy the input). Input "-" is standard input (refused
// when it is redirected from the output file); an empty input is none.
// Outputs "-", empty, nonexistent or not regular files pass. Throws
// std::invalid_argument naming both.
void check_output_is_not_input(const std::filesystem::path& input,
                               const std::filesystem::path& output);

// For main(), before any thread starts: SIGINT, SIGTERM and SIGHUP remove
// every temporary file of this process, then end it by the signal (the shell
// reports 130, 143, 129); a signal ignored at startup stays ignored. SIGPIPE
// is ignored, so that writing to a closed pipe fails as an error naming the
// output ("Broken pipe"). Once per process; later calls do nothing.
void install_interrupt_cleanup();

}  // namespace bert_embed
