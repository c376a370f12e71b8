// models/bert.cpp — masked-language-model batches and loss (the model itself is the trunk of
// gpt.cpp with a bidirectional mask; see bert.h).
#include "models/bert.h"

#include <algorithm>
#include <cmath>
#include <numeric>

#include "core/error.h"
#include "core/ops.h"

namespace raoq::models {

namespace {
void check_mlm_options(const MlmOptions& o) {
  RAOQ_CHECK(o.select_prob > 0.0 && o.select_prob <= 1.0, "make_mlm_batch: select_prob must be in (0, 1] (got ",
             o.select_prob, ")");
  RAOQ_CHECK(o.mask_prob >= 0.0 && o.random_prob >= 0.0 && o.mask_prob + o.random_prob <= 1.0,
             "make_mlm_batch: mask_prob and random_prob must be >= 0 with a sum <= 1 (got ", o.mask_prob, " and ",
             o.random_prob, ")");
}

// k distinct positions of [0, T), uniformly, ascending: the first k steps of a Fisher-Yates shuffle.
std::vector<int64_t> choose_positions(int64_t T, int64_t k, Generator& gen) {
  std::vector<int64_t> order(static_cast<size_t>(T));
  std::iota(order.begin(), order.end(), int64_t{0});
  for (int64_t i = 0; i < k; ++i) {
    const int64_t j = i + static_cast<int64_t>(gen.below(static_cast<uint64_t>(T - i)));
    std::swap(order[size_t(i)], order[size_t(j)]);
  }
  order.resize(static_cast<size_t>(k));
  std::sort(order.begin(), order.end());
  return order;
}
}  // namespace

MlmBatch make_mlm_batch(const Tensor& ids, int64_t vocab, Generator& gen, const MlmOptions& options) {
  RAOQ_CHECK(ids.defined() && ids.dim() == 2 && ids.numel() > 0, "make_mlm_batch: expected token ids (B, T), got ",
             ids.defined() ? shape_str(ids.shape()) : "an undefined tensor");
  RAOQ_CHECK(vocab >= 1, "make_mlm_batch: vocab must be positive (got ", vocab, ")");
  check_mlm_options(options);
  const int64_t B = ids.size(0), T = ids.size(1);
  const float* v = ids.data();
  for (int64_t i = 0; i < B * T; ++i)
    RAOQ_CHECK(std::floor(v[i]) == v[i] && v[i] >= 0 && v[i] < static_cast<float>(vocab), "make_mlm_batch: id ", v[i],
               " at [", i / T, ", ", i % T, "] is not a whole number in [0, ", vocab, ")");
  const int64_t k = std::clamp<int64_t>(std::llround(options.select_prob * static_cast<double>(T)), 1, T);
  const float mask_id = static_cast<float>(vocab);
  MlmBatch batch;
  batch.inputs = ids.detach().clone();  // (B, T)
  batch.targets.assign(static_cast<size_t>(B * T), -1);
  float* in = batch.inputs.data();
  for (int64_t b = 0; b < B; ++b) {
    for (int64_t t : choose_positions(T, k, gen)) {
      const int64_t i = b * T + t;
      batch.positions.push_back(i);
      batch.targets[size_t(i)] = static_cast<int64_t>(v[i]);
      const double u = gen.uniform01();
      if (u < options.mask_prob)
        in[i] = mask_id;
      else if (u < options.mask_prob + options.random_prob)
        in[i] = static_cast<float>(gen.below(static_cast<uint64_t>(vocab)));
    }
  }
  return batch;
}

Tensor mlm_loss(const Tensor& logits, const MlmBatch& batch) {  // logits: (B, T, C) -> []
  RAOQ_CHECK(logits.defined() && logits.dim() == 3 && logits.size(0) * logits.size(1) ==
                                                          static_cast<int64_t>(batch.targets.size()),
             "mlm_loss: expected logits (B, T, C) with B*T = ", batch.targets.size(), " (the batch's targets), got ",
             logits.defined() ? shape_str(logits.shape()) : "an undefined tensor");
  RAOQ_CHECK(!batch.positions.empty(), "mlm_loss: the batch has no chosen positions (make it with make_mlm_batch)");
  const int64_t n = static_cast<int64_t>(batch.positions.size());
  std::vector<int64_t> chosen_targets;
  chosen_targets.reserve(batch.positions.size());
  for (int64_t i : batch.positions) chosen_targets.push_back(batch.targets.at(size_t(i)));
  const Tensor rows = ops::reshape(logits, {-1, logits.size(2)});  // (B*T, C)
  return ops::cross_entropy(ops::embedding(rows, batch.positions, {n}), chosen_targets);  // (n, C) -> []
}

}  // namespace raoq::models
