#include "cli.h"

#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <fstream>
#include <sstream>

#include "command.h"
#include "fixtures.h"

namespace bert_embed::test {

namespace fs = std::filesystem;

std::string read_file(const fs::path& file) {
  std::ifstream in(file, std::ios::binary);
  std::ostringstream buffer;
  buffer << in.rdbuf();
  return buffer.str();
}

void write_file(const fs::path& file, const std::string& content) {
  std::ofstream out(file, std::ios::binary);
  out << content;
  ASSERT_TRUE(out.good()) << "cannot write " << file;
}

std::vector<std::string> split_lines(const std::string& text) {
  std::vector<std::string> lines;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  return lines;
}

RunResult run_shell(const std::string& command, const fs::path& dir) {
  const fs::path out = dir / "captured.stdout";
  const fs::path err = dir / "captured.stderr";
  const std::string full = "(" + command + ") > " + shell_quote(out.string()) + " 2> " + shell_quote(err.string());
  const int status = std::system(full.c_str());
  RunResult result;
  result.status = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  result.out = read_file(out);
  result.err = read_file(err);
  fs::remove(out);
  fs::remove(err);
  return result;
}

std::string dead_process_temporary_name(const std::string& target_name) {
  const pid_t dead = ::fork();
  if (dead == 0) ::_exit(0);
  ::waitpid(dead, nullptr, 0);
  char host[256] = {};
  ::gethostname(host, sizeof(host) - 1);
  return "." + target_name + ".tmp-" + std::string(host) + "-" + std::to_string(dead) + "-abcdef";
}

std::string bert_embed_command(const std::vector<std::string>& args) {
  std::string command = shell_quote(bert_embed_binary().string());
  for (const std::string& arg : args) command += " " + shell_quote(arg);
  return command;
}

RunResult BertEmbedCli::run(const std::vector<std::string>& args, const std::string& stdin_file) {
  return run_shell(bert_embed_command(args) + " < " + shell_quote(stdin_file), temp_.path());
}

std::string BertEmbedCli::embed(const std::vector<std::string>& args) {
  const RunResult result = run(args);
  EXPECT_EQ(result.status, 0) << result.err;
  return result.out;
}

fs::path BertEmbedCli::input_file(const std::string& name, const std::string& content) {
  const fs::path file = path(name);
  write_file(file, content);
  return file;
}

std::vector<std::string> BertEmbedCli::files_in_temp_dir() const {
  std::vector<std::string> names;
  for (const auto& entry : fs::directory_iterator(temp_.path())) names.push_back(entry.path().filename());
  std::sort(names.begin(), names.end());
  return names;
}

}  // namespace bert_embed::test
