// tests/data/test_text_loader.cpp — TextLoader: token streams, training windows (length, range,
// reproducibility, bitwise resume through JSON), evaluation windows that score every token
// after the first exactly once, and the refusals.
#include <nlohmann/json.hpp>

#include "data/text_loader.h"
#include "tests/data/data_testing.h"
#include "tests/support/testing.h"

using namespace raoq;
using namespace raoq::data;
using namespace raoq::data::testing;
using Catch::Matchers::Contains;

namespace {

// Explicit split files of the given byte lengths, with varied bytes (the stream is the file).
TextCorpus explicit_corpus(const TempDir& dir, int64_t train, int64_t valid, int64_t test) {
  const auto text = [](int64_t n, int salt) {
    std::string s;
    for (int64_t k = 0; k < n; ++k) s.push_back(static_cast<char>('!' + (k * 7 + salt) % 90));
    return s;
  };
  write_text(dir.file("train"), text(train, 1));
  write_text(dir.file("valid"), text(valid, 2));
  write_text(dir.file("test"), text(test, 3));
  return TextCorpus({.train = dir.file("train"), .valid = dir.file("valid"), .test = dir.file("test")});
}

bool same_batch(const TextBatch& a, const TextBatch& b) {
  return a.ids == b.ids && a.targets == b.targets && a.starts == b.starts && a.rows == b.rows &&
         a.length == b.length && a.index == b.index;
}

// Each row's ids and targets are the stream at its start, targets shifted by one.
void require_windows_match(const TextBatch& batch, const std::vector<int64_t>& stream) {
  REQUIRE(batch.ids.size() == static_cast<size_t>(batch.rows * batch.length));
  REQUIRE(batch.targets.size() == batch.ids.size());
  REQUIRE(batch.starts.size() == static_cast<size_t>(batch.rows));
  for (int64_t r = 0; r < batch.rows; ++r) {
    const int64_t s = batch.starts[static_cast<size_t>(r)];
    REQUIRE(s >= 0);
    REQUIRE(s + batch.length < static_cast<int64_t>(stream.size()));  // the last target is in the stream
    for (int64_t t = 0; t < batch.length; ++t) {
      const auto k = static_cast<size_t>(r * batch.length + t);
      REQUIRE(batch.ids[k] == stream[static_cast<size_t>(s + t)]);
      REQUIRE(batch.targets[k] == stream[static_cast<size_t>(s + t + 1)]);
    }
  }
}

}  // namespace

TEST_CASE("text_loader: streams are the encoded splits, documents joined by a newline", "[data]") {
  TempDir dir("text_streams");
  std::string file;
  for (int k = 0; k < 60; ++k) file += "document number " + std::to_string(k) + "\n%\n";
  write_text(dir.file("f"), file);
  const TextCorpus corpus({.path = dir.file("f"), .seed = 2});
  const TextTokenizer chars = TextTokenizer::chars(corpus.joined(TextSplit::train));
  const TextLoader loader(corpus, chars, {.batch_size = 2, .context = 8});
  for (TextSplit split : kTextSplits) {
    CHECK(loader.stream(split) == chars.encode(corpus.joined(split)));
    CHECK(chars.decode(loader.stream(split)) == corpus.joined(split));  // every char seen in train
  }
  CHECK(loader.vocab_size() == chars.vocab_size());
  // Between documents "...k\n" + separator: a blank line, i.e. two newline tokens.
  const std::string train = corpus.joined(TextSplit::train);
  CHECK(train.find("\n\ndocument number ") != std::string::npos);
  CHECK_THAT(loader.describe(), Contains("text_loader: chars vocabulary " + std::to_string(chars.vocab_size())));
}

TEST_CASE("text_loader: training windows are context + 1 tokens, in range and reproducible", "[data]") {
  TempDir dir("text_train");
  const TextCorpus corpus = explicit_corpus(dir, 300, 40, 40);
  const TextLoaderOptions options{.batch_size = 6, .context = 16, .seed = 7};
  TextLoader loader(corpus, TextTokenizer::bytes(), options);
  TextLoader twin(corpus, TextTokenizer::bytes(), options);
  TextLoader other(corpus, TextTokenizer::bytes(), {.batch_size = 6, .context = 16, .seed = 8});
  const std::vector<int64_t>& stream = loader.stream(TextSplit::train);
  REQUIRE(stream.size() == 300);
  std::vector<int64_t> start_counts(300, 0);
  bool any_different = false;
  for (int64_t step = 0; step < 200; ++step) {
    const TextBatch b = loader.next();
    CHECK(b.shape() == Shape{6, 16});
    CHECK(b.index == step);
    require_windows_match(b, stream);
    for (int64_t id : b.ids) REQUIRE((id >= 0 && id < 256));
    REQUIRE(same_batch(b, twin.next()));
    any_different = any_different || b.starts != other.next().starts;
    for (int64_t s : b.starts) ++start_counts[static_cast<size_t>(s)];
  }
  CHECK(loader.step() == 200);
  CHECK(any_different);
  // 1200 draws over the 284 possible starts [0, 283]: both ends are reachable, nothing beyond.
  CHECK(start_counts[0] > 0);
  CHECK(start_counts[283] > 0);
  for (size_t s = 284; s < 300; ++s) CHECK(start_counts[s] == 0);

  // The smallest legal stream, exactly one window: the only start is 0.
  TempDir small_dir("text_train_small");
  TextLoader exact(explicit_corpus(small_dir, 17, 17, 17), TextTokenizer::bytes(), {.batch_size = 3, .context = 16});
  CHECK(exact.next().starts == std::vector<int64_t>{0, 0, 0});
}

TEST_CASE("text_loader: a state saved mid-way through JSON resumes bit for bit", "[data]") {
  TempDir dir("text_resume");
  const TextCorpus corpus = explicit_corpus(dir, 500, 40, 40);
  const TextLoaderOptions options{.batch_size = 4, .context = 12, .seed = 21};
  TextLoader straight(corpus, TextTokenizer::bytes(), options);
  std::vector<TextBatch> expected;
  for (int k = 0; k < 9; ++k) expected.push_back(straight.next());

  TextLoader first(corpus, TextTokenizer::bytes(), options);
  for (int k = 0; k < 4; ++k) REQUIRE(same_batch(first.next(), expected[static_cast<size_t>(k)]));
  const std::string saved = nlohmann::json(first.state()).dump();

  TextLoader resumed(corpus, TextTokenizer::bytes(), {.batch_size = 4, .context = 12, .seed = 999});
  resumed.set_state(nlohmann::json::parse(saved).get<TextLoaderState>());
  CHECK(resumed.step() == 4);
  for (int k = 4; k < 9; ++k) {
    CAPTURE(k);
    REQUIRE(same_batch(resumed.next(), expected[static_cast<size_t>(k)]));
  }

  // A state only fits a loader that draws the same windows.
  TextLoader wider(corpus, TextTokenizer::bytes(), {.batch_size = 4, .context = 13});
  CHECK_THAT(error_of([&] { wider.set_state(first.state()); }),
             Contains("text_loader: the state was saved with context 12 but this loader has 13"));
  TextLoaderState zeros = first.state();
  zeros.generator = {};
  CHECK_THAT(error_of([&] { resumed.set_state(zeros); }), Contains("the generator state is all zeros"));
  nlohmann::json j = first.state();
  j.erase("step");
  CHECK_THAT(error_of([&] { (void)j.get<TextLoaderState>(); }), Contains("text_loader state: key 'step' is missing"));
  j = first.state();
  j["generator"][2] = "0xZZ";
  CHECK_THAT(error_of([&] { (void)j.get<TextLoaderState>(); }),
             Contains("text_loader state: 'generator'[2] must be a hex string"));
}

TEST_CASE("text_loader: evaluation windows score every token after the first exactly once", "[data]") {
  // (N, T, B): T divides N - 1; a shorter rest; one window; a rest of one token; B = 1.
  const auto row = GENERATE(table<int64_t, int64_t, int64_t>(
      {{49, 8, 2}, {50, 8, 2}, {9, 8, 4}, {10, 8, 4}, {101, 7, 3}, {33, 4, 1}}));
  const int64_t n = std::get<0>(row), t = std::get<1>(row), b = std::get<2>(row);
  CAPTURE(n, t, b);
  TempDir dir("text_eval");
  const TextLoader loader(explicit_corpus(dir, 200, n, n), TextTokenizer::bytes(), {.batch_size = b, .context = t});
  const std::vector<int64_t>& stream = loader.stream(TextSplit::valid);
  REQUIRE(static_cast<int64_t>(stream.size()) == n);
  std::vector<int64_t> scored(static_cast<size_t>(n), 0);
  int64_t total = 0;
  const int64_t count = loader.eval_batch_count(TextSplit::valid);
  const int64_t full = (n - 1) / t, rest = (n - 1) % t;
  CHECK(count == (full + b - 1) / b + (rest > 0 ? 1 : 0));
  for (int64_t i = 0; i < count; ++i) {
    const TextBatch batch = loader.eval_batch(TextSplit::valid, i);
    CHECK(batch.index == i);
    require_windows_match(batch, stream);
    const bool last_rest = rest > 0 && i == count - 1;
    CHECK(batch.shape() == (last_rest ? Shape{1, rest} : Shape{std::min(b, full - i * b), t}));
    for (int64_t s : batch.starts)
      for (int64_t k = 1; k <= batch.length; ++k) ++scored[static_cast<size_t>(s + k)];
    total += batch.tokens();
  }
  CHECK(total == n - 1);
  CHECK(scored[0] == 0);
  for (int64_t k = 1; k < n; ++k) REQUIRE(scored[static_cast<size_t>(k)] == 1);
  CHECK_THAT(error_of([&] { loader.eval_batch(TextSplit::valid, count); }),
             Contains("text_loader: evaluation batch " + std::to_string(count) + " of the valid split is out of range"));
}

TEST_CASE("text_loader: a split shorter than one window is refused, naming it", "[data]") {
  TempDir dir("text_short");
  const TextCorpus corpus = explicit_corpus(dir, 100, 40, 64);
  CHECK_THAT(error_of([&] { TextLoader l(corpus, TextTokenizer::bytes(), {.batch_size = 2, .context = 64}); }),
             Contains("text_loader: the valid split holds 40 tokens, shorter than one window of context + 1 = 65 tokens"));
  CHECK_THAT(error_of([&] { TextLoader l(corpus, TextTokenizer::bytes(), {.batch_size = 2, .context = 100}); }),
             Contains("text_loader: the train split holds 100 tokens, shorter than one window of context + 1 = 101"));
  CHECK_THAT(error_of([&] { TextLoader l(corpus, TextTokenizer::bytes(), {.batch_size = 2, .context = 40}); }),
             Contains("the valid split holds 40 tokens, shorter than one window of context + 1 = 41"));
  CHECK(error_of([&] { TextLoader l(corpus, TextTokenizer::bytes(), {.batch_size = 2, .context = 39}); }).empty());
  CHECK_THAT(error_of([&] { TextLoader l(corpus, TextTokenizer::bytes(), {.batch_size = 0, .context = 8}); }),
             Contains("text_loader: batch_size must be positive, got 0"));
  CHECK_THAT(error_of([&] { TextLoader l(corpus, TextTokenizer::bytes(), {.batch_size = 2, .context = 0}); }),
             Contains("text_loader: context must be positive, got 0"));
}
