// layers/max_pool2d.h — MaxPool2d: the maximum over each window.
#pragma once

#include <cstdint>

#include "layers/module.h"

namespace raoq {

// x: (N, C, H, W) -> (N, C, H_out, W_out), H_out = (H + 2 padding - kernel) / stride + 1.
// stride 0 means stride = kernel. Padding is never the maximum (it counts as -infinity).
class MaxPool2d : public Module {
 public:
  explicit MaxPool2d(int64_t kernel_size, int64_t stride = 0, int64_t padding = 0);
  Tensor forward(const Tensor& x) override;
  std::string extra_repr() const override;

  int64_t kernel_size, stride, padding;
};

}  // namespace raoq
