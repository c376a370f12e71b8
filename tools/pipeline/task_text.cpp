// tools/pipeline/task_text.cpp — language modelling as a Task (task.h): a text corpus, its
// tokenizer and the text loader (data/text_loader.h) behind the trainer's interface.
//
// An epoch of a language-model stage is as many batches as it takes to draw as many tokens as
// the training split holds (its windows are random, so an epoch is a budget, not a pass over
// every window). data.eval_tokens > 0 scores valid and test only up to the first evaluation batch
// that reaches eval_tokens targets (quick runs); 0 scores every target of the split.
#include <algorithm>
#include <chrono>
#include <optional>
#include <cmath>
#include <string>
#include <utility>

#include "core/autograd.h"
#include "core/distributed.h"
#include "core/error.h"
#include "core/ops.h"
#include "data/text_loader.h"
#include "models/bert.h"
#include "models/registry.h"
#include "tools/pipeline/task.h"

namespace raoq::tools {
namespace {

using data::TextSplit;

Tensor ids_tensor(const std::vector<int64_t>& ids, const Shape& shape) {
  Tensor x = Tensor::empty(shape);
  for (size_t i = 0; i < ids.size(); ++i) x.data()[i] = static_cast<float>(ids[i]);  // whole numbers: exact below 2^24
  return x;
}

// A loader batch as the objective scores it. masked: BERT's corruption of the window's own ids
// (models/bert.h), drawn from a Generator seeded by mask_seed alone, so a resumed run and every
// evaluation mask the same positions the same way.
StepBatch step_batch(const data::TextBatch& b, const std::string& objective, int64_t vocab, uint64_t mask_seed) {
  const Tensor ids = ids_tensor(b.ids, b.shape());
  if (objective != "masked") return StepBatch{ids, b.targets, {}};
  Generator gen(mask_seed);
  const models::MlmBatch m = models::make_mlm_batch(ids, vocab, gen);
  StepBatch s{m.inputs, {}, m.positions};
  for (int64_t i : m.positions) s.y.push_back(m.targets[size_t(i)]);
  return s;
}

uint64_t mix(uint64_t a, uint64_t b) {  // splitmix64 of (a, b): a mask seed per (stream, batch)
  uint64_t z = a * 0x9E3779B97F4A7C15ULL + b + 0x632BE59BD9B4E019ULL;
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
  return z ^ (z >> 31);
}

data::TextCorpusOptions corpus_options(const DataConfig& d, uint64_t seed) {
  data::TextCorpusOptions o;
  o.path = d.text_files.empty() ? d.root : "";
  if (!d.text_files.empty()) o.train = d.text_files[0], o.valid = d.text_files[1], o.test = d.text_files[2];
  o.seed = seed;
  return o;
}

// The tokenizer the config names when it needs no corpus to build: bytes, or a stored vocabulary.
std::optional<data::TextTokenizer> stored_tokenizer(const DataConfig& d) {
  if (d.tokens != "chars") return data::TextTokenizer::bytes();
  if (!d.vocabulary.is_null())
    return data::TextTokenizer::from_json(nlohmann::json::parse(d.vocabulary.dump()), "config: data.vocabulary");
  return std::nullopt;
}

class TextStream : public BatchStream {
 public:
  TextStream(const data::TextCorpus& corpus, const data::TextTokenizer& tok, data::TextLoaderOptions o,
             std::string objective)
      : loader_(corpus, tok, o), objective_(std::move(objective)), vocab_(tok.vocab_size()), seed_(o.seed) {
    const int64_t per_batch = o.batch_size * o.context;
    per_epoch_ = std::max<int64_t>(1, loader_.tokens(TextSplit::train) / per_batch);
  }
  std::optional<StepBatch> next() override {
    if (index_ == per_epoch_) {
      index_ = 0;
      return std::nullopt;
    }
    ++index_;
    const data::TextBatch b = loader_.next();
    return step_batch(b, objective_, vocab_, mix(seed_, static_cast<uint64_t>(b.index)));
  }
  int64_t batches_per_epoch() const override { return per_epoch_; }
  int64_t batch_index() const override { return index_; }
  Json state() const override {
    nlohmann::json j;
    data::to_json(j, loader_.state());
    Json s = Json::parse(j.dump());
    s["batch_index"] = index_;
    return s;
  }
  void set_state(const Json& state) override {
    RAOQ_CHECK(state.is_object() && state.contains("batch_index") && json_int64(state["batch_index"]),
               "train: the checkpoint's text loader state has no batch_index");
    data::TextLoaderState s;
    data::from_json(nlohmann::json::parse(state.dump()), s);
    loader_.set_state(s);
    index_ = *json_int64(state["batch_index"]);
  }

 private:
  data::TextLoader loader_;
  std::string objective_;
  int64_t vocab_ = 0;
  uint64_t seed_ = 0;
  int64_t per_epoch_ = 1, index_ = 0;
};

class TextTask : public Task {
 public:
  TextTask(const DataConfig& d, uint64_t seed) : d_(d), corpus_(corpus_options(d, seed)), tokenizer_(make_tokenizer()) {}

  std::string describe() const override {
    return corpus_.describe() + "; " + tokenizer_.kind_name() + " tokens, vocabulary " +
           std::to_string(tokenizer_.vocab_size());
  }
  bool has_validation() const override { return true; }
  std::unique_ptr<BatchStream> train_batches(int64_t batch_size, uint64_t seed) const override {
    return std::make_unique<TextStream>(corpus_, tokenizer_, data::TextLoaderOptions{batch_size, d_.context, seed},
                                        d_.objective);
  }
  EvalResult evaluate(Module& model, EvalSplit split, int64_t batch_size) const override;
  Json resolve_model(const Json& model_given) const override;
  void resolve_data(DataConfig& d) const override {
    if (tokenizer_.kind() == data::TokenizerKind::chars) d.vocabulary = Json::parse(tokenizer_.to_json().dump());
  }
  bool language_model() const override { return true; }

 private:
  data::TextTokenizer make_tokenizer() const {
    if (auto t = stored_tokenizer(d_)) return *t;
    return data::TextTokenizer::chars(corpus_.joined(TextSplit::train));
  }

  DataConfig d_;
  data::TextCorpus corpus_;
  data::TextTokenizer tokenizer_;
};

EvalResult TextTask::evaluate(Module& model, EvalSplit split, int64_t batch_size) const {
  const auto start = std::chrono::steady_clock::now();
  const TextSplit which = split == EvalSplit::validation ? TextSplit::valid : TextSplit::test;
  const data::TextLoader loader(corpus_, tokenizer_, {batch_size, d_.context, 0});
  const bool was_training = model.is_training();
  model.eval();
  autograd::NoGradGuard no_grad;
  const int64_t limit = d_.eval_tokens > 0 ? d_.eval_tokens : loader.tokens(which) - 1;
  const auto batch_at = [&](int64_t i) {
    return step_batch(loader.eval_batch(which, i), d_.objective, tokenizer_.vocab_size(), mix(0x5eed, static_cast<uint64_t>(i)));
  };
  // The batches one process evaluates: up to the one that reaches `limit` scored tokens. Data-parallel,
  // each rank takes a contiguous share of them (counted without running the model).
  int64_t first = 0, end = loader.eval_batch_count(which);
  if (dist::distributed()) {
    int64_t count = 0;
    for (int64_t seen = 0; count < end && seen < limit; ++count) seen += static_cast<int64_t>(batch_at(count).y.size());
    first = count * dist::rank() / dist::size();
    end = count * (dist::rank() + 1) / dist::size();
  }
  double loss_sum = 0.0;
  int64_t correct = 0, scored = 0;
  try {
    for (int64_t i = first; i < end && (dist::distributed() || scored < limit); ++i) {
      const StepBatch batch = batch_at(i);
      Tensor logits;
      const double mean = batch_loss(model, batch, 0.0f, &logits).item();
      const auto n = static_cast<int64_t>(batch.y.size());
      loss_sum += mean * static_cast<double>(n);
      correct += count_correct(logits, batch.y);
      scored += n;
    }
  } catch (...) {
    model.train(was_training);
    throw;
  }
  model.train(was_training);
  finish_sums(&loss_sum, &correct, &scored);
  EvalResult r;
  r.examples = scored;
  r.per_token = true;
  r.loss = scored ? loss_sum / static_cast<double>(scored) : 0.0;
  r.accuracy = scored ? 100.0 * static_cast<double>(correct) / static_cast<double>(scored) : 0.0;
  r.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return r;
}

Json TextTask::resolve_model(const Json& model_given) const {
  const Json defaults = models::validate_model(model_given, "config", "model");  // the options it reads
  // A bidirectional encoder trained on next tokens would read the very token it predicts; a causal
  // decoder has no [MASK] id for the masked objective.
  const std::string name = defaults.value("name", std::string());
  const bool encoder = name == "bert" || name == "bert-tiny";
  if (encoder && d_.objective != "masked")
    throw Error("config: data.objective is " + d_.objective + " but model " + name +
                " is bidirectional (it would see the tokens it predicts) -- set data.objective to masked");
  if (!encoder && d_.objective == "masked")
    throw Error("config: data.objective masked needs a masked-language model (bert, bert-tiny), not " + name);
  Json desc = model_given;
  const int64_t vocab = tokenizer_.vocab_size();
  if (defaults.contains("vocab")) {
    if (!desc.contains("vocab")) desc["vocab"] = vocab;
    else if (desc["vocab"].is_number_integer() && desc["vocab"].get<int64_t>() < vocab)
      throw Error("config: model.vocab is " + desc["vocab"].dump() + " but the " + tokenizer_.kind_name() +
                  " tokens of the data need " + std::to_string(vocab) + " -- leave it out to use the data's");
  }
  if (defaults.contains("context")) {
    if (!desc.contains("context")) desc["context"] = d_.context;
    else if (desc["context"].is_number_integer() && desc["context"].get<int64_t>() < d_.context)
      throw Error("config: model.context is " + desc["context"].dump() + " but data.context is " +
                  std::to_string(d_.context) + " (the model must see whole windows)");
  }
  return models::validate_model(desc, "config", "model");
}

}  // namespace

data::TextTokenizer text_tokenizer(const DataConfig& d, uint64_t seed) {
  RAOQ_CHECK(d.kind == "text", "generate: the run's data is '", d.kind, "', not text: it has no tokenizer");
  if (auto t = stored_tokenizer(d)) return *t;
  return data::TextTokenizer::chars(data::TextCorpus(corpus_options(d, seed)).joined(TextSplit::train));
}

std::unique_ptr<Task> make_text_task(const DataConfig& d, uint64_t seed, bool /*need_train*/) {
  return std::make_unique<TextTask>(d, seed);
}

}  // namespace raoq::tools
