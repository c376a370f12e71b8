// models/mobilenet_v2.h — MobileNetV2 (Sandler et al. 2018) with a width multiplier.
//
//   features.0   ConvBNAct 3x3 stride 2 (stride 1 with the cifar stem), C_in -> 32*a
//   features.1-17  inverted residual blocks, (expansion t, channels c, repeats n, stride s):
//                (1,16,1,1) (6,24,2,2) (6,32,3,2) (6,64,4,2) (6,96,3,1) (6,160,3,2) (6,320,1,1)
//   features.18  ConvBNAct 1x1 -> 1280*max(1,a)
//   pool, dropout, classifier (Linear)
// Channel counts c*a are rounded to multiples of 8 as in the reference implementation; the
// activation is ReLU6. At a = 1 with 1000 classes this is torchvision's mobilenet_v2 layout,
// 3,504,872 parameters. The cifar stem also keeps the 24-channel stage at stride 1, so a 32x32
// input ends at 4x4 instead of 1x1.
// Block paths: features.2.expand.{conv,bn,act}, features.2.depthwise.{conv,bn,act},
// features.2.project.{conv,bn} (no expand when t = 1).
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "layers/layers.h"
#include "core/json_fields.h"

namespace raoq::models {

class ConvBNAct;

// x: (N, C_in, H, W) -> (N, C_out, H/stride, W/stride). Residual when stride 1 and C_in == C_out.
class InvertedResidual : public Module {
 public:
  InvertedResidual(int64_t in_channels, int64_t out_channels, int64_t stride, int64_t expansion);
  Tensor forward(const Tensor& x) override;
  std::string extra_repr() const override;

  bool residual;
  std::shared_ptr<ConvBNAct> expand;     // 1x1, C_in -> t*C_in, ReLU6 (null when t = 1)
  std::shared_ptr<ConvBNAct> depthwise;  // 3x3 depthwise, ReLU6
  std::shared_ptr<ConvBNAct> project;    // 1x1 -> C_out, linear (no activation)
};

struct MobileNetV2Options {
  double width_mult = 1.0;
  std::string stem = "imagenet";  // or "cifar"
  int64_t in_channels = 3;
  int64_t num_classes = 10;
  double dropout = 0.2;
};
MobileNetV2Options parse_mobilenet_v2_options(JsonFields& f);

// x: (N, in_channels, H, W) -> logits (N, num_classes).
class MobileNetV2 : public Module {
 public:
  explicit MobileNetV2(const MobileNetV2Options& options);
  Tensor forward(const Tensor& x) override;
  std::string extra_repr() const override;

  MobileNetV2Options options;
  std::shared_ptr<Sequential> features;
  std::shared_ptr<GlobalAvgPool> pool;
  std::shared_ptr<Dropout> dropout;
  std::shared_ptr<Linear> classifier;
};

// The reference implementation's channel rounding: the nearest multiple of `divisor`, at least
// `divisor`, and never more than 10% below v.
int64_t make_divisible(double v, int64_t divisor = 8);

}  // namespace raoq::models
