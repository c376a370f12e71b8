// layers/layer_norm.cpp — LayerNorm (the math and its backward live in ops::layer_norm).
#include "layers/layer_norm.h"

#include <sstream>

#include "core/ops.h"

namespace raoq {

LayerNorm::LayerNorm(int64_t normalized_shape_, float eps_, bool elementwise_affine)
    : Module("LayerNorm"), normalized_shape(normalized_shape_), eps(eps_) {
  RAOQ_CHECK(normalized_shape > 0, "LayerNorm: normalized_shape must be positive (got ", normalized_shape, ")");
  RAOQ_CHECK(eps > 0.0f, "LayerNorm: eps must be positive (got ", eps, ")");
  if (elementwise_affine) {
    weight = register_parameter("weight", Tensor::ones({normalized_shape}));
    bias = register_parameter("bias", Tensor::zeros({normalized_shape}));
  }
}

Tensor LayerNorm::forward(const Tensor& x) {  // x: (..., D)
  RAOQ_CHECK(x.dim() >= 1 && x.size(-1) == normalized_shape, label(), ": expected input (..., ", normalized_shape,
             "), got ", shape_str(x.shape()));
  return named_output(ops::layer_norm(x, weight, bias, eps), x);
}

std::string LayerNorm::extra_repr() const {
  std::ostringstream os;
  os << normalized_shape << ", eps=" << eps << (weight.defined() ? "" : ", elementwise_affine=false");
  return os.str();
}

}  // namespace raoq
