// The C boundary between bert_embed and libsentencepiece.
//
// Debian's libsentencepiece carries its own copy of protobuf 3.14, while
// libtorch loads the system's libprotobuf 3.21. In one symbol namespace one of
// them breaks: either libprotobuf's start-up binds to sentencepiece's copy and
// crashes, or sentencepiece's generated code binds to libprotobuf and fails its
// version check. So libsentencepiece is only linked into a small plugin that
// SentencePieceModel loads with RTLD_LOCAL | RTLD_DEEPBIND, which binds it to
// its own protobuf. Only C types cross this boundary.
#pragma once

#include <stddef.h>

extern "C" {

typedef struct bert_embed_spm bert_embed_spm;

// Receives each piece of an encoding: its text, id and byte range in the input.
typedef void (*bert_embed_spm_piece_sink)(void* context, const char* piece, size_t piece_size, int id,
                                           size_t begin, size_t end);

// Returns NULL and writes a message into error on failure.
typedef bert_embed_spm* (*bert_embed_spm_load_fn)(const char* model_file, char* error, size_t error_size);
typedef void (*bert_embed_spm_free_fn)(bert_embed_spm* model);
// Returns 0 on success, or -1 with a message in error.
typedef int (*bert_embed_spm_encode_fn)(const bert_embed_spm* model, const char* text, size_t text_size,
                                         bert_embed_spm_piece_sink sink, void* context, char* error,
                                         size_t error_size);
typedef int (*bert_embed_spm_piece_to_id_fn)(const bert_embed_spm* model, const char* piece, size_t piece_size);
// The returned text lives as long as the model.
typedef const char* (*bert_embed_spm_id_to_piece_fn)(const bert_embed_spm* model, int id, size_t* piece_size);
typedef int (*bert_embed_spm_piece_count_fn)(const bert_embed_spm* model);
typedef int (*bert_embed_spm_unk_id_fn)(const bert_embed_spm* model);

}  // extern "C"
