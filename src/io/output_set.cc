#include "bert_embed/io/output_set.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <map>
#include <set>
#include <stdexcept>
#include <system_error>

#include "io/temporary_files.h"

namespace bert_embed {
namespace fs = std::filesystem;
namespace {

// The identity of an output for spotting two outputs of a run that are one
// file: directory links resolved as far as the path exists.
fs::path identity(const OutputFile& file) {
  if (file.is_stdout()) return "-";
  std::error_code error;
  const fs::path resolved = fs::weakly_canonical(file.destination(), error);
  return error ? fs::absolute(file.destination()).lexically_normal() : resolved;
}

// Makes the renames into `dir` durable before the manifests that vouch for
// them are renamed.
void sync_directory(const fs::path& dir) {
  const int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  const bool synced = fd >= 0 && (::fsync(fd) == 0 || errno == EINVAL);  // EINVAL: cannot be synced
  const std::string reason = std::strerror(errno);
  if (fd >= 0) ::close(fd);
  if (!synced) throw std::runtime_error("cannot sync directory " + dir.string() + ": " + reason);
}

}  // namespace

fs::path checkpoint_path_for(const fs::path& output) {
  fs::path checkpoint = output;
  checkpoint += ".checkpoint.json";
  return checkpoint;
}

OutputSet::OutputSet(fs::path input) : input_(std::move(input)) {}

OutputSet::~OutputSet() = default;

void OutputSet::make_resumable(fs::path checkpoint_file, std::vector<std::uint64_t> keep_bytes) {
  if (!files_.empty()) throw std::logic_error("OutputSet::make_resumable after a file was added");
  checkpoint_file_ = std::move(checkpoint_file);
  keep_bytes_ = std::move(keep_bytes);
}

void OutputSet::checkpoint(Manifest progress) {
  if (checkpoint_file_.empty()) throw std::logic_error("OutputSet::checkpoint: the set is not resumable");
  progress.bert_embed_version = bert_embed_version();
  progress.files.clear();
  for (const auto& file : files_) progress.files.push_back({file->partial_path().filename().string(), file->sync(), 0});
  OutputFile record(checkpoint_file_);
  record.stream() << manifest_text(progress);
  record.commit();
  const fs::path dir = checkpoint_file_.parent_path();
  sync_directory(dir.empty() ? fs::path(".") : dir);
}

OutputFile& OutputSet::add(const fs::path& target) {
  check_output_is_not_input(input_, target);
  const std::size_t position = files_.size();
  auto file = checkpoint_file_.empty()
                  ? std::make_unique<OutputFile>(target)
                  : std::make_unique<OutputFile>(
                        target, OutputFile::Partial{position < keep_bytes_.size() ? keep_bytes_[position] : 0});
  for (const auto& other : files_) {
    if (identity(*other) == identity(*file)) {
      throw std::invalid_argument("two outputs of this run are the same file: " + other->name() +
                                  " and " + file->name());
    }
  }
  files_.push_back(std::move(file));
  return *files_.back();
}

void OutputSet::add_manifest(Manifest manifest, std::vector<CoveredFile> files, fs::path manifest_file) {
  if (files.empty()) throw std::logic_error("OutputSet::add_manifest: no files");
  for (const CoveredFile& covered : files) {
    if (covered.file->path().parent_path() != files.front().file->path().parent_path()) {
      throw std::logic_error("OutputSet::add_manifest: " + covered.file->name() +
                             " is not beside " + files.front().file->name());
    }
  }
  if (!files.front().file->is_seekable()) return;
  if (manifest_file.empty()) manifest_file = manifest_path_for(files.front().file->path());
  manifests_.push_back({std::move(manifest), std::move(files), std::move(manifest_file)});
}

void OutputSet::commit() {
  if (committed_) throw std::logic_error("OutputSet::commit called twice");
  std::map<const OutputFile*, std::uint64_t> sizes;
  for (const auto& file : files_) sizes[file.get()] = file->close();

  std::vector<std::unique_ptr<OutputFile>> manifest_files;
  for (PendingManifest& pending : manifests_) {
    pending.manifest.bert_embed_version = bert_embed_version();
    pending.manifest.files.clear();
    for (const CoveredFile& covered : pending.files) {
      pending.manifest.files.push_back(
          {covered.file->path().filename().string(), sizes.at(covered.file), covered.rows});
    }
    auto out = std::make_unique<OutputFile>(pending.manifest_file);
    out->stream() << manifest_text(pending.manifest);
    out->close();
    manifest_files.push_back(std::move(out));
  }

  const auto lock = temporaries::hold();
  for (const auto& manifest : manifest_files) {
    if (::unlink(manifest->destination().c_str()) != 0 && errno != ENOENT) {
      throw std::runtime_error("cannot replace " + manifest->name() + ": " + std::strerror(errno));
    }
  }
  std::set<fs::path> directories;
  for (const auto& file : files_) {
    file->commit();
    if (file->is_seekable()) directories.insert(file->destination().parent_path());
  }
  if (!manifest_files.empty()) {
    for (const fs::path& dir : directories) sync_directory(dir.empty() ? fs::path(".") : dir);
  }
  for (const auto& manifest : manifest_files) manifest->commit();
  if (!checkpoint_file_.empty()) {
    if (::unlink(checkpoint_file_.c_str()) != 0 && errno != ENOENT)
      throw std::runtime_error("cannot remove " + checkpoint_file_.string() + ": " + std::strerror(errno));
    // A run killed while writing a checkpoint leaves its temporary behind;
    // this run may have had no checkpoint left to write (and so no occasion
    // to remove it) before finishing.
    temporaries::remove_stale(checkpoint_file_);
  }
  committed_ = true;
}

}  // namespace bert_embed
