#include "bert_embed/io/output_file.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <iostream>
#include <random>
#include <stdexcept>
#include <system_error>

namespace bert_embed {
namespace fs = std::filesystem;
namespace {

[[noreturn]] void fail(const std::string& name, const std::string& problem) {
  throw std::runtime_error("cannot write " + name + ": " + problem);
}

// Streams do not report why they failed; errno from the failed call is the
// best available reason.
std::string last_system_error() { return errno != 0 ? std::strerror(errno) : "input/output error"; }

// Reserves a fresh name beside the target with open(O_EXCL) and mode 0666
// minus the umask, so that the committed file gets the permissions any new
// file would (mkstemp would leave it 0600).
fs::path create_temporary_beside(const fs::path& target, const std::string& name) {
  const fs::path dir = target.has_parent_path() ? target.parent_path() : fs::path(".");
  std::error_code error;
  if (!fs::is_directory(dir, error)) fail(name, "directory " + dir.string() + " does not exist");

  static constexpr char kAlphabet[] =
      "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
  std::mt19937_64 random(std::random_device{}());
  std::uniform_int_distribution<std::size_t> pick(0, sizeof(kAlphabet) - 2);
  constexpr int kAttempts = 100;
  for (int attempt = 0; attempt < kAttempts; ++attempt) {
    std::string suffix(6, ' ');
    for (char& c : suffix) c = kAlphabet[pick(random)];
    const fs::path candidate = dir / ("." + target.filename().string() + ".tmp-" + suffix);
    const int fd = ::open(candidate.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
    if (fd >= 0) {
      ::close(fd);
      return candidate;
    }
    if (errno != EEXIST) fail(name, std::strerror(errno));
  }
  fail(name, "no free temporary name in " + dir.string());
}

}  // namespace

OutputFile::OutputFile(const fs::path& target) : target_(target) {
  if (target.empty() || target == "-") {
    kind_ = Kind::kStdout;
    name_ = "<stdout>";
    out_ = &std::cout;
    return;
  }
  name_ = target.string();
  std::error_code error;
  const fs::file_status status = fs::status(target, error);
  if (fs::is_directory(status) || !target.has_filename()) fail(name_, "it names a directory");
  if (fs::exists(status) && !fs::is_regular_file(status)) {
    kind_ = Kind::kInPlace;
    file_.open(target, std::ios::binary);
  } else {
    kind_ = Kind::kTemporary;
    // Through a symbolic link, the file it points to is the one replaced.
    if (fs::exists(status)) target_ = fs::canonical(target);
    temporary_ = create_temporary_beside(target_, name_);
    file_.open(temporary_, std::ios::binary | std::ios::trunc);
  }
  if (!file_) fail(name_, last_system_error());
  out_ = &file_;
}

OutputFile::~OutputFile() {
  if (committed_ || kind_ != Kind::kTemporary) return;
  file_.close();
  std::error_code ignored;
  fs::remove(temporary_, ignored);
}

void OutputFile::check_written() const {
  if (out_->fail()) fail(name_, last_system_error());
}

void OutputFile::commit() {
  if (committed_) throw std::logic_error("OutputFile::commit: " + name_ + " was already committed");
  out_->flush();
  check_written();
  if (kind_ != Kind::kStdout) {
    file_.close();
    check_written();
  }
  if (kind_ == Kind::kTemporary) {
    std::error_code error;
    fs::rename(temporary_, target_, error);
    if (error)
      fail(name_, "renaming " + temporary_.string() + " onto it failed: " + error.message());
  }
  committed_ = true;
}

}  // namespace bert_embed
