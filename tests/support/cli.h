// Running the bert-embed binary from end-to-end tests (cli_tests): a shell
// command with its exit status and both output streams, and a fixture that
// runs bert-embed in a fresh temporary directory.
#pragma once

#include <filesystem>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "temp_dir.h"

namespace bert_embed::test {

struct RunResult {
  int status = -1;  // exit status; -1 when killed by a signal
  std::string out;
  std::string err;
};

std::string read_file(const std::filesystem::path& file);
void write_file(const std::filesystem::path& file, const std::string& content);
std::vector<std::string> split_lines(const std::string& text);

// Runs a shell command, capturing stdout and stderr in files of `dir`.
RunResult run_shell(const std::string& command, const std::filesystem::path& dir);

// The name a temporary of `target_name` (a file name) has when a process of
// this host that has ended made it: what a killed run leaves behind.
std::string dead_process_temporary_name(const std::string& target_name);

// The binary and `args`, quoted for the shell.
std::string bert_embed_command(const std::vector<std::string>& args);

class BertEmbedCli : public ::testing::Test {
 protected:
  // bert-embed `args` < stdin_file.
  RunResult run(const std::vector<std::string>& args, const std::string& stdin_file = "/dev/null");

  // Runs bert-embed, expecting success; returns its stdout.
  std::string embed(const std::vector<std::string>& args);

  std::filesystem::path path(const std::string& name) const { return temp_.path() / name; }
  std::filesystem::path input_file(const std::string& name, const std::string& content);
  // Names in the temporary directory, sorted.
  std::vector<std::string> files_in_temp_dir() const;

 private:
  TempDir temp_;
};

}  // namespace bert_embed::test
