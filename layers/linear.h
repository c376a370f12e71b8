// layers/linear.h — Linear: y = x W^T + b over the last dimension.
#pragma once

#include <cstdint>

#include "layers/module.h"

namespace raoq {

// x: (..., in) -> (..., out).   weight: (out, in)   bias: (out), undefined without bias.
// Init (PyTorch): weight kaiming_uniform(a = sqrt 5), bias U(+-1/sqrt(in)).
class Linear : public Module {
 public:
  Linear(int64_t in_features, int64_t out_features, bool bias = true);
  Tensor forward(const Tensor& x) override;
  std::string extra_repr() const override;

  int64_t in_features, out_features;
  Tensor weight;  // (out, in)
  Tensor bias;    // (out) or undefined
};

}  // namespace raoq
