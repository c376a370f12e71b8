// layers/batch_norm2d.cpp — BatchNorm2d (the math and its backward live in ops::batch_norm).
#include "layers/batch_norm2d.h"

#include <sstream>

#include "core/ops.h"

namespace raoq {

BatchNorm2d::BatchNorm2d(int64_t num_features_, float eps_, float momentum_)
    : Module("BatchNorm2d"), num_features(num_features_), eps(eps_), momentum(momentum_) {
  RAOQ_CHECK(num_features > 0, "BatchNorm2d: num_features must be positive (got ", num_features, ")");
  RAOQ_CHECK(eps > 0.0f && momentum >= 0.0f && momentum <= 1.0f, "BatchNorm2d: need eps > 0 and momentum in [0, 1] ",
             "(got eps ", eps, ", momentum ", momentum, ")");
  weight = register_parameter("weight", Tensor::ones({num_features}));
  bias = register_parameter("bias", Tensor::zeros({num_features}));
  running_mean = register_buffer("running_mean", Tensor::zeros({num_features}));
  running_var = register_buffer("running_var", Tensor::ones({num_features}));
}

Tensor BatchNorm2d::forward(const Tensor& x) {  // x: (N, C, H, W) or (N, C)
  RAOQ_CHECK((x.dim() == 4 || x.dim() == 2) && x.size(1) == num_features, label(), ": expected input (N, ",
             num_features, ", H, W) or (N, ", num_features, "), got ", shape_str(x.shape()));
  return named_output(
      ops::batch_norm(x, weight, bias, running_mean, running_var, is_training(), momentum, eps), x);
}

std::string BatchNorm2d::extra_repr() const {
  std::ostringstream os;
  os << num_features << ", eps=" << eps << ", momentum=" << momentum;
  return os.str();
}

}  // namespace raoq
