#include "bert_embed/io/jsonl_writer.h"

#include <charconv>
#include <cmath>
#include <stdexcept>

#include "bert_embed/text/utf8.h"

namespace bert_embed {
namespace {

// values[0..count) as a JSON array.
void append_json_floats(std::string& out, const float* values, std::int64_t count) {
  out += '[';
  for (std::int64_t i = 0; i < count; ++i) {
    if (i > 0) out += ',';
    append_json_float(out, values[i]);
  }
  out += ']';
}

// rows [rows, width] (contiguous) as an array of arrays.
void append_json_rows(std::string& out, const float* values, std::int64_t rows,
                      std::int64_t width) {
  out += '[';
  for (std::int64_t row = 0; row < rows; ++row) {
    if (row > 0) out += ',';
    append_json_floats(out, values + row * width, width);
  }
  out += ']';
}

// The checked form of append_json_string for record fields: JSON text must be
// UTF-8, so invalid text is an error that names the record and the field.
void append_record_string(std::string& out, std::string_view text, std::int64_t index,
                          const char* field) {
  const std::size_t bad = find_invalid_utf8(text);
  if (bad != std::string_view::npos) {
    throw std::invalid_argument("record " + std::to_string(index) + ": " + field +
                                " is not valid UTF-8 (byte " + std::to_string(bad) + ")");
  }
  append_json_string(out, text);
}

// ,"<key>":<block> for a single slot; ,"layers":{"<label>":<block>,...} for
// several, the blocks lying block_size floats apart in `values`.
template <typename AppendBlock>
void append_slots(std::string& out, const std::vector<std::string>& labels, const char* key,
                  const float* values, std::int64_t block_size, AppendBlock append_block) {
  if (labels.size() == 1) {
    out += ",\"";
    out += key;
    out += "\":";
    append_block(out, values);
    return;
  }
  out += ",\"layers\":{";
  for (std::size_t slot = 0; slot < labels.size(); ++slot) {
    if (slot > 0) out += ',';
    append_json_string(out, labels[slot]);
    out += ':';
    append_block(out, values + slot * block_size);
  }
  out += '}';
}

}  // namespace

void append_json_string(std::string& out, std::string_view text) {
  static constexpr char kHex[] = "0123456789abcdef";
  out += '"';
  for (const char c : text) {
    const auto byte = static_cast<unsigned char>(c);
    if (c == '"' || c == '\\') {
      out += '\\';
      out += c;
    } else if (byte < 0x20) {
      out += "\\u00";
      out += kHex[byte >> 4];
      out += kHex[byte & 0xf];
    } else {
      out += c;
    }
  }
  out += '"';
}

void append_json_float(std::string& out, float value) {
  if (!std::isfinite(value)) {
    throw std::invalid_argument("cannot write " + std::to_string(value) +
                                " to JSON, which has no NaN or infinity");
  }
  // "-0" would read back as the integer 0 in parsers that keep integers
  // apart (nlohmann::json among them), losing the sign.
  if (value == 0.0f && std::signbit(value)) {
    out += "-0.0";
    return;
  }
  char buffer[32];
  const auto result = std::to_chars(buffer, buffer + sizeof(buffer), value);
  out.append(buffer, result.ptr);
}

JsonlWriter::JsonlWriter(OutputSet& outputs, const WriterOptions& options, Manifest provenance)
    : EmbeddingWriter(outputs, options, std::move(provenance)), out_(outputs.add(options.output)) {}

void JsonlWriter::begin_line(std::int64_t index, const std::optional<std::string_view>& id,
                             const at::Tensor& values) {
  if (!at::isfinite(values).all().item<bool>()) {
    throw std::invalid_argument("record " + std::to_string(index) +
                                ": NaN or infinity in the vectors, which JSON cannot represent");
  }
  line_ = "{\"index\":";
  line_ += std::to_string(index);
  if (id) {
    line_ += ",\"id\":";
    append_record_string(line_, *id, index, "id");
  }
}

void JsonlWriter::end_line() {
  line_ += "}\n";
  out_.stream().write(line_.data(), static_cast<std::streamsize>(line_.size()));
  out_.check_written();
}

void JsonlWriter::write_pooled(const PooledRecord& record) {
  const at::Tensor vectors = record.vectors.contiguous();
  begin_line(record.index, record.id, vectors);
  append_slots(
      line_, slot_labels(), "embedding", vectors.data_ptr<float>(), dim(),
      [this](std::string& out, const float* values) { append_json_floats(out, values, dim()); });
  end_line();
}

void JsonlWriter::write_tokens(const TokenRecord& record) {
  const at::Tensor embeddings = record.embeddings.contiguous();
  const std::int64_t tokens = embeddings.size(1);
  begin_line(record.index, record.id, embeddings);
  line_ += ",\"tokens\":[";
  for (std::size_t i = 0; i < record.tokens.size(); ++i) {
    if (i > 0) line_ += ',';
    append_record_string(line_, record.tokens[i], record.index, "a token");
  }
  line_ += "],\"spans\":[";
  for (std::size_t i = 0; i < record.spans.size(); ++i) {
    if (i > 0) line_ += ',';
    line_ += '[';
    line_ += std::to_string(record.spans[i].begin);
    line_ += ',';
    line_ += std::to_string(record.spans[i].end);
    line_ += ']';
  }
  line_ += ']';
  append_slots(line_, slot_labels(), "embeddings", embeddings.data_ptr<float>(), tokens * dim(),
               [this, tokens](std::string& out, const float* values) {
                 append_json_rows(out, values, tokens, dim());
               });
  end_line();
}

void JsonlWriter::flush_output() { out_.flush(); }

std::vector<CoveredFile> JsonlWriter::finish_output(Manifest&) { return {{&out_, records_written()}}; }

}  // namespace bert_embed
