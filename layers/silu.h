// layers/silu.h — SiLU: y = x * sigmoid(x), elementwise.
#pragma once

#include "layers/module.h"

namespace raoq {

// x: any shape -> same shape.
class SiLU : public Module {
 public:
  SiLU() : Module("SiLU") {}
  Tensor forward(const Tensor& x) override;
};

}  // namespace raoq
