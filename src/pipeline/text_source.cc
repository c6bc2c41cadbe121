#include "bert_embed/pipeline/text_source.h"

#include <algorithm>
#include <exception>
#include <string>
#include <thread>
#include <utility>

#include "bert_embed/io/input_stream.h"
#include "bert_embed/pipeline/bounded_queue.h"
#include "bert_embed/text/utf8.h"

namespace bert_embed {

TokenizedLine tokenize_record(InputRecord record, const Tokenizer& tokenizer, const TokenizeSettings& settings,
                              const std::string& input_name) {
  TokenizedLine line;
  line.index = record.index;
  line.id = std::move(record.id);
  line.input_end = record.end_offset;
  // The texts as the tokenizer gets them: stripped, the first one prefixed;
  // `offsets` says where each kept part starts in its line.
  const auto prepare = [&](const std::string& text) {
    return settings.strip_text ? strip_python_whitespace(text) : std::string_view(text);
  };
  const std::string_view first = prepare(record.text);
  const std::string prefixed = settings.prefix + std::string(first);
  const std::size_t offsets[2] = {static_cast<std::size_t>(first.data() - record.text.data()),
                                  record.pair ? static_cast<std::size_t>(prepare(*record.pair).data() -
                                                                         record.pair->data())
                                              : 0};
  try {
    line.encoding = record.pair
                        ? tokenizer.encode_pair(prefixed, prepare(*record.pair), settings.max_length)
                        : tokenizer.encode(prefixed, settings.max_length);
  } catch (const std::exception& error) {
    throw InputError(input_name, record.line_number, error.what());
  }
  line.line_cut = record.line_truncated;
  // Spans index the line as read: before the prefix, the stripping and the
  // repairs (--on-invalid-utf8 replace).
  for (std::size_t token = 0; token < line.encoding.size(); ++token) {
    const std::int8_t sequence = line.encoding.sequence_ids[token];
    if (sequence < 0) continue;
    Span& span = line.encoding.spans[token];
    const std::size_t skipped = sequence == 0 ? settings.prefix.size() : 0;
    if (span.end <= skipped) {
      span = Span{};
      continue;
    }
    span = Span{std::max(span.begin, skipped) - skipped + offsets[sequence], span.end - skipped + offsets[sequence]};
    const Utf8Repairs& repairs = sequence == 0 ? record.text_repairs : record.pair_repairs;
    if (!repairs.empty()) span = Span{repairs.original_offset(span.begin), repairs.original_offset(span.end)};
  }
  if (line.encoding.truncated && settings.on_overflow == OverflowPolicy::kError) {
    throw InputError(input_name, record.line_number,
                     "longer than the maximum of " + std::to_string(settings.max_length) +
                         " tokens (--on-overflow truncate would cut it)");
  }
  return line;
}

struct TextSource::State {
  State(const std::filesystem::path& path, const InputOptions& options, std::shared_ptr<const Tokenizer> tokenizer,
        const TokenizeSettings& settings, RecordRange range, std::size_t lines_ahead)
      : input(path),
        reader(input.stream(), input.name(), options),
        tokenizer(std::move(tokenizer)),
        settings(settings),
        range(range),
        queue(lines_ahead) {}

  // The thread's body: every error reaches the consumer through the queue.
  void run() {
    input.on_waiting([this] {
      if (!waiting_announced) waiting_announced = queue.push(SourceItem{SourceItem::Kind::kInputWaiting, {}});
    });
    try {
      while (std::optional<InputRecord> record = reader.next()) {
        if (record->index < range.first) continue;
        if (record->index >= range.end) break;
        SourceItem item{SourceItem::Kind::kLine, tokenize_record(std::move(*record), *tokenizer, settings, input.name())};
        waiting_announced = false;
        if (!queue.push(std::move(item))) return;
      }
      queue.finish(nullptr);
    } catch (...) {
      queue.finish(std::current_exception());
    }
  }

  InputStream input;
  bool waiting_announced = false;  // since the last line: one kInputWaiting per pause
  InputReader reader;
  std::shared_ptr<const Tokenizer> tokenizer;
  TokenizeSettings settings;
  RecordRange range;
  BoundedQueue<SourceItem> queue;
  std::thread thread;
};

TextSource::TextSource(const std::filesystem::path& input, const InputOptions& options,
                       std::shared_ptr<const Tokenizer> tokenizer, const TokenizeSettings& settings,
                       RecordRange range, std::size_t lines_ahead)
    : state_(std::make_unique<State>(input, options, std::move(tokenizer), settings, range, lines_ahead)) {
  state_->thread = std::thread([state = state_.get()] { state->run(); });
}

TextSource::~TextSource() {
  state_->queue.close();
  state_->input.interrupt();
  state_->thread.join();
}

std::optional<SourceItem> TextSource::next() { return state_->queue.pop(); }

const std::string& TextSource::input_name() const { return state_->input.name(); }

std::optional<std::uint64_t> TextSource::input_size() const { return state_->input.size_bytes(); }

}  // namespace bert_embed
