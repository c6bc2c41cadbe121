// The plugin side of sentencepiece_plugin.h: the only code that links
// libsentencepiece. Built as a module and loaded by SentencePieceModel.
#include "text/sentencepiece_plugin.h"

#include <sentencepiece_processor.h>

#include <algorithm>
#include <cstring>
#include <memory>
#include <exception>
#include <string>
#include <string_view>

struct bert_embed_spm {
  sentencepiece::SentencePieceProcessor processor;
};

namespace {

void write_error(char* error, size_t error_size, const std::string& message) {
  if (error == nullptr || error_size == 0) return;
  const size_t length = std::min(message.size(), error_size - 1);
  std::memcpy(error, message.data(), length);
  error[length] = '\0';
}

}  // namespace

extern "C" {

__attribute__((visibility("default"))) bert_embed_spm* bert_embed_spm_load(const char* model_file, char* error,
                                                                            size_t error_size) {
  try {
    auto model = std::make_unique<bert_embed_spm>();
    const sentencepiece::util::Status status = model->processor.Load(model_file);
    if (!status.ok()) {
      write_error(error, error_size, status.ToString());
      return nullptr;
    }
    return model.release();
  } catch (const std::exception& e) {
    write_error(error, error_size, e.what());
    return nullptr;
  }
}

__attribute__((visibility("default"))) void bert_embed_spm_free(bert_embed_spm* model) { delete model; }

__attribute__((visibility("default"))) int bert_embed_spm_encode(const bert_embed_spm* model, const char* text,
                                                                 size_t text_size, bert_embed_spm_piece_sink sink,
                                                                 void* context, char* error, size_t error_size) {
  try {
    sentencepiece::ImmutableSentencePieceText encoded;
    const sentencepiece::util::Status status =
        model->processor.Encode(std::string_view(text, text_size), encoded.mutable_proto());
    if (!status.ok()) {
      write_error(error, error_size, status.ToString());
      return -1;
    }
    for (const auto& piece : encoded.pieces()) {
      const std::string& surface = piece.piece();
      sink(context, surface.data(), surface.size(), static_cast<int>(piece.id()), piece.begin(), piece.end());
    }
    return 0;
  } catch (const std::exception& e) {
    write_error(error, error_size, e.what());
    return -1;
  }
}

__attribute__((visibility("default"))) int bert_embed_spm_piece_to_id(const bert_embed_spm* model,
                                                                      const char* piece, size_t piece_size) {
  return model->processor.PieceToId(std::string_view(piece, piece_size));
}

__attribute__((visibility("default"))) const char* bert_embed_spm_id_to_piece(const bert_embed_spm* model, int id,
                                                                             size_t* piece_size) {
  const std::string& piece = model->processor.IdToPiece(id);
  *piece_size = piece.size();
  return piece.data();
}

__attribute__((visibility("default"))) int bert_embed_spm_piece_count(const bert_embed_spm* model) {
  return model->processor.GetPieceSize();
}

__attribute__((visibility("default"))) int bert_embed_spm_unk_id(const bert_embed_spm* model) {
  return model->processor.unk_id();
}

}  // extern "C"
