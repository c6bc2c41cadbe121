// Temporary files of interrupted and killed runs (defect 3), seen through
// OutputFile and install_interrupt_cleanup.
#include <gtest/gtest.h>
#include <limits.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <fstream>
#include <functional>
#include <string>
#include <vector>

#include "bert_embed/io/output_file.h"
#include "bert_embed/io/output_set.h"
#include "directory_listing.h"
#include "temp_dir.h"

namespace bert_embed {
namespace {

namespace fs = std::filesystem;
using test::entries;

std::string host_name() {
  char buffer[HOST_NAME_MAX + 1] = {};
  ::gethostname(buffer, sizeof(buffer) - 1);
  return buffer;
}

// A child process that runs `prepare`, says so through a pipe and waits to
// be killed by `signal_number`; `check_prepared` runs in this process in
// between. Returns the child's wait status.
int signalled_child(const std::function<void()>& prepare,
                    const std::function<void()>& check_prepared, int signal_number) {
  int ready[2];
  if (::pipe(ready) != 0) throw std::runtime_error("pipe failed");
  const pid_t child = ::fork();
  if (child == 0) {
    ::close(ready[0]);
    try {
      prepare();
    } catch (...) {
      ::_exit(99);
    }
    const char byte = 'r';
    if (::write(ready[1], &byte, 1) != 1) ::_exit(98);
    for (;;) ::pause();
  }
  ::close(ready[1]);
  char byte = 0;
  const bool prepared = ::read(ready[0], &byte, 1) == 1;
  ::close(ready[0]);
  if (prepared) check_prepared();
  ::kill(child, signal_number);
  int status = 0;
  ::waitpid(child, &status, 0);
  return status;
}

// Output files left open as a run's are when a signal comes.
void open_outputs_and_write(const fs::path& dir) {
  auto* outputs = new OutputSet;  // never destroyed: the signal ends the process
  outputs->add(dir / "vectors.npy").stream() << "partial vectors";
  outputs->add(dir / "vectors.offsets.npy").stream() << "partial offsets";
}

void expect_interruption_leaves_nothing(int signal_number) {
  const test::TempDir dir;
  const int status = signalled_child(
      [&] {
        install_interrupt_cleanup();
        open_outputs_and_write(dir.path());
      },
      [&] { EXPECT_EQ(entries(dir.path()).size(), 2u) << "no temporaries to clean up"; },
      signal_number);
  ASSERT_TRUE(WIFSIGNALED(status)) << "status " << status;
  EXPECT_EQ(WTERMSIG(status), signal_number);
  EXPECT_EQ(entries(dir.path()), std::vector<std::string>{});
}

TEST(InterruptCleanup, SigtermRemovesTheTemporaries) {
  expect_interruption_leaves_nothing(SIGTERM);
}

TEST(InterruptCleanup, SigintRemovesTheTemporaries) { expect_interruption_leaves_nothing(SIGINT); }

TEST(InterruptCleanup, WithoutItASignalLeavesTheTemporaries) {
  const test::TempDir dir;
  signalled_child([&] { open_outputs_and_write(dir.path()); }, [] {}, SIGTERM);
  EXPECT_EQ(entries(dir.path()).size(), 2u);
}

TEST(StaleTemporaries, ThoseOfAKilledRunAreRemovedByTheNextRun) {
  const test::TempDir dir;
  const int status = signalled_child(
      [&] {
        install_interrupt_cleanup();  // SIGKILL cannot be caught
        open_outputs_and_write(dir.path());
      },
      [] {}, SIGKILL);
  ASSERT_TRUE(WIFSIGNALED(status));
  const std::vector<std::string> left = entries(dir.path());
  ASSERT_EQ(left.size(), 2u);
  EXPECT_EQ(left[0].rfind(".vectors.npy.tmp-" + host_name() + "-", 0), 0u) << left[0];

  OutputFile next(dir.path() / "vectors.npy");
  const std::vector<std::string> now = entries(dir.path());
  ASSERT_EQ(now.size(), 2u);  // the new temporary, and the other output's stale one
  EXPECT_EQ(std::count(now.begin(), now.end(), left[0]), 0);
  EXPECT_NE(now[0].find("-" + std::to_string(::getpid()) + "-"), std::string::npos) << now[0];
  EXPECT_EQ(now[1].rfind(".vectors.offsets.npy.tmp-", 0), 0u) << now[1];
}

TEST(StaleTemporaries, ThoseOfLiveProcessesAndOtherHostsAreKept) {
  const test::TempDir dir;
  const std::vector<std::string> others = {
      ".out.jsonl.tmp-" + host_name() + "-" + std::to_string(::getppid()) + "-abcdef",
      ".out.jsonl.tmp-" + host_name() + "x-999999999-abcdef",
      ".out.jsonl.tmp-" + host_name() + "-12-short",
      ".other.jsonl.tmp-" + host_name() + "-999999999-abcdef",
  };
  for (const std::string& name : others) std::ofstream(dir.path() / name) << "busy";
  { OutputFile file(dir.path() / "out.jsonl"); }
  EXPECT_EQ(entries(dir.path()).size(), others.size());
  for (const std::string& name : others) EXPECT_TRUE(fs::exists(dir.path() / name)) << name;
}

TEST(StaleTemporaries, ThoseOfEndedProcessesOfThisHostAreRemoved) {
  const test::TempDir dir;
  const pid_t child = ::fork();
  if (child == 0) ::_exit(0);
  ::waitpid(child, nullptr, 0);  // its pid now names no process
  const fs::path stale =
      dir.path() / (".out.jsonl.tmp-" + host_name() + "-" + std::to_string(child) + "-abcdef");
  std::ofstream(stale) << "left by a killed run";
  OutputFile file(dir.path() / "out.jsonl");
  EXPECT_FALSE(fs::exists(stale));
  file.commit();
  EXPECT_EQ(entries(dir.path()), std::vector<std::string>{"out.jsonl"});
}

}  // namespace
}  // namespace bert_embed
