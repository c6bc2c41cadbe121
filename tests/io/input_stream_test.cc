#include "bert_embed/io/input_stream.h"

#include <sys/wait.h>
#include <fcntl.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <fstream>
#include <future>
#include <iterator>
#include <stdexcept>
#include <string>
#include <thread>

#include <gtest/gtest.h>

#include "expect_error.h"
#include "pipe.h"
#include "temp_dir.h"

namespace bert_embed {
namespace {

using namespace std::chrono_literals;

std::string read_all(InputStream& input) {
  return std::string(std::istreambuf_iterator<char>(input.stream()), std::istreambuf_iterator<char>());
}

TEST(InputStream, ReadsAFileAndKnowsItsSize) {
  test::TempDir dir;
  const auto file = dir.path() / "lines.txt";
  std::ofstream(file) << "one\ntwo\n";
  InputStream input(file);
  EXPECT_EQ(input.name(), file.string());
  EXPECT_EQ(input.size_bytes(), 8u);
  int waits = 0;
  input.on_waiting([&] { ++waits; });
  EXPECT_EQ(read_all(input), "one\ntwo\n");
  EXPECT_EQ(waits, 0);
}

TEST(InputStream, MissingFileIsNamed) {
  EXPECT_CONTAINS(test::error_message<std::runtime_error>([] { InputStream input("/nonexistent/lines.txt"); }),
                  "/nonexistent/lines.txt");
}

TEST(InputStream, ReadsAPipeAndSaysWhenItWaits) {
  test::Pipe pipe;
  InputStream input(pipe.path());
  EXPECT_EQ(input.size_bytes(), std::nullopt);
  std::atomic<int> waits{0};
  input.on_waiting([&] { ++waits; });
  pipe.write_text("ready\n");
  std::string line;
  std::getline(input.stream(), line);
  EXPECT_EQ(line, "ready");
  EXPECT_EQ(waits.load(), 0);  // the byte was there

  std::thread writer([&] {
    while (waits.load() == 0) std::this_thread::sleep_for(1ms);
    pipe.write_text("later\n");
    pipe.close_writer();
  });
  EXPECT_EQ(read_all(input), "later\n");
  writer.join();
  EXPECT_GE(waits.load(), 1);  // again if the reader was quicker than the writer's close
}

TEST(InputStream, DirectoryIsAReadErrorNamingIt) {
  test::TempDir dir;
  InputStream input(dir.path());
  const std::string message = test::error_message<std::runtime_error>([&] { read_all(input); });
  EXPECT_CONTAINS(message, dir.path().string());
  EXPECT_CONTAINS(message, "Is a directory");
}

// Standard input that is a directory (`bert-embed embed < dir`): checked in
// a child, whose descriptor 0 the test may replace.
TEST(InputStream, DirectoryAsStdinIsAReadError) {
  test::TempDir dir;
  const pid_t child = fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    const int directory = open(dir.path().c_str(), O_RDONLY | O_DIRECTORY);
    if (directory < 0 || dup2(directory, STDIN_FILENO) < 0) _exit(3);
    try {
      InputStream input("-");
      if (input.name() != "<stdin>") _exit(4);
      read_all(input);
    } catch (const std::runtime_error& error) {
      const std::string message = error.what();
      _exit(message.find("<stdin>") != std::string::npos && message.find("Is a directory") != std::string::npos
                ? 0
                : 5);
    }
    _exit(6);
  }
  int status = 0;
  ASSERT_EQ(waitpid(child, &status, 0), child);
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 0) << "3: no stdin, 4: wrong name, 5: wrong message, 6: no error";
}

TEST(InputStream, InterruptEndsAReadBlockedOnAnOpenPipe) {
  test::Pipe pipe;
  InputStream input(pipe.path());
  std::promise<void> waiting;
  input.on_waiting([&] { waiting.set_value(); });
  auto reader = std::async(std::launch::async, [&] { return read_all(input); });
  waiting.get_future().wait();
  input.interrupt();
  const bool ended = reader.wait_for(1s) == std::future_status::ready;
  pipe.close_writer();  // ends a read that the interrupt did not
  EXPECT_TRUE(ended) << "the read stayed blocked";
  EXPECT_EQ(reader.get(), "");
}

TEST(InputStream, InterruptBeforeReadingEndsTheInput) {
  test::Pipe pipe;
  pipe.write_text("never read\n");
  InputStream input(pipe.path());
  input.interrupt();
  EXPECT_EQ(read_all(input), "");
}

}  // namespace
}  // namespace bert_embed
