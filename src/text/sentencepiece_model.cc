#include "text/sentencepiece_model.h"

#include <dlfcn.h>
#include <unistd.h>

#include <array>
#include <cstdlib>
#include <stdexcept>

#include "text/sentencepiece_plugin.h"
#include "text/tokenizer_files.h"

namespace bert_embed {
namespace {

#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define BERT_EMBED_SANITIZER_RUNTIME 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer)
#define BERT_EMBED_SANITIZER_RUNTIME 1
#endif
#endif

// RTLD_DEEPBIND binds the plugin's libsentencepiece to its own protobuf.
// AddressSanitizer and ThreadSanitizer refuse RTLD_DEEPBIND (it would bind
// the plugin past their interceptors), so sanitizer builds load the plugin
// into a link-map namespace of its own instead, which isolates it completely
// (at the cost of a second C library in the process, acceptable in tests).
void* open_isolated(const std::filesystem::path& file) {
#ifdef BERT_EMBED_SANITIZER_RUNTIME
  return dlmopen(LM_ID_NEWLM, file.c_str(), RTLD_NOW | RTLD_LOCAL);
#else
  return dlopen(file.c_str(), RTLD_NOW | RTLD_LOCAL | RTLD_DEEPBIND);
#endif
}

constexpr const char* kPluginName = "libbert_embed_sentencepiece.so";

std::filesystem::path executable_dir() {
  std::array<char, 4096> buffer{};
  const ssize_t length = readlink("/proc/self/exe", buffer.data(), buffer.size() - 1);
  if (length <= 0) return {};
  return std::filesystem::path(std::string(buffer.data(), static_cast<std::size_t>(length))).parent_path();
}

// $BERT_EMBED_SENTENCEPIECE_PLUGIN, else beside the executable, else where
// the build put it.
std::vector<std::filesystem::path> plugin_candidates() {
  std::vector<std::filesystem::path> candidates;
  if (const char* from_env = std::getenv("BERT_EMBED_SENTENCEPIECE_PLUGIN")) candidates.emplace_back(from_env);
  const std::filesystem::path beside_executable = executable_dir() / kPluginName;
  if (!beside_executable.empty()) candidates.push_back(beside_executable);
  candidates.emplace_back(BERT_EMBED_SENTENCEPIECE_PLUGIN_PATH);
  return candidates;
}

template <typename Function>
Function symbol(void* handle, const char* name, const std::filesystem::path& file) {
  void* address = dlsym(handle, name);
  if (address == nullptr) throw std::runtime_error(file.string() + ": missing symbol " + name);
  return reinterpret_cast<Function>(address);
}

}  // namespace

struct SentencePieceModel::Plugin {
  bert_embed_spm_load_fn load;
  bert_embed_spm_free_fn free;
  bert_embed_spm_encode_fn encode;
  bert_embed_spm_piece_to_id_fn piece_to_id;
  bert_embed_spm_id_to_piece_fn id_to_piece;
  bert_embed_spm_piece_count_fn piece_count;
  bert_embed_spm_unk_id_fn unk_id;

  // Loaded once and kept for the life of the process.
  static const Plugin& instance() {
    static const Plugin plugin = open();
    return plugin;
  }

 private:
  static Plugin open() {
    std::string tried;
    for (const std::filesystem::path& file : plugin_candidates()) {
      if (!std::filesystem::exists(file)) {
        tried += " " + file.string();
        continue;
      }
      void* handle = open_isolated(file);
      if (handle == nullptr) throw std::runtime_error("cannot load the SentencePiece plugin: " + std::string(dlerror()));
      return Plugin{symbol<bert_embed_spm_load_fn>(handle, "bert_embed_spm_load", file),
                    symbol<bert_embed_spm_free_fn>(handle, "bert_embed_spm_free", file),
                    symbol<bert_embed_spm_encode_fn>(handle, "bert_embed_spm_encode", file),
                    symbol<bert_embed_spm_piece_to_id_fn>(handle, "bert_embed_spm_piece_to_id", file),
                    symbol<bert_embed_spm_id_to_piece_fn>(handle, "bert_embed_spm_id_to_piece", file),
                    symbol<bert_embed_spm_piece_count_fn>(handle, "bert_embed_spm_piece_count", file),
                    symbol<bert_embed_spm_unk_id_fn>(handle, "bert_embed_spm_unk_id", file)};
    }
    throw std::runtime_error(std::string("SentencePiece plugin ") + kPluginName + " not found (looked at" + tried +
                             "; set BERT_EMBED_SENTENCEPIECE_PLUGIN)");
  }
};

SentencePieceModel::SentencePieceModel(const std::filesystem::path& model_file)
    : plugin_(Plugin::instance()), model_(nullptr) {
  check_tokenizer_file(model_file);
  std::array<char, 1024> error{};
  model_ = plugin_.load(model_file.c_str(), error.data(), error.size());
  if (model_ == nullptr) {
    throw std::runtime_error("cannot load SentencePiece model " + model_file.string() + ": " + error.data());
  }
}

SentencePieceModel::~SentencePieceModel() { plugin_.free(model_); }

std::vector<SentencePieceModel::Piece> SentencePieceModel::encode(std::string_view text) const {
  std::vector<Piece> pieces;
  const auto collect = [](void* context, const char* piece, std::size_t piece_size, int id, std::size_t begin,
                          std::size_t end) {
    static_cast<std::vector<Piece>*>(context)->push_back({std::string(piece, piece_size), id, begin, end});
  };
  std::array<char, 1024> error{};
  if (plugin_.encode(model_, text.data(), text.size(), collect, &pieces, error.data(), error.size()) != 0) {
    throw std::runtime_error(std::string("SentencePiece encoding failed: ") + error.data());
  }
  return pieces;
}

int SentencePieceModel::piece_to_id(std::string_view piece) const {
  return plugin_.piece_to_id(model_, piece.data(), piece.size());
}

std::string SentencePieceModel::id_to_piece(int id) const {
  std::size_t size = 0;
  const char* piece = plugin_.id_to_piece(model_, id, &size);
  return std::string(piece, size);
}

int SentencePieceModel::piece_count() const { return plugin_.piece_count(model_); }

int SentencePieceModel::unk_id() const { return plugin_.unk_id(model_); }

}  // namespace bert_embed
