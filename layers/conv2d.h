// layers/conv2d.h — Conv2d: 2-D convolution with stride, padding, dilation, groups and bias.
#pragma once

#include <cstdint>

#include "core/ops.h"
#include "layers/module.h"

namespace raoq {

// x: (N, C_in, H, W) -> (N, C_out, H_out, W_out), H_out = (H + 2p - d(k-1) - 1)/s + 1.
// weight: (C_out, C_in/groups, k, k)   bias: (C_out), undefined without bias.
// groups == C_in == C_out is a depthwise convolution. Square kernels only.
// Init (PyTorch): weight kaiming_uniform(a = sqrt 5) and bias U(+-1/sqrt(fan_in)), with
// fan_in = C_in/groups * k * k.
//   Conv2d(3, 16, 3, {.stride = 2, .padding = 1}, /*bias=*/false)
class Conv2d : public Module {
 public:
  Conv2d(int64_t in_channels, int64_t out_channels, int64_t kernel_size, ops::Conv2dOptions options = {},
         bool bias = true);
  Tensor forward(const Tensor& x) override;
  std::string extra_repr() const override;

  int64_t in_channels, out_channels, kernel_size;
  ops::Conv2dOptions options;
  Tensor weight;  // (C_out, C_in/groups, k, k)
  Tensor bias;    // (C_out) or undefined
};

}  // namespace raoq
