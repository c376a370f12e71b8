// optim/sgd.cpp — SGD (see sgd.h for the update rule).
#include "optim/sgd.h"

#include "core/error.h"

namespace raoq {

SGD::SGD(NamedTensors params, SgdOptions options, std::vector<GroupSpec> groups)
    : Optimizer(std::move(params), options.lr, options.weight_decay, std::move(groups)), options_(options) {
  RAOQ_CHECK(options.momentum >= 0.0, "SGD: momentum must be >= 0 (got ", options.momentum, ")");
  RAOQ_CHECK(!options.nesterov || options.momentum > 0.0, "SGD: nesterov needs momentum > 0");
  if (options.momentum > 0.0) add_state_slots({"momentum"});
}

void SGD::update(size_t i, const Tensor& param, const Tensor& grad, double lr, double weight_decay, int64_t /*t*/) {
  ArrayMap p = param.flat();
  const ArrayMap g = grad.flat();
  const auto wd = static_cast<float>(weight_decay), mu = static_cast<float>(options_.momentum);
  const auto step = static_cast<float>(lr);
  if (mu == 0.0f) {
    p -= step * (g + wd * p);
    return;
  }
  ArrayMap b = state(i, 0).flat();
  b = mu * b + (g + wd * p);
  if (options_.nesterov)
    p -= step * ((g + wd * p) + mu * b);
  else
    p -= step * b;
}

}  // namespace raoq
