// models/blocks.cpp — ReLU6 and ConvBNAct.
#include "models/blocks.h"

#include "core/ops.h"

namespace raoq::models {

Tensor ReLU6::forward(const Tensor& x) { return named_output(ops::clamp(x, 0.0f, 6.0f), x); }

ConvBNAct::ConvBNAct(int64_t in_channels, int64_t out_channels, int64_t kernel_size, int64_t stride, int64_t groups,
                     Activation activation)
    : Module("ConvBNAct") {
  ops::Conv2dOptions options;
  options.stride = stride;
  options.padding = (kernel_size - 1) / 2;
  options.groups = groups;
  register_module("conv", conv, std::make_shared<Conv2d>(in_channels, out_channels, kernel_size, options, false));
  register_module("bn", bn, std::make_shared<BatchNorm2d>(out_channels));
  if (activation == Activation::relu) register_module("act", act, std::make_shared<ReLU>());
  if (activation == Activation::relu6) register_module("act", act, std::make_shared<ReLU6>());
}

Tensor ConvBNAct::forward(const Tensor& x) {  // x: (N, C_in, H, W)
  Tensor y = bn->forward(conv->forward(x));
  return act ? act->forward(y) : y;
}

}  // namespace raoq::models
