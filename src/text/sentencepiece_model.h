// A SentencePiece model, reached through the plugin of sentencepiece_plugin.h
// so that libsentencepiece and libtorch can share a process.
#pragma once

#include <cstddef>
#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

#include "text/sentencepiece_plugin.h"

namespace bert_embed {

class SentencePieceModel {
 public:
  struct Piece {
    std::string text;
    int id = 0;
    std::size_t begin = 0;  // byte range in the encoded input
    std::size_t end = 0;
  };

  // Throws std::runtime_error naming model_file (or the plugin) on failure.
  explicit SentencePieceModel(const std::filesystem::path& model_file);
  ~SentencePieceModel();
  SentencePieceModel(const SentencePieceModel&) = delete;
  SentencePieceModel& operator=(const SentencePieceModel&) = delete;

  std::vector<Piece> encode(std::string_view text) const;
  int piece_to_id(std::string_view piece) const;  // the unknown id when not a piece
  std::string id_to_piece(int id) const;
  int piece_count() const;
  int unk_id() const;

 private:
  struct Plugin;
  const Plugin& plugin_;
  ::bert_embed_spm* model_;
};

}  // namespace bert_embed
