#include "bert_embed/io/manifest.h"

namespace bert_embed {

std::string bert_embed_version() { return BERT_EMBED_VERSION; }

}  // namespace bert_embed
