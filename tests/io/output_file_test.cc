#include "bert_embed/io/output_file.h"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <fstream>
#include <iostream>
#include <iterator>
#include <stdexcept>
#include <string>
#include <vector>

#include "expect_error.h"
#include "temp_dir.h"

namespace bert_embed {
namespace {

namespace fs = std::filesystem;

std::vector<std::string> entries(const fs::path& dir) {
  std::vector<std::string> names;
  for (const auto& entry : fs::directory_iterator(dir))
    names.push_back(entry.path().filename().string());
  std::sort(names.begin(), names.end());
  return names;
}

std::string contents(const fs::path& file) {
  std::ifstream in(file, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
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
    EXPECT_EQ(&file.stream(), &std::cout);
    EXPECT_NO_THROW(file.commit());
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

}  // namespace
}  // namespace bert_embed
