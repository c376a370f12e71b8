// layers/gelu.h — GELU: y = x * Phi(x) (exact, with erf), elementwise.
#pragma once

#include "layers/module.h"

namespace raoq {

// x: any shape -> same shape.
class GELU : public Module {
 public:
  GELU() : Module("GELU") {}
  Tensor forward(const Tensor& x) override;
};

}  // namespace raoq
