// layers/layer_norm.h — LayerNorm over the last dimension.
#pragma once

#include <cstdint>

#include "layers/module.h"

namespace raoq {

// x: (..., D) -> same shape; y = (x - mean) / sqrt(var + eps) * weight + bias over the last
// dimension (biased variance). weight: (D) init 1, bias: (D) init 0; both undefined when
// elementwise_affine is false.
class LayerNorm : public Module {
 public:
  explicit LayerNorm(int64_t normalized_shape, float eps = 1e-5f, bool elementwise_affine = true);
  Tensor forward(const Tensor& x) override;
  std::string extra_repr() const override;

  int64_t normalized_shape;
  float eps;
  Tensor weight, bias;  // (D) or undefined
};

}  // namespace raoq
