// An output that is either complete or absent: a regular file is written to a
// temporary name beside its target and renamed onto it by commit(), so that a
// failed or interrupted run never leaves a file that looks complete.
#pragma once

#include <filesystem>
#include <fstream>
#include <ostream>
#include <string>

namespace bert_embed {

class OutputFile {
 public:
  // "-" or an empty path: standard output, passed through. An existing
  // special file (a FIFO, /dev/null) is written in place, as renaming onto it
  // would replace it. Otherwise a temporary ".<name>.tmp-XXXXXX" is created
  // in the target's directory; std::runtime_error naming the path when that
  // fails (missing or unwritable directory, target is a directory).
  explicit OutputFile(const std::filesystem::path& target);
  // Removes the temporary file unless commit() succeeded.
  ~OutputFile();
  OutputFile(const OutputFile&) = delete;
  OutputFile& operator=(const OutputFile&) = delete;

  std::ostream& stream() { return *out_; }
  // True for regular files, whose stream can seek back (e.g. to rewrite a header).
  bool is_seekable() const { return kind_ == Kind::kTemporary; }
  bool is_stdout() const { return kind_ == Kind::kStdout; }
  // The path as the user gave it, or "<stdout>": for messages.
  const std::string& name() const { return name_; }

  // Throws std::runtime_error naming the path when a write has failed (disk
  // full, closed pipe), so that a writer can stop early.
  void check_written() const;

  // Flushes, checks that every write succeeded and renames the temporary
  // file onto the target. Throws std::runtime_error naming the path.
  void commit();

 private:
  enum class Kind { kStdout, kTemporary, kInPlace };

  Kind kind_;
  std::string name_;
  std::filesystem::path target_;     // where the data ends up
  std::filesystem::path temporary_;  // kTemporary: where it is written first
  std::ofstream file_;
  std::ostream* out_;  // file_ or std::cout
  bool committed_ = false;
};

}  // namespace bert_embed
