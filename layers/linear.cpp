// layers/linear.cpp — Linear (the math and its backward live in ops::linear).
#include "layers/linear.h"

#include "core/ops.h"
#include "layers/init.h"

namespace raoq {

Linear::Linear(int64_t in_features_, int64_t out_features_, bool bias_)
    : Module("Linear"), in_features(in_features_), out_features(out_features_) {
  RAOQ_CHECK(in_features > 0 && out_features > 0, "Linear: features must be positive (got in ", in_features,
             ", out ", out_features, ")");
  weight = register_parameter("weight", init::kaiming_uniform({out_features, in_features}, in_features));
  if (bias_) bias = register_parameter("bias", init::fan_in_uniform({out_features}, in_features));
}

Tensor Linear::forward(const Tensor& x) {  // x: (..., in) -> (..., out)
  RAOQ_CHECK(x.dim() >= 1 && x.size(-1) == in_features, label(), " (", in_features, "->", out_features,
             "): expected input (..., ", in_features, "), got ", shape_str(x.shape()));
  return named_output(ops::linear(x, weight, bias), x);
}

std::string Linear::extra_repr() const {
  return "in_features=" + std::to_string(in_features) + ", out_features=" + std::to_string(out_features) +
         ", bias=" + (bias.defined() ? "true" : "false");
}

}  // namespace raoq
