// tools/pipeline/data_parallel.h — what the trainer does differently when it runs as one of N
// ranks (core/distributed.h): every rank draws the same global batch from the one shared shuffle
// and trains on its contiguous slice of it; gradients are summed over ranks in rank order before
// the optimizer step, so every rank holds the same model after every step.
//
// The loss each rank differentiates is its slice's mean times N n_r / n (n_r of the batch's n
// scored rows are its own; 1 when the slices are equal), and the summed gradient is divided by N:
// the result is the gradient of the global batch's mean loss, plus regularisers that depend on
// the weights alone (W-reshape's kurtosis term) counted once.
#pragma once

#include <array>
#include <cstdint>
#include <vector>

#include "layers/module.h"
#include "tools/pipeline/task.h"

namespace raoq::tools {

// Rank `rank`'s rows [rank b / N, (rank + 1) b / N) of a global batch of b rows, with their targets
// (and, for a masked LM, the scored positions that fall in them, renumbered).
StepBatch rank_slice(const StepBatch& global, int rank, int ranks);
int64_t scored_rows(const StepBatch& batch);  // targets: y's size

// Sums every defined parameter gradient over ranks in rank order, then divides by the rank count.
// Fails on every rank when the ranks' gradients differ in layout.
void sum_gradients_over_ranks(Module& model);

// The random streams a step draws from when ranks must differ (dropout masks, analog noise):
// seeded per (run seed, global step, rank), so they do not depend on the rank count a checkpoint
// was written at. The default generator is restored when the scope ends, so what is drawn between
// steps (initialisation, adapters) stays the same on every rank.
class RankStreams {
 public:
  RankStreams(Module& model, uint64_t seed, int64_t global_step, int rank);
  ~RankStreams();
  RankStreams(const RankStreams&) = delete;
  RankStreams& operator=(const RankStreams&) = delete;

 private:
  std::array<uint64_t, 6> saved_;
};

// A metrics row of the kind's own (ADC-LoRA's Eq. 12 objective: "objective" and each of "layers"),
// averaged over ranks in rank order: each rank measured it on its equal slice of the batch.
void mean_over_ranks(Json& row);

// A checksum of the model's state dict (parameters and buffers), for dist::require_same.
uint64_t model_checksum(const Module& model);

}  // namespace raoq::tools
