// data/text_loader.cpp — TextLoader: token streams, training and evaluation windows, resume.
#include "data/text_loader.h"

#include <algorithm>
#include <nlohmann/json.hpp>

#include "core/error.h"
#include "data/detail/state_json.h"

namespace raoq::data {
// ---------------------------------------------------------------- TextLoaderState <-> JSON

void to_json(nlohmann::json& j, const TextLoaderState& s) {
  j = {{"step", s.step},
       {"generator", detail::generator_to_json(s.generator)},
       {"train_tokens", s.train_tokens},
       {"batch_size", s.batch_size},
       {"context", s.context}};
}

void from_json(const nlohmann::json& j, TextLoaderState& s) {
  RAOQ_CHECK(j.is_object(), "text_loader state: expected a JSON object, got ", j.type_name());
  constexpr const char* what = "text_loader state";
  s.step = detail::state_non_negative(j, what, "step");
  s.train_tokens = detail::state_non_negative(j, what, "train_tokens");
  s.batch_size = detail::state_non_negative(j, what, "batch_size");
  s.context = detail::state_non_negative(j, what, "context");
  s.generator = detail::generator_from_json(j, what, "generator");
}

// ---------------------------------------------------------------- TextLoader

TextLoader::TextLoader(const TextCorpus& corpus, const TextTokenizer& tokenizer, TextLoaderOptions options)
    : options_(options), vocab_size_(tokenizer.vocab_size()), tokenizer_kind_(tokenizer.kind_name()) {
  const int64_t b = options_.batch_size, t = options_.context;
  RAOQ_CHECK(b > 0, "text_loader: batch_size must be positive, got ", b);
  RAOQ_CHECK(t > 0, "text_loader: context must be positive, got ", t);
  for (TextSplit split : kTextSplits) {
    std::vector<int64_t>& s = streams_[static_cast<size_t>(split)];
    s = tokenizer.encode(corpus.joined(split));
    const auto n = static_cast<int64_t>(s.size());
    RAOQ_CHECK(n >= t + 1, "text_loader: the ", text_split_name(split), " split holds ", n,
               " tokens, shorter than one window of context + 1 = ", t + 1,
               " tokens -- hint: lower the context or use a larger corpus");
  }
  gen_.seed_with(options_.seed);
}

void TextLoader::fill_row(const std::vector<int64_t>& stream, int64_t start, int64_t length, TextBatch& batch,
                          int64_t r) const {
  const auto first = stream.begin() + start;
  std::copy(first, first + length, batch.ids.begin() + r * batch.length);
  std::copy(first + 1, first + length + 1, batch.targets.begin() + r * batch.length);
  batch.starts[static_cast<size_t>(r)] = start;
}

TextBatch TextLoader::next() {
  const std::vector<int64_t>& s = stream(TextSplit::train);
  const int64_t t = options_.context;
  // Starts in [0, N - T - 1]: N - T choices, so the window's last target, s + T, is in the stream.
  const auto choices = static_cast<uint64_t>(static_cast<int64_t>(s.size()) - t);
  TextBatch batch;
  batch.rows = options_.batch_size;
  batch.length = t;
  batch.index = step_;
  batch.ids.resize(static_cast<size_t>(batch.tokens()));
  batch.targets.resize(static_cast<size_t>(batch.tokens()));
  batch.starts.resize(static_cast<size_t>(batch.rows));
  for (int64_t r = 0; r < batch.rows; ++r) fill_row(s, static_cast<int64_t>(gen_.below(choices)), t, batch, r);
  ++step_;
  return batch;
}

TextLoaderState TextLoader::state() const {
  return {step_, gen_.state(), tokens(TextSplit::train), options_.batch_size, options_.context};
}

void TextLoader::set_state(const TextLoaderState& s) {
  const auto differs = [](const char* what, int64_t saved, int64_t here) {
    RAOQ_CHECK(saved == here, "text_loader: the state was saved with ", what, " ", saved, " but this loader has ", here,
               "; resuming needs the same value");
  };
  differs("train_tokens", s.train_tokens, tokens(TextSplit::train));
  differs("batch_size", s.batch_size, options_.batch_size);
  differs("context", s.context, options_.context);
  RAOQ_CHECK(s.step >= 0, "text_loader: the state's step must be >= 0, got ", s.step);
  RAOQ_CHECK(s.generator[0] | s.generator[1] | s.generator[2] | s.generator[3],
             "text_loader: the generator state is all zeros (not a saved state)");
  gen_.set_state(s.generator);
  step_ = s.step;
}

int64_t TextLoader::full_windows(TextSplit split) const { return (tokens(split) - 1) / options_.context; }

int64_t TextLoader::eval_batch_count(TextSplit split) const {
  const int64_t full = full_windows(split), b = options_.batch_size;
  const bool rest = (tokens(split) - 1) % options_.context != 0;
  return (full + b - 1) / b + (rest ? 1 : 0);
}

TextBatch TextLoader::eval_batch(TextSplit split, int64_t i) const {
  const int64_t count = eval_batch_count(split);
  RAOQ_CHECK(i >= 0 && i < count, "text_loader: evaluation batch ", i, " of the ", text_split_name(split),
             " split is out of range [0, ", count, ")");
  const int64_t t = options_.context, b = options_.batch_size, full = full_windows(split);
  const int64_t full_batches = (full + b - 1) / b;
  TextBatch batch;
  batch.index = i;
  int64_t first_window = 0;
  if (i < full_batches) {
    first_window = i * b;
    batch.rows = std::min(b, full - first_window);
    batch.length = t;
  } else {
    first_window = full;  // the shorter rest after the full windows
    batch.rows = 1;
    batch.length = (tokens(split) - 1) % t;
  }
  batch.ids.resize(static_cast<size_t>(batch.tokens()));
  batch.targets.resize(static_cast<size_t>(batch.tokens()));
  batch.starts.resize(static_cast<size_t>(batch.rows));
  for (int64_t r = 0; r < batch.rows; ++r) fill_row(stream(split), (first_window + r) * t, batch.length, batch, r);
  return batch;
}

std::string TextLoader::describe() const {
  std::string out = "text_loader: " + tokenizer_kind_ + " vocabulary " + std::to_string(vocab_size_);
  for (TextSplit split : kTextSplits)
    out += std::string(split == TextSplit::train ? "; " : ", ") + text_split_name(split) + " " +
           std::to_string(tokens(split)) + " tokens";
  return out + "; batch " + std::to_string(options_.batch_size) + " x context " + std::to_string(options_.context);
}

}  // namespace raoq::data
