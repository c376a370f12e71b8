// tools/pipeline/evaluate.cpp — evaluation loop.
#include "tools/pipeline/evaluate.h"

#include <chrono>

#include <algorithm>
#include <numeric>
#include <optional>

#include "core/autograd.h"
#include "core/distributed.h"
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

void finish_sums(double* loss_sum, int64_t* correct, int64_t* seen) {
  if (!dist::distributed()) return;
  double t[3] = {*loss_sum, static_cast<double>(*correct), static_cast<double>(*seen)};
  dist::sum_over_ranks(t, 3);  // counts stay exact in double below 2^53
  *loss_sum = t[0];
  *correct = static_cast<int64_t>(t[1]);
  *seen = static_cast<int64_t>(t[2]);
}

EvalResult evaluate(Module& model, const data::DatasetPtr& dataset, const data::LoaderOptions& options) {
  const auto start = std::chrono::steady_clock::now();
  const bool was_training = model.is_training();
  model.eval();
  autograd::NoGradGuard no_grad;
  // Data-parallel: each rank evaluates its contiguous share of the examples; the sums are global.
  data::DatasetPtr share = dataset;
  if (dist::distributed()) {
    const int64_t n = dataset->size(), r = dist::rank(), ranks = dist::size();
    std::vector<int64_t> idx(static_cast<size_t>(n * (r + 1) / ranks - n * r / ranks));
    std::iota(idx.begin(), idx.end(), n * r / ranks);
    share = std::make_shared<data::SubsetDataset>(dataset, std::move(idx));
  }
  double loss_sum = 0.0;
  int64_t correct = 0, seen = 0;
  try {
    // A rank whose share is empty (fewer examples than ranks) adds nothing to the sums.
    std::optional<data::DataLoader> loader;
    if (share->size() > 0) loader.emplace(share, options);
    while (loader) {
      auto batch = loader->next();
      if (!batch) break;
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
  finish_sums(&loss_sum, &correct, &seen);
  EvalResult r;
  r.examples = seen;
  r.loss = seen ? loss_sum / static_cast<double>(seen) : 0.0;
  r.accuracy = seen ? 100.0 * static_cast<double>(correct) / static_cast<double>(seen) : 0.0;
  r.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return r;
}

}  // namespace raoq::tools
