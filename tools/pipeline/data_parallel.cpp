// tools/pipeline/data_parallel.cpp — batch slices, the gradient sum and the per-rank random
// streams of a data-parallel step (contract in data_parallel.h).
#include "tools/pipeline/data_parallel.h"

#include <algorithm>
#include <cstring>

#include "core/distributed.h"
#include "core/error.h"
#include "core/rng.h"
#include "layers/dropout.h"

namespace raoq::tools {
namespace {

uint64_t splitmix(uint64_t z) {
  z += 0x9E3779B97F4A7C15ULL;
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
  return z ^ (z >> 31);
}

}  // namespace

int64_t scored_rows(const StepBatch& batch) { return static_cast<int64_t>(batch.y.size()); }

StepBatch rank_slice(const StepBatch& global, int rank, int ranks) {
  const Tensor& x = global.x;  // (b, ...) images, or (b, T) token ids
  const int64_t b = x.size(0), per_row = x.numel() / std::max<int64_t>(1, b);
  const int64_t lo = b * rank / ranks, hi = b * (rank + 1) / ranks;
  Shape shape = x.shape();
  shape[0] = hi - lo;
  StepBatch out;
  out.x = Tensor::empty(shape);
  if (hi > lo) std::memcpy(out.x.data(), x.data() + lo * per_row, static_cast<size_t>((hi - lo) * per_row) * sizeof(float));
  if (global.rows.empty()) {  // one target per row (images), or per position of a row (language models)
    const size_t targets_per_row = global.y.size() / static_cast<size_t>(std::max<int64_t>(1, b));
    RAOQ_CHECK(targets_per_row * static_cast<size_t>(b) == global.y.size(), "data-parallel: a batch of ", b, " rows has ",
               global.y.size(), " targets, not a whole number per row");
    out.y.assign(global.y.begin() + static_cast<std::ptrdiff_t>(static_cast<size_t>(lo) * targets_per_row),
                 global.y.begin() + static_cast<std::ptrdiff_t>(static_cast<size_t>(hi) * targets_per_row));
    return out;
  }
  // A masked LM scores chosen positions of the (b * T) flattened logits.
  const int64_t t = x.dim() >= 2 ? x.size(1) : 1;
  for (size_t i = 0; i < global.rows.size(); ++i) {
    const int64_t pos = global.rows[i];
    if (pos >= lo * t && pos < hi * t) {
      out.rows.push_back(pos - lo * t);
      out.y.push_back(global.y[i]);
    }
  }
  return out;
}

void sum_gradients_over_ranks(Module& model) {
  if (!dist::distributed()) return;
  std::vector<Tensor> grads;
  int64_t total = 0;
  for (const auto& [name, p] : model.named_parameters()) {
    const Tensor g = p.grad();
    if (!g.defined()) continue;
    grads.push_back(g);
    total += g.numel();
  }
  dist::require_same(static_cast<uint64_t>(total) * 1000003ULL + grads.size(), "the gradient layout (elements, tensors)");
  std::vector<float> flat(static_cast<size_t>(total));
  int64_t at = 0;
  for (const Tensor& g : grads) {
    std::memcpy(flat.data() + at, g.data(), static_cast<size_t>(g.numel()) * sizeof(float));
    at += g.numel();
  }
  dist::sum_over_ranks(flat.data(), total);
  const float inv = 1.0f / static_cast<float>(dist::size());
  at = 0;
  for (const Tensor& g : grads) {
    float* d = g.data();
    for (int64_t i = 0; i < g.numel(); ++i) d[i] = flat[static_cast<size_t>(at + i)] * inv;
    at += g.numel();
  }
}

RankStreams::RankStreams(Module& model, uint64_t seed, int64_t global_step, int rank)
    : saved_(default_generator().state()) {
  const uint64_t base = splitmix(splitmix(seed ^ 0x72616e6b73ULL) + static_cast<uint64_t>(global_step)) + static_cast<uint64_t>(rank);
  default_generator().seed_with(splitmix(base));
  uint64_t index = 0;
  for (const auto& [path, m] : model.named_modules())
    if (auto* d = dynamic_cast<Dropout*>(m.get())) d->generator().seed_with(splitmix(base + 0x1000 * ++index));
}

RankStreams::~RankStreams() { default_generator().set_state(saved_); }

void mean_over_ranks(Json& row) {
  if (!dist::distributed()) return;
  std::vector<Json*> slots;
  if (row.contains("objective") && row["objective"].is_number()) slots.push_back(&row["objective"]);
  if (row.contains("layers") && row["layers"].is_object())
    for (auto& [name, v] : row["layers"].items())
      if (v.is_number()) slots.push_back(&v);
  std::vector<double> values;
  for (const Json* v : slots) values.push_back(v->get<double>());
  dist::require_same(values.size(), "the number of values in a metrics row");
  dist::sum_over_ranks(values.data(), static_cast<int64_t>(values.size()));
  for (size_t i = 0; i < slots.size(); ++i) *slots[i] = values[i] / dist::size();
}

uint64_t model_checksum(const Module& model) {
  uint64_t h = dist::checksum(nullptr, 0);
  for (const auto& [name, t] : model.state_dict()) {
    h = dist::checksum(name.data(), name.size(), h);
    h = dist::checksum(t.data(), static_cast<size_t>(t.numel()) * sizeof(float), h);
  }
  return h;
}

}  // namespace raoq::tools
