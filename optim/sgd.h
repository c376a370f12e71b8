// optim/sgd.h — SGD with momentum, Nesterov momentum and (coupled) weight decay.
#pragma once

#include <vector>

#include "optim/optimizer.h"

namespace raoq {

struct SgdOptions {
  double lr = 0.1;
  double momentum = 0.0;
  double weight_decay = 0.0;  // the default group's; GroupSpecs carry their own
  bool nesterov = false;      // needs momentum > 0
};

// PyTorch's torch.optim.SGD with dampening 0. Per parameter p with gradient g, each step:
//   g = g + wd * p                       (weight decay, added to the gradient)
//   b = momentum * b + g                 (b starts at 0, so the first b is g)
//   g = nesterov ? g + momentum * b : b  (only when momentum > 0)
//   p = p - lr * g
// State slot: "momentum" (b), present only when momentum > 0.
class SGD : public Optimizer {
 public:
  SGD(NamedTensors params, SgdOptions options, std::vector<GroupSpec> groups = {});
  const SgdOptions& options() const { return options_; }

 protected:
  void update(size_t i, const Tensor& param, const Tensor& grad, double lr, double weight_decay, int64_t t) override;

 private:
  SgdOptions options_;
};

}  // namespace raoq
