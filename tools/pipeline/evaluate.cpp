// tools/pipeline/evaluate.cpp — evaluation loop.
#include "tools/pipeline/evaluate.h"

#include <chrono>

#include "core/autograd.h"
#include "core/ops.h"

namespace raoq::tools {

int64_t count_correct(const Tensor& logits, const std::vector<int64_t>& labels) {  // logits: (N, K)
  const int64_t n = logits.size(0), k = logits.size(1);
  const float* p = logits.data();
  int64_t correct = 0;
  for (int64_t i = 0; i < n; ++i) {
    int64_t best = 0;
    for (int64_t j = 1; j < k; ++j)
      if (p[i * k + j] > p[i * k + best]) best = j;
    correct += best == labels[static_cast<size_t>(i)];
  }
  return correct;
}

EvalResult evaluate(Module& model, const data::DatasetPtr& dataset, const data::LoaderOptions& options) {
  const auto start = std::chrono::steady_clock::now();
  const bool was_training = model.is_training();
  model.eval();
  autograd::NoGradGuard no_grad;
  data::DataLoader loader(dataset, options);
  double loss_sum = 0.0;
  int64_t correct = 0, seen = 0;
  try {
    while (auto batch = loader.next()) {
      Tensor logits = model.forward(batch->x);  // (N, K)
      const auto n = static_cast<int64_t>(batch->y.size());
      loss_sum += static_cast<double>(ops::cross_entropy(logits, batch->y).item()) * static_cast<double>(n);
      correct += count_correct(logits, batch->y);
      seen += n;
    }
  } catch (...) {
    model.train(was_training);
    throw;
  }
  model.train(was_training);
  EvalResult r;
  r.examples = seen;
  r.loss = seen ? loss_sum / static_cast<double>(seen) : 0.0;
  r.accuracy = seen ? 100.0 * static_cast<double>(correct) / static_cast<double>(seen) : 0.0;
  r.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return r;
}

}  // namespace raoq::tools
