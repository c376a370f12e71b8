// models/blocks.h — building blocks shared by the model builders.
//
// ConvBNAct is conv (no bias) -> BatchNorm2d -> activation, the unit of cnn-small, the ResNet
// stems and MobileNetV2. Its children are always named conv, bn and act, so checkpoints and
// parameter-group patterns read "features.0.conv.weight", "features.0.bn.weight".
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "layers/layers.h"

namespace raoq::models {

// y = min(max(x, 0), 6) (MobileNetV2's activation). The gradient is 1 strictly inside (0, 6).
class ReLU6 : public Module {
 public:
  ReLU6() : Module("ReLU6") {}
  Tensor forward(const Tensor& x) override;  // x: any shape -> same shape
};

enum class Activation { none, relu, relu6 };

// x: (N, C_in, H, W) -> (N, C_out, H_out, W_out), padding (kernel - 1) / 2 ("same" at stride 1).
class ConvBNAct : public Module {
 public:
  ConvBNAct(int64_t in_channels, int64_t out_channels, int64_t kernel_size, int64_t stride = 1, int64_t groups = 1,
            Activation activation = Activation::relu);
  Tensor forward(const Tensor& x) override;

  std::shared_ptr<Conv2d> conv;
  std::shared_ptr<BatchNorm2d> bn;
  std::shared_ptr<Module> act;  // null for Activation::none
};

}  // namespace raoq::models
