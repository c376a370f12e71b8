// layers/relu.h — ReLU: y = max(x, 0), elementwise.
#pragma once

#include "layers/module.h"

namespace raoq {

// x: any shape -> same shape.
class ReLU : public Module {
 public:
  ReLU() : Module("ReLU") {}
  Tensor forward(const Tensor& x) override;
};

}  // namespace raoq
