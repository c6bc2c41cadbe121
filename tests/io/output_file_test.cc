#include "bert_embed/io/output_file.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <fstream>
#include <functional>
#include <iostream>
#include <iterator>
#include <stdexcept>
#include <string>
#include <vector>

#include "directory_listing.h"
#include "expect_error.h"
#include "temp_dir.h"

namespace bert_embed {
namespace {

namespace fs = std::filesystem;
using test::contents;
using test::entries;

mode_t permissions(const fs::path& file) {
  struct stat info {};
  EXPECT_EQ(::stat(file.c_str(), &info), 0) << file;
  return info.st_mode & 0777;
}

// Runs `action` with standard output on `fd`, restored afterwards, and
// returns the message of the std::runtime_error it threw ("" if none).
std::string error_with_stdout_on(int fd, const std::function<void()>& action) {
  std::cout.flush();
  const int saved = ::dup(STDOUT_FILENO);
  ::dup2(fd, STDOUT_FILENO);
  std::string message;
  try {
    action();
  } catch (const std::runtime_error& error) {
    message = error.what();
  }
  ::dup2(saved, STDOUT_FILENO);
  ::close(saved);
  return message;
}

std::string creation_error(const fs::path& target) {
  SCOPED_TRACE("OutputFile(" + target.string() + ")");
  return test::error_message<std::runtime_error>([&] { OutputFile file(target); });
}

TEST(OutputFile, WritesATemporaryBesideTheTargetAndRenamesOnCommit) {
  const test::TempDir dir;
  const fs::path target = dir.path() / "out.jsonl";
  OutputFile file(target);
  EXPECT_TRUE(file.is_seekable());
  EXPECT_FALSE(file.is_stdout());
  EXPECT_EQ(file.name(), target.string());
  file.stream() << "hello\n";

  const std::vector<std::string> before = entries(dir.path());
  ASSERT_EQ(before.size(), 1u);
  EXPECT_EQ(before[0].rfind(".out.jsonl.tmp-", 0), 0u) << before[0];
  EXPECT_FALSE(fs::exists(target));

  file.commit();
  EXPECT_EQ(entries(dir.path()), std::vector<std::string>{"out.jsonl"});
  EXPECT_EQ(contents(target), "hello\n");
}

TEST(OutputFile, PartialFileIsKeptCutToTheCheckpointAndRenamedOnCommit) {
  const test::TempDir dir;
  const fs::path target = dir.path() / "out.npy";
  {
    OutputFile file(target, OutputFile::Partial{});
    EXPECT_TRUE(file.is_seekable());
    EXPECT_EQ(file.partial_path(), dir.path() / "out.npy.partial");
    file.stream() << "checkpointed";
    EXPECT_EQ(file.sync(), 12u);
    file.stream() << " and lost";
  }
  EXPECT_EQ(entries(dir.path()), std::vector<std::string>{"out.npy.partial"});
  {
    OutputFile file(target, OutputFile::Partial{12});
    file.stream() << ", then the rest";
    file.commit();
  }
  EXPECT_EQ(entries(dir.path()), std::vector<std::string>{"out.npy"});
  EXPECT_EQ(contents(target), "checkpointed, then the rest");
}

TEST(OutputFile, PartialFileRenamedByAnInterruptedCommitIsTakenBack) {
  const test::TempDir dir;
  const fs::path target = dir.path() / "out.npy";
  std::ofstream(target) << "committed, but not its manifest";
  {
    OutputFile file(target, OutputFile::Partial{9});
    file.stream() << ", again";
    file.commit();
  }
  EXPECT_EQ(entries(dir.path()), std::vector<std::string>{"out.npy"});
  EXPECT_EQ(contents(target), "committed, again");
}

TEST(OutputFile, PartialFileShorterThanItsCheckpointOrInUseIsRefused) {
  const test::TempDir dir;
  const fs::path target = dir.path() / "out.npy";
  std::ofstream(partial_path_for(target)) << "short";
  EXPECT_CONTAINS(test::error_message<std::runtime_error>([&] { OutputFile file(target, OutputFile::Partial{6}); }),
                  "out.npy.partial: it has 5 bytes, its checkpoint records 6: it changed since");
  const OutputFile writing(target, OutputFile::Partial{5});
  EXPECT_CONTAINS(test::error_message<std::runtime_error>([&] { OutputFile file(target, OutputFile::Partial{5}); }),
                  "another run is writing it");
}

TEST(OutputFile, UncommittedOutputLeavesNothingBehind) {
  const test::TempDir dir;
  {
    OutputFile file(dir.path() / "out.npy");
    file.stream() << "half of it";
  }
  EXPECT_TRUE(entries(dir.path()).empty());
}

TEST(OutputFile, FailedRunKeepsThePreviousFile) {
  const test::TempDir dir;
  const fs::path target = dir.path() / "out.jsonl";
  std::ofstream(target) << "previous run\n";
  {
    OutputFile file(target);
    file.stream() << "new, unfinished";
  }
  EXPECT_EQ(contents(target), "previous run\n");
  EXPECT_EQ(entries(dir.path()).size(), 1u);
}

TEST(OutputFile, CommitReplacesAnExistingFile) {
  const test::TempDir dir;
  const fs::path target = dir.path() / "out.jsonl";
  std::ofstream(target) << "a much longer previous content\n";
  OutputFile file(target);
  file.stream() << "new\n";
  file.commit();
  EXPECT_EQ(contents(target), "new\n");
}

TEST(OutputFile, StreamCanSeekBack) {
  const test::TempDir dir;
  const fs::path target = dir.path() / "out.bin";
  OutputFile file(target);
  file.stream() << "XXXX-body";
  file.stream().seekp(0);
  file.stream() << "HEAD";
  file.commit();
  EXPECT_EQ(contents(target), "HEAD-body");
}

TEST(OutputFile, CommittedFileGetsTheUsualPermissions) {
  const test::TempDir dir;
  const mode_t previous = ::umask(022);
  OutputFile file(dir.path() / "out.jsonl");
  ::umask(previous);
  file.commit();
  struct stat info {};
  ASSERT_EQ(::stat((dir.path() / "out.jsonl").c_str(), &info), 0);
  EXPECT_EQ(info.st_mode & 0777, 0644u);
}

TEST(OutputFile, WritesThroughASymbolicLink) {
  const test::TempDir dir;
  const fs::path real = dir.path() / "real.jsonl";
  const fs::path link = dir.path() / "link.jsonl";
  std::ofstream(real) << "old\n";
  fs::create_symlink(real, link);
  OutputFile file(link);
  file.stream() << "new\n";
  file.commit();
  EXPECT_TRUE(fs::is_symlink(link));
  EXPECT_EQ(contents(real), "new\n");
}

TEST(OutputFile, DashAndEmptyPathAreStandardOutput) {
  for (const fs::path& path : {fs::path("-"), fs::path()}) {
    OutputFile file(path);
    EXPECT_TRUE(file.is_stdout());
    EXPECT_FALSE(file.is_seekable());
    EXPECT_EQ(file.name(), "<stdout>");
    ::testing::internal::CaptureStdout();
    file.stream() << "to stdout\n";
    EXPECT_NO_THROW(file.commit());
    EXPECT_EQ(::testing::internal::GetCapturedStdout(), "to stdout\n");
  }
}

TEST(OutputFile, SpecialFileIsWrittenInPlace) {
  OutputFile file("/dev/null");
  EXPECT_FALSE(file.is_seekable());
  file.stream() << "discarded";
  file.commit();
  EXPECT_TRUE(fs::is_character_file("/dev/null"));
}

TEST(OutputFile, MissingDirectoryIsNamed) {
  const test::TempDir dir;
  const fs::path target = dir.path() / "no-such-dir" / "out.jsonl";
  const std::string message = creation_error(target);
  EXPECT_PRED_FORMAT2(::testing::IsSubstring, target.string(), message);
  EXPECT_PRED_FORMAT2(::testing::IsSubstring, "does not exist", message);
}

TEST(OutputFile, DirectoryAsTargetIsRefused) {
  const test::TempDir dir;
  const std::string message = creation_error(dir.path());
  EXPECT_PRED_FORMAT2(::testing::IsSubstring, "names a directory", message);
  EXPECT_PRED_FORMAT2(::testing::IsSubstring, "names a directory",
                      creation_error(dir.path().string() + "/"));
}

TEST(OutputFile, UnwritableDirectoryIsNamed) {
  if (::geteuid() == 0) GTEST_SKIP() << "root writes into read-only directories";
  const test::TempDir dir;
  const fs::path locked = dir.path() / "locked";
  fs::create_directory(locked);
  fs::permissions(locked, fs::perms::owner_read | fs::perms::owner_exec);
  const std::string message = creation_error(locked / "out.jsonl");
  fs::permissions(locked, fs::perms::owner_all);
  EXPECT_PRED_FORMAT2(::testing::IsSubstring, (locked / "out.jsonl").string(), message);
  EXPECT_PRED_FORMAT2(::testing::IsSubstring, "Permission denied", message);
}

TEST(OutputFile, FailedWriteIsReportedWithThePath) {
  OutputFile file("/dev/full");
  const std::string block(1 << 16, 'x');
  file.stream() << block;
  const std::string message = test::error_message<std::runtime_error>([&] { file.commit(); });
  EXPECT_PRED_FORMAT2(::testing::IsSubstring, "/dev/full", message);
  EXPECT_PRED_FORMAT2(::testing::IsSubstring, "No space left on device", message);
}

TEST(OutputFile, CommitTwiceIsALogicError) {
  const test::TempDir dir;
  OutputFile file(dir.path() / "out");
  file.commit();
  EXPECT_THROW(file.commit(), std::logic_error);
}

// Defect 12: replacing a file made it 0644 whatever it was.
TEST(OutputFile, ReplacingAFileKeepsItsPermissions) {
  const test::TempDir dir;
  const fs::path target = dir.path() / "private.jsonl";
  std::ofstream(target) << "old\n";
  fs::permissions(target, fs::perms::owner_read | fs::perms::owner_write);
  const mode_t previous = ::umask(022);
  OutputFile file(target);
  ::umask(previous);
  file.stream() << "new\n";
  file.commit();
  EXPECT_EQ(permissions(target), 0600u);
  EXPECT_EQ(contents(target), "new\n");
}

// Defect 12: a dangling symbolic link was replaced by the file.
TEST(OutputFile, DanglingSymbolicLinkCreatesItsTarget) {
  const test::TempDir dir;
  fs::create_directory(dir.path() / "data");
  const fs::path link = dir.path() / "link.jsonl";
  fs::create_symlink("data/real.jsonl", link);  // relative to the link's directory
  OutputFile file(link);
  file.stream() << "through the link\n";
  file.commit();
  EXPECT_TRUE(fs::is_symlink(link));
  EXPECT_EQ(contents(dir.path() / "data" / "real.jsonl"), "through the link\n");
  EXPECT_EQ(entries(dir.path() / "data"), std::vector<std::string>{"real.jsonl"});
}

TEST(OutputFile, ChainOfSymbolicLinksIsFollowedToTheEnd) {
  const test::TempDir dir;
  fs::create_symlink("middle", dir.path() / "first");
  fs::create_symlink(dir.path() / "last", dir.path() / "middle");
  OutputFile file(dir.path() / "first");
  file.stream() << "x";
  file.commit();
  EXPECT_TRUE(fs::is_symlink(dir.path() / "first"));
  EXPECT_TRUE(fs::is_symlink(dir.path() / "middle"));
  EXPECT_EQ(contents(dir.path() / "last"), "x");
}

TEST(OutputFile, SymbolicLinkLoopIsNamed) {
  const test::TempDir dir;
  fs::create_symlink("b", dir.path() / "a");
  fs::create_symlink("a", dir.path() / "b");
  const std::string message = creation_error(dir.path() / "a");
  EXPECT_CONTAINS(message, (dir.path() / "a").string());
  EXPECT_CONTAINS(message, "Too many levels of symbolic links");
}

// The new file replaces the old by a rename, so a hard link elsewhere keeps
// the old data: the price of never leaving a half-written file.
TEST(OutputFile, ReplacingAFileBreaksItsHardLinks) {
  const test::TempDir dir;
  const fs::path target = dir.path() / "out.jsonl";
  std::ofstream(target) << "old\n";
  fs::create_hard_link(target, dir.path() / "other-name.jsonl");
  OutputFile file(target);
  file.stream() << "new\n";
  file.commit();
  EXPECT_EQ(contents(target), "new\n");
  EXPECT_EQ(contents(dir.path() / "other-name.jsonl"), "old\n");
}

// A temporary name adds the host and process id: a target name near the
// 255-byte limit still gets one.
TEST(OutputFile, LongTargetNameStillGetsATemporary) {
  const test::TempDir dir;
  const fs::path target = dir.path() / (std::string(245, 'n') + ".jsonl");
  OutputFile file(target);
  file.stream() << "x";
  file.commit();
  EXPECT_EQ(contents(target), "x");
  EXPECT_EQ(entries(dir.path()).size(), 1u);
}

// Defect 9: a failed write says why and names the output.
TEST(OutputFile, FullStandardOutputIsReportedWithTheReason) {
  const int full = ::open("/dev/full", O_WRONLY | O_CLOEXEC);
  ASSERT_GE(full, 0);
  const std::string message = error_with_stdout_on(full, [] {
    OutputFile file("-");
    file.stream() << "vectors\n";
    file.commit();
  });
  ::close(full);
  EXPECT_EQ(message, "cannot write <stdout>: No space left on device");
}

TEST(OutputFile, ClosedPipeIsReportedWithTheReason) {
  int ends[2];
  ASSERT_EQ(::pipe(ends), 0);
  ::close(ends[0]);
  const auto previous = ::signal(SIGPIPE, SIG_IGN);
  const std::string message = error_with_stdout_on(ends[1], [] {
    OutputFile file("-");
    file.stream() << "vectors\n";
    file.flush();
  });
  ::signal(SIGPIPE, previous);
  ::close(ends[1]);
  EXPECT_EQ(message, "cannot write <stdout>: Broken pipe");
}

TEST(OutputFile, FlushPassesTheDataOnBeforeTheCommit) {
  int ends[2];
  ASSERT_EQ(::pipe(ends), 0);
  std::string received(6, '\0');
  const std::string message = error_with_stdout_on(ends[1], [&] {
    OutputFile file("-");
    file.stream() << "batch\n";
    file.flush();
    ASSERT_EQ(::read(ends[0], received.data(), received.size()), 6);
    file.commit();
  });
  ::close(ends[0]);
  ::close(ends[1]);
  EXPECT_EQ(message, "");
  EXPECT_EQ(received, "batch\n");
}

TEST(OutputFile, WriteErrorIsReportedAtOnceWithTheReason) {
  OutputFile file("/dev/full");
  file.stream() << std::string(1 << 17, 'x');  // more than the buffer: written at once
  const std::string message =
      test::error_message<std::runtime_error>([&] { file.check_written(); });
  EXPECT_EQ(message, "cannot write /dev/full: No space left on device");
}

// Defect 6: "-o" naming the input replaced the input with the output.
TEST(CheckOutputIsNotInput, RefusesTheInputFileByAnyName) {
  const test::TempDir dir;
  const fs::path input = dir.path() / "lines.txt";
  std::ofstream(input) << "text\n";
  fs::create_hard_link(input, dir.path() / "hard-link.txt");
  fs::create_symlink(input, dir.path() / "symlink.txt");
  for (const fs::path& output : {input, dir.path() / "hard-link.txt", dir.path() / "symlink.txt",
                                 dir.path() / "." / "lines.txt"}) {
    const std::string message = test::error_message<std::invalid_argument>(
        [&] { check_output_is_not_input(input, output); });
    EXPECT_CONTAINS(message, output.string());
    EXPECT_CONTAINS(message, input.string());
  }
  EXPECT_EQ(contents(input), "text\n");
}

TEST(CheckOutputIsNotInput, PassesOtherOutputs) {
  const test::TempDir dir;
  const fs::path input = dir.path() / "lines.txt";
  std::ofstream(input) << "text\n";
  std::ofstream(dir.path() / "other.jsonl") << "{}\n";
  EXPECT_NO_THROW(check_output_is_not_input(input, "-"));
  EXPECT_NO_THROW(check_output_is_not_input("", input));
  EXPECT_NO_THROW(check_output_is_not_input(input, ""));
  EXPECT_NO_THROW(check_output_is_not_input(input, dir.path() / "new.jsonl"));
  EXPECT_NO_THROW(check_output_is_not_input(input, dir.path() / "other.jsonl"));
  EXPECT_NO_THROW(
      check_output_is_not_input(dir.path() / "missing.txt", dir.path() / "other.jsonl"));
  EXPECT_NO_THROW(check_output_is_not_input("/dev/null", "/dev/null"));
}

TEST(CheckOutputIsNotInput, RefusesTheFileStandardInputReads) {
  const test::TempDir dir;
  const fs::path input = dir.path() / "lines.txt";
  std::ofstream(input) << "text\n";
  const int file = ::open(input.c_str(), O_RDONLY | O_CLOEXEC);
  ASSERT_GE(file, 0);
  const int saved = ::dup(STDIN_FILENO);
  ::dup2(file, STDIN_FILENO);
  std::string message;
  try {
    check_output_is_not_input("-", input);
  } catch (const std::invalid_argument& error) {
    message = error.what();
  }
  ::dup2(saved, STDIN_FILENO);
  ::close(saved);
  ::close(file);
  EXPECT_CONTAINS(message, "<stdin>");
  EXPECT_CONTAINS(message, input.string());
}

}  // namespace
}  // namespace bert_embed
