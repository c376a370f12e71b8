// layers/batch_norm2d.h — BatchNorm2d over channels of (N, C, H, W), or of (N, C).
#pragma once

#include <cstdint>

#include "layers/module.h"

namespace raoq {

// x: (N, C, H, W) or (N, C) -> same shape.
// Training: normalises with the batch statistics (biased variance) and updates the running
// statistics in place, r = (1 - momentum) r + momentum * stat (unbiased variance), as PyTorch.
// Eval: normalises with the running statistics.
// weight: (C) init 1   bias: (C) init 0   running_mean: (C) init 0   running_var: (C) init 1.
class BatchNorm2d : public Module {
 public:
  explicit BatchNorm2d(int64_t num_features, float eps = 1e-5f, float momentum = 0.1f);
  Tensor forward(const Tensor& x) override;
  std::string extra_repr() const override;

  int64_t num_features;
  float eps, momentum;
  Tensor weight, bias;               // (C) parameters
  Tensor running_mean, running_var;  // (C) buffers
};

}  // namespace raoq
