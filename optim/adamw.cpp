// optim/adamw.cpp — AdamW.
// reference: I. Loshchilov and F. Hutter, "Decoupled Weight Decay Regularization", ICLR 2019,
// Algorithm 2, with the learning-rate-scaled decay of torch.optim.AdamW (p *= 1 - lr * wd, i.e.
// the paper's schedule multiplier eta_t folded into lr).
#include "optim/adamw.h"

#include <cmath>

#include "core/error.h"

namespace raoq {

AdamW::AdamW(NamedTensors params, AdamWOptions options, std::vector<GroupSpec> groups)
    : Optimizer(std::move(params), options.lr, options.weight_decay, std::move(groups)), options_(options) {
  RAOQ_CHECK(options.beta1 >= 0.0 && options.beta1 < 1.0 && options.beta2 >= 0.0 && options.beta2 < 1.0,
             "AdamW: betas must be in [0, 1) (got ", options.beta1, ", ", options.beta2, ")");
  RAOQ_CHECK(options.eps > 0.0, "AdamW: eps must be positive (got ", options.eps, ")");
  add_state_slots({"exp_avg", "exp_avg_sq"});
}

void AdamW::update(size_t i, const Tensor& param, const Tensor& grad, double lr, double weight_decay, int64_t t) {
  ArrayMap p = param.flat();            // theta
  const ArrayMap g = grad.flat();       // g_t
  ArrayMap m = state(i, 0).flat();      // first moment
  ArrayMap v = state(i, 1).flat();      // second moment
  const double b1 = options_.beta1, b2 = options_.beta2;
  // Scalars in double, so that 1 - beta^t keeps its precision for large t.
  const double bias1 = 1.0 - std::pow(b1, static_cast<double>(t));  // bias correction of m
  const double bias2 = 1.0 - std::pow(b2, static_cast<double>(t));  // bias correction of v
  const auto step_size = static_cast<float>(lr / bias1);            // lr * m_hat / m = lr / (1 - b1^t)
  const auto rsqrt_bias2 = static_cast<float>(1.0 / std::sqrt(bias2));
  const auto eps = static_cast<float>(options_.eps);

  p *= static_cast<float>(1.0 - lr * weight_decay);                  // decoupled weight decay: theta -= lr*wd*theta
  m = static_cast<float>(b1) * m + static_cast<float>(1.0 - b1) * g;          // m_t = b1 m + (1 - b1) g
  v = static_cast<float>(b2) * v + static_cast<float>(1.0 - b2) * g.square();  // v_t = b2 v + (1 - b2) g^2
  p -= step_size * m / (v.sqrt() * rsqrt_bias2 + eps);  // theta -= lr * m_hat / (sqrt(v_hat) + eps)
}

}  // namespace raoq
