// data/text_loader.h — next-token batches for language models: random training windows and
// evaluation windows that score every token once.
//
//   TextCorpus corpus({.path = "/usr/share/games/fortunes", .seed = 0});
//   TextTokenizer tok = TextTokenizer::bytes();              // or chars(corpus.joined(train))
//   TextLoader loader(corpus, tok, {.batch_size = 32, .context = 128, .seed = 1});
//   TextBatch b = loader.next();                             // b.ids, b.targets: (B, T)
//   checkpoint["loader"] = loader.state();                   // resumable bit for bit
//   for (int64_t i = 0; i < loader.eval_batch_count(TextSplit::valid); ++i) {
//     TextBatch e = loader.eval_batch(TextSplit::valid, i);   // (B, T), the last maybe (1, T')
//     loss_sum += mean_loss(e) * e.tokens();                  // then divide by tokens(valid) - 1
//   }
//
// Legend: B = batch rows (windows), T = tokens per row, N = tokens in a split's stream.
//
// Streams: each split's token stream is the tokenizer's encoding of TextCorpus::joined(split),
// that is its documents in corpus order with one newline (kDocumentSeparator) between
// neighbours. Every split must hold at least context + 1 tokens (one whole window).
//
// Training: each next() draws B window starts s uniformly from [0, N - T - 1] with the
// loader's Generator (seeded by options.seed); row b is ids = stream[s, s + T), targets =
// stream[s + 1, s + T], so targets[b, t] is the token that follows ids[b, t]. Training never
// ends; step() counts the batches handed out. The state (the Generator's current words and the
// step) restores the exact same sequence of batches in a new process.
//
// Evaluation: window j covers ids = stream[j T, j T + T) and targets = stream[j T + 1, j T + T],
// so consecutive windows share one token (the last target of one is the first input of the
// next) and every token after the first, positions 1..N-1, is a target exactly once. The
// (N - 1) / T full windows come B to a batch, in stream order (the last such batch may have
// fewer rows); when T does not divide N - 1, one final batch of shape (1, (N - 1) mod T) holds
// the shorter rest. Every batch is rectangular and every target in it counts, so no mask is
// needed: the split's mean loss is sum(batch mean loss * batch.tokens()) / (N - 1).
//
// What it deliberately does not do: prefetch (a batch is B*T copies), document-aligned windows,
// padding, or streams larger than memory (tokens are held as int64_t, 8 bytes each).
#pragma once

#include <array>
#include <cstdint>
#include <nlohmann/json_fwd.hpp>
#include <string>
#include <vector>

#include "core/rng.h"
#include "data/text_corpus.h"
#include "data/text_tokenizer.h"

namespace raoq::data {

struct TextBatch {
  std::vector<int64_t> ids;      // (B, T) input tokens, row-major
  std::vector<int64_t> targets;  // (B, T) targets[b, t] = the token after ids[b, t]
  std::vector<int64_t> starts;   // (B) stream offset of each row's first input token
  int64_t rows = 0;              // B
  int64_t length = 0;            // T: the context, or less for evaluation's final window
  int64_t index = 0;             // training: the step it was drawn at; evaluation: the batch index
  std::vector<int64_t> shape() const { return {rows, length}; }  // a Shape: (B, T)
  int64_t tokens() const { return rows * length; }  // scored targets
};

struct TextLoaderOptions {
  int64_t batch_size = 32;  // B
  int64_t context = 128;    // T
  uint64_t seed = 0;        // the training windows' Generator
};

// Where training stands: enough to continue the same sequence of batches in a new process.
struct TextLoaderState {
  int64_t step = 0;              // training batches already handed out
  Generator::State generator{};  // the loader's Generator now, after `step` batches
  // What decides the batch sequence; set_state() refuses a loader that differs.
  int64_t train_tokens = 0;
  int64_t batch_size = 0;
  int64_t context = 0;
};
// JSON form (generator words as hex strings, as LoaderState). from_json throws raoq::Error
// naming a missing or malformed key.
void to_json(nlohmann::json& j, const TextLoaderState& state);
void from_json(const nlohmann::json& j, TextLoaderState& state);

class TextLoader {
 public:
  // Encodes the corpus's three splits with `tokenizer` (the loader keeps only the streams).
  // Throws naming the split, its token count and the window when a split is too short.
  TextLoader(const TextCorpus& corpus, const TextTokenizer& tokenizer, TextLoaderOptions options);

  // Training: the next B random windows (above). Never ends.
  TextBatch next();
  int64_t step() const { return step_; }
  TextLoaderState state() const;
  // Continues from `state` (same train_tokens, batch_size and context required).
  void set_state(const TextLoaderState& state);

  // Evaluation (above); batch i of eval_batch_count(split), 0 <= i. Pure: any order, any thread.
  int64_t eval_batch_count(TextSplit split) const;
  TextBatch eval_batch(TextSplit split, int64_t i) const;

  const std::vector<int64_t>& stream(TextSplit split) const { return streams_[static_cast<size_t>(split)]; }
  int64_t tokens(TextSplit split) const { return static_cast<int64_t>(stream(split).size()); }
  int64_t vocab_size() const { return vocab_size_; }
  const TextLoaderOptions& options() const { return options_; }
  // One line for logs: "text_loader: bytes vocabulary 256; train 2296660 tokens, valid ...;
  // batch 32 x context 128".
  std::string describe() const;

 private:
  int64_t full_windows(TextSplit split) const;  // (N - 1) / T
  // Row r of `batch` = the window starting at stream offset `start`, `length` inputs long.
  void fill_row(const std::vector<int64_t>& stream, int64_t start, int64_t length, TextBatch& batch, int64_t r) const;

  TextLoaderOptions options_;
  std::array<std::vector<int64_t>, 3> streams_;  // (N) per split, indexed by TextSplit
  int64_t vocab_size_ = 0;
  std::string tokenizer_kind_;
  Generator gen_;
  int64_t step_ = 0;
};

}  // namespace raoq::data
