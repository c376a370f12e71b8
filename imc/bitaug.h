// imc/bitaug.h — BitAug (RAOQ Sec. 3.3, Eq. 8-10): train at the target ADC bits and, in the same
// step, at a neighbouring bit width, so the weights do not over-fit one ADC's rounding.
//
// One optimizer step of an ADC fine-tune with BitAug:
//   L(ba).backward();                      the task loss at the target ba
//   ba~ = ba + offset,  offset drawn uniformly from `offsets` (default {-1, +1, +2})
//   (lambda_b * L(ba~)).backward();        gradients accumulate on top of the first pass
//   back to ba;  optimizer.step()
// lambda_b = (1 + cos(pi * t / (T - 1))) / 2 over the stage's T steps (1 at the first, 0 at the last).
// The offset is drawn by a hash of (seed, draw index), not from a generator: a resumed run draws
// the same offsets without any saved state, and the draws do not depend on the thread count.
//
// The pass at ba~ leaves the model's buffers (BatchNorm running statistics) as they were unless
// update_buffers is set: eval mode uses the running statistics at the target ba, and at ba = 6 the
// ba~ = 5 pass's column sums are coarser and biased differently (floor ADC); mixing them in cost
// the Fashion-MNIST demo's RAOQ model about half a point of test accuracy (measured by
// re-estimating the statistics at ba alone).
//
//   imc::BitAugConfig bitaug{.ba = 8};
//   auto loss = [&] { return ops::cross_entropy(model.forward(x), y); };
//   imc::bitaug_step(model, bitaug, {step, steps, step}, loss);
//   optimizer.step();
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <utility>
#include <vector>

#include "core/tensor.h"
#include "layers/module.h"

namespace raoq::imc {

struct BitAugConfig {
  int ba = 8;                          // the target ADC bits (every IMC layer runs at it outside the ba~ pass)
  std::vector<int> offsets{-1, 1, 2};  // ba~ = ba + one of these, uniformly
  bool update_buffers = false;         // let the pass at ba~ move BatchNorm running statistics
  uint64_t seed = 0;                   // seeds the draws of ba~

  // Throws raoq::Error "<offsets_key> ..." for an empty list, a zero offset, or a ba + offset
  // that AdcConfig::validate would refuse (the ADC widths an array accepts, by the one rule).
  void validate(const std::string& offsets_key = "offsets") const;
};

// Where a step sits: `step` of `steps` (lambda_b's schedule) and the index of its ba~ draw.
struct BitAugPosition {
  int64_t step = 0;
  int64_t steps = 1;
  int64_t draw = 0;  // the raoq trainer passes its global step count: unique across stages
};

double bitaug_lambda(int64_t step, int64_t steps);          // (1 + cos(pi t / (T - 1))) / 2; 1 when T <= 1
int bitaug_bits(const BitAugConfig& config, int64_t draw);  // ba + offsets[hash(seed, draw) % size]

// Copies every buffer of a model and writes the copies back on destruction (what BitAug's pass at
// ba~ does unless update_buffers is set).
class BufferGuard {
 public:
  explicit BufferGuard(const Module& model);
  ~BufferGuard();
  BufferGuard(const BufferGuard&) = delete;
  BufferGuard& operator=(const BufferGuard&) = delete;

 private:
  std::vector<std::pair<Tensor, Tensor>> saved_;  // (the module's buffer, its value before the pass)
};

using LossFn = std::function<Tensor()>;  // runs the model's forward on the step's batch: a scalar loss

// The second pass of a step: every IMC layer at ba_tilde, (lambda * loss()).backward() (gradients
// add to those already there; skipped when lambda is 0), then back to config.ba, also when loss()
// throws. Returns loss()'s value at ba_tilde.
double bitaug_backward(Module& model, const BitAugConfig& config, int ba_tilde, double lambda, const LossFn& loss);

struct BitAugStep {
  double loss = 0;        // at ba
  double loss_tilde = 0;  // at ba~
  int ba_tilde = 0;
  double lambda = 0;
};

// Both passes of one step: every IMC layer at config.ba, loss().backward(), then bitaug_backward at
// bitaug_bits(config, at.draw) with lambda = bitaug_lambda(at.step, at.steps). Leaves the
// optimizer step (and zeroing the gradients before) to the caller.
BitAugStep bitaug_step(Module& model, const BitAugConfig& config, const BitAugPosition& at, const LossFn& loss);

}  // namespace raoq::imc
