// bert-embed tokenize: what the model is given, one JSON object per line.
#include <iostream>
#include <memory>
#include <optional>
#include <string>

#include <nlohmann/json.hpp>

#include "bert_embed/io/output_file.h"
#include "commands/command.h"

namespace bert_embed {
namespace {

// ordered_json: keys in the order documented, index first.
nlohmann::ordered_json describe(const TokenizedLine& line, const Tokenizer& tokenizer) {
  nlohmann::ordered_json record = {{"index", line.index}};
  if (line.id) record["id"] = *line.id;
  nlohmann::ordered_json tokens = nlohmann::ordered_json::array();
  for (const std::int64_t id : line.encoding.ids) tokens.push_back(tokenizer.id_to_token(id));
  record["tokens"] = std::move(tokens);
  record["ids"] = line.encoding.ids;
  return record;
}

void run_tokenize(const TextInputOptions& options) {
  const TextStage text = load_text_stage(options);
  // Lines are written as they come: a co-process waiting for one gets it at once.
  constexpr std::size_t kLinesAhead = 256;
  TextSource source(options.input, options.input_options, text.tokenizer, text.settings, RecordRange{}, kLinesAhead);
  OutputFile out("-");
  while (std::optional<SourceItem> item = source.next()) {
    if (item->kind == SourceItem::Kind::kInputWaiting) {
      out.stream().flush();
      out.check_written();
      continue;
    }
    // Invalid UTF-8 was refused or repaired by the reader; a token string
    // that is not UTF-8 (a byte-level piece) is written with U+FFFD.
    out.stream() << describe(item->line, *text.tokenizer).dump(-1, ' ', false, nlohmann::ordered_json::error_handler_t::replace)
                 << '\n';
    out.check_written();
  }
  out.commit();
}

}  // namespace

CommandRun define_tokenize(CLI::App& app, const CommonOptions&) {
  auto options = std::make_shared<TextInputOptions>();
  add_text_input_options(app, *options);
  return [options] {
    check_text_input_options(*options);
    run_tokenize(*options);
  };
}

}  // namespace bert_embed
