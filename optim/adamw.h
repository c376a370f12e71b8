// optim/adamw.h — AdamW: Adam with decoupled weight decay and bias correction.
#pragma once

#include <vector>

#include "optim/optimizer.h"

namespace raoq {

struct AdamWOptions {
  double lr = 1e-3;
  double beta1 = 0.9;
  double beta2 = 0.999;
  double eps = 1e-8;
  double weight_decay = 1e-2;  // the default group's; GroupSpecs carry their own
};

// PyTorch's torch.optim.AdamW (amsgrad off); the update is written out in adamw.cpp.
// State slots: "exp_avg" (m), "exp_avg_sq" (v); "<param>.step" is t.
class AdamW : public Optimizer {
 public:
  AdamW(NamedTensors params, AdamWOptions options, std::vector<GroupSpec> groups = {});
  const AdamWOptions& options() const { return options_; }

 protected:
  void update(size_t i, const Tensor& param, const Tensor& grad, double lr, double weight_decay, int64_t t) override;

 private:
  AdamWOptions options_;
};

}  // namespace raoq
