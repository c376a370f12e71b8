// tools/pipeline/generate.cpp — sampling from a language model (contract in generate.h).
#include "tools/pipeline/generate.h"

#include <algorithm>
#include <cmath>
#include <numeric>

#include "core/autograd.h"
#include "core/error.h"
#include "core/rng.h"

namespace raoq::tools {
namespace {

// One id from logits (V): greedy, or a draw from the tempered, top-k softmax.
int64_t pick(const float* logits, int64_t V, const SampleOptions& o, Generator& gen) {
  std::vector<int64_t> order(static_cast<size_t>(V));
  std::iota(order.begin(), order.end(), 0);
  // Largest first; equal logits keep the lower id first (stable), so greedy is reproducible.
  std::stable_sort(order.begin(), order.end(), [&](int64_t a, int64_t b) { return logits[a] > logits[b]; });
  if (o.temperature == 0.0) return order[0];
  const int64_t k = o.top_k > 0 ? std::min(o.top_k, V) : V;
  std::vector<double> p(static_cast<size_t>(k));
  const double top = logits[order[0]];
  double sum = 0;
  for (int64_t i = 0; i < k; ++i) sum += p[size_t(i)] = std::exp((logits[order[size_t(i)]] - top) / o.temperature);
  const double u = static_cast<double>(gen.uniform01()) * sum;
  double acc = 0;
  for (int64_t i = 0; i < k; ++i) {
    acc += p[size_t(i)];
    if (u < acc) return order[size_t(i)];
  }
  return order[size_t(k - 1)];
}

}  // namespace

std::vector<int64_t> sample_tokens(Module& model, const std::vector<int64_t>& prompt, int64_t context,
                                   const SampleOptions& o) {
  RAOQ_CHECK(!prompt.empty(), "generate: the prompt must hold at least one token");
  RAOQ_CHECK(context >= 1, "generate: context must be positive (got ", context, ")");
  RAOQ_CHECK(std::isfinite(o.temperature) && o.temperature >= 0, "generate: temperature must be >= 0 (got ",
             o.temperature, ")");
  RAOQ_CHECK(o.tokens >= 0 && o.top_k >= 0, "generate: tokens and top_k must be >= 0");
  const bool was_training = model.is_training();
  model.eval();
  autograd::NoGradGuard no_grad;
  Generator gen(o.seed);
  std::vector<int64_t> ids = prompt, out;
  try {
    for (int64_t n = 0; n < o.tokens; ++n) {
      const int64_t T = std::min<int64_t>(context, static_cast<int64_t>(ids.size()));
      Tensor x = Tensor::empty({1, T});
      for (int64_t t = 0; t < T; ++t) x.data()[t] = static_cast<float>(ids[ids.size() - size_t(T) + size_t(t)]);
      const Tensor logits = model.forward(x);  // (1, T, V)
      RAOQ_CHECK(logits.dim() == 3 && logits.size(1) == T, "generate: the model returned ", shape_str(logits.shape()),
                 " for ", shape_str(x.shape()), "; it is not a language model (B, T) -> (B, T, V)");
      const int64_t V = logits.size(2);
      const int64_t next = pick(logits.data() + (T - 1) * V, V, o, gen);
      ids.push_back(next);
      out.push_back(next);
    }
  } catch (...) {
    model.train(was_training);
    throw;
  }
  model.train(was_training);
  return out;
}

}  // namespace raoq::tools
