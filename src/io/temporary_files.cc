#include "io/temporary_files.h"

#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <unistd.h>

#include <cerrno>
#include <climits>
#include <cstring>
#include <random>
#include <set>
#include <string>
#include <system_error>
#include <thread>

#include "bert_embed/io/output_file.h"

namespace bert_embed {
namespace temporaries {
namespace {

namespace fs = std::filesystem;

struct Registry {
  std::recursive_mutex mutex;
  std::set<fs::path> live;
};

// Never destroyed: the interrupt cleanup may run while static objects are
// being destroyed at exit.
Registry& registry() {
  static Registry* const instance = new Registry;
  return *instance;
}

[[noreturn]] void throw_errno(const std::string& what) {
  throw std::system_error(errno, std::generic_category(), what);
}

// This host's name, with any '/' (not allowed in a file name) replaced.
const std::string& host_name() {
  static const std::string name = [] {
    char buffer[HOST_NAME_MAX + 1] = {};
    if (::gethostname(buffer, sizeof(buffer) - 1) != 0) return std::string("localhost");
    std::string host(buffer);
    for (char& c : host) {
      if (c == '/') c = '_';
    }
    return host.empty() ? std::string("localhost") : host;
  }();
  return name;
}

constexpr std::size_t kSuffixSize = 6;
constexpr std::size_t kMaxPidDigits = 10;
constexpr std::size_t kNameMax = 255;  // NAME_MAX of Linux file systems

// ".<target name>.tmp-<host>-": what the temporaries of `target` made on this
// host begin with. A long target name is shortened so that the whole
// temporary name stays within kNameMax.
std::string name_prefix(const fs::path& target) {
  const std::string tail = ".tmp-" + host_name() + "-";
  const std::size_t room = kNameMax - 1 - tail.size() - kMaxPidDigits - 1 - kSuffixSize;
  return "." + target.filename().string().substr(0, room) + tail;
}

fs::path directory_of(const fs::path& target) {
  return target.has_parent_path() ? target.parent_path() : fs::path(".");
}

// The process id in "<pid>-XXXXXX", or 0 when `rest` is not of that form.
pid_t pid_of_suffix(const std::string& rest) {
  const std::size_t dash = rest.find('-');
  if (dash == 0 || dash == std::string::npos || dash > kMaxPidDigits ||
      rest.size() != dash + 1 + kSuffixSize) {
    return 0;
  }
  pid_t pid = 0;
  for (std::size_t i = 0; i < dash; ++i) {
    if (rest[i] < '0' || rest[i] > '9') return 0;
    pid = pid * 10 + (rest[i] - '0');
  }
  return pid;
}

bool process_has_ended(pid_t pid) { return ::kill(pid, 0) != 0 && errno == ESRCH; }

// Interruption: signal handlers may only do async-signal-safe work, and a
// thread that is creating or renaming a temporary must not be cut off halfway.
// So the handler only passes the signal number through a pipe; a thread
// waiting on it takes the registry's lock (waiting for any step in progress),
// removes the temporaries and ends the process by the signal's default action.
int interrupt_pipe_write_end = -1;

void forward_signal(int signal_number) {
  const int saved_errno = errno;
  const auto byte = static_cast<unsigned char>(signal_number);
  [[maybe_unused]] const ssize_t written = ::write(interrupt_pipe_write_end, &byte, 1);
  errno = saved_errno;
}

void clean_up_after_signal(int read_end) {
  unsigned char signal_number = 0;
  ssize_t got = 0;
  do {
    got = ::read(read_end, &signal_number, 1);
  } while (got < 0 && errno == EINTR);
  if (got != 1) return;  // the pipe broke: nothing to wait for
  Registry& state = registry();
  state.mutex.lock();  // kept: the process ends here
  for (const fs::path& temporary : state.live) ::unlink(temporary.c_str());
  state.live.clear();
  ::signal(signal_number, SIG_DFL);
  sigset_t just_this;
  sigemptyset(&just_this);
  sigaddset(&just_this, signal_number);
  pthread_sigmask(SIG_UNBLOCK, &just_this, nullptr);
  ::raise(signal_number);
  ::_exit(128 + signal_number);  // only if the default action did not end the process
}

}  // namespace

std::unique_lock<std::recursive_mutex> hold() {
  return std::unique_lock<std::recursive_mutex>(registry().mutex);
}

Created create(const fs::path& target) {
  static constexpr char kAlphabet[] =
      "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
  thread_local std::mt19937_64 random(std::random_device{}());
  std::uniform_int_distribution<std::size_t> pick(0, sizeof(kAlphabet) - 2);
  const std::string prefix =
      (directory_of(target) / name_prefix(target)).string() + std::to_string(::getpid()) + "-";
  const auto lock = hold();
  constexpr int kAttempts = 100;
  for (int attempt = 0; attempt < kAttempts; ++attempt) {
    std::string suffix(kSuffixSize, ' ');
    for (char& c : suffix) c = kAlphabet[pick(random)];
    const fs::path candidate = prefix + suffix;
    // Mode 0666 minus the umask, as for any new file (mkstemp would give 0600).
    const int fd = ::open(candidate.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
    if (fd >= 0) {
      registry().live.insert(candidate);
      return {candidate, fd};
    }
    if (errno != EEXIST)
      throw_errno("creating a temporary file in " + directory_of(target).string());
  }
  errno = EEXIST;
  throw_errno("no free temporary name in " + directory_of(target).string());
}

void rename_onto(const fs::path& temporary, const fs::path& target) {
  const auto lock = hold();
  if (::rename(temporary.c_str(), target.c_str()) != 0)
    throw_errno("renaming " + temporary.string() + " onto it");
  registry().live.erase(temporary);
}

void remove(const fs::path& temporary) noexcept {
  const auto lock = hold();
  ::unlink(temporary.c_str());
  registry().live.erase(temporary);
}

void remove_stale(const fs::path& target) {
  const fs::path dir = directory_of(target);
  const std::string prefix = name_prefix(target);
  DIR* const listing = ::opendir(dir.c_str());
  if (listing == nullptr) return;  // creating the new temporary will report why
  while (const dirent* entry = ::readdir(listing)) {
    const std::string name = entry->d_name;
    if (name.compare(0, prefix.size(), prefix) != 0) continue;
    const pid_t pid = pid_of_suffix(name.substr(prefix.size()));
    if (pid > 0 && pid != ::getpid() && process_has_ended(pid))
      ::unlinkat(::dirfd(listing), name.c_str(), 0);
  }
  ::closedir(listing);
}

}  // namespace temporaries

void install_interrupt_cleanup() {
  static std::once_flag once;
  std::call_once(once, [] {
    int ends[2];
    if (::pipe2(ends, O_CLOEXEC) != 0) temporaries::throw_errno("install_interrupt_cleanup: pipe");
    // A handler must never block, even if signals pile up.
    ::fcntl(ends[1], F_SETFL, O_NONBLOCK);
    temporaries::interrupt_pipe_write_end = ends[1];
    std::thread(temporaries::clean_up_after_signal, ends[0]).detach();

    struct sigaction action {};
    action.sa_handler = temporaries::forward_signal;
    sigemptyset(&action.sa_mask);
    action.sa_flags = SA_RESTART;
    for (const int signal_number : {SIGINT, SIGTERM, SIGHUP}) {
      struct sigaction previous {};
      ::sigaction(signal_number, nullptr, &previous);
      // An ignored signal stays ignored (nohup, background jobs of a script).
      if (previous.sa_handler != SIG_IGN) ::sigaction(signal_number, &action, nullptr);
    }
    // Writing to a closed pipe then fails with EPIPE, reported as an error
    // (and the temporaries removed as on any error), rather than killing the
    // process silently.
    ::signal(SIGPIPE, SIG_IGN);
  });
}

}  // namespace bert_embed
