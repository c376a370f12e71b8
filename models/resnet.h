// models/resnet.h — ResNets built from basic blocks: resnet20 (CIFAR style) and resnet18.
//
// resnet20 (He et al. 2016, section 4.2): a 3x3 conv to w channels, then three stages of three
// basic blocks with w, 2w, 4w channels (w = 16), the second and third starting at stride 2;
// global average pool and a linear classifier. Where a block changes shape, its shortcut is a
// 1x1 conv + BN projection ("downsample"). 272,474 parameters at w = 16, 3 channels, 10 classes.
//
// resnet18: four stages of two blocks with w, 2w, 4w, 8w channels (w = 64). The "imagenet" stem
// is a 7x7 stride-2 conv and a 3x3 stride-2 max-pool (11,689,512 parameters for 1000 classes);
// the "cifar" stem is a 3x3 stride-1 conv without the pool, for 32x32 inputs.
//
// Paths: conv1, bn1, act1, [maxpool], layer1.0.conv1, layer1.0.bn1, layer1.0.act1,
// layer1.0.conv2, layer1.0.bn2, layer2.0.downsample.conv, layer2.0.downsample.bn,
// layer1.0.act2, ..., pool, fc.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "layers/layers.h"
#include "core/json_fields.h"

namespace raoq::models {

class ConvBNAct;

// x: (N, C_in, H, W) -> (N, C_out, H/stride, W/stride).
// y = relu(bn2(conv2(relu(bn1(conv1(x))))) + shortcut(x)), shortcut = identity or downsample.
class BasicBlock : public Module {
 public:
  BasicBlock(int64_t in_channels, int64_t out_channels, int64_t stride);
  Tensor forward(const Tensor& x) override;

  std::shared_ptr<Conv2d> conv1, conv2;
  std::shared_ptr<BatchNorm2d> bn1, bn2;
  std::shared_ptr<ReLU> act1, act2;
  std::shared_ptr<ConvBNAct> downsample;  // null when the shape is unchanged
};

struct ResNetOptions {
  std::vector<int64_t> blocks;  // basic blocks per stage
  int64_t width = 16;           // channels of the first stage; each later stage doubles it
  std::string stem = "cifar";   // "cifar" (3x3, stride 1) or "imagenet" (7x7 stride 2 + max-pool)
  int64_t in_channels = 3;
  int64_t num_classes = 10;
  bool zero_init_residual = false;  // start each block's bn2 scale at 0 (each block begins as identity)
};
ResNetOptions parse_resnet20_options(JsonFields& f);
ResNetOptions parse_resnet18_options(JsonFields& f);

// x: (N, in_channels, H, W) -> logits (N, num_classes).
class ResNet : public Module {
 public:
  explicit ResNet(const ResNetOptions& options);
  Tensor forward(const Tensor& x) override;
  std::string extra_repr() const override;

  ResNetOptions options;
  std::shared_ptr<Conv2d> conv1;
  std::shared_ptr<BatchNorm2d> bn1;
  std::shared_ptr<ReLU> act1;
  std::shared_ptr<MaxPool2d> maxpool;               // imagenet stem only
  std::vector<std::shared_ptr<Sequential>> stages;  // layer1, layer2, ...
  std::shared_ptr<GlobalAvgPool> pool;
  std::shared_ptr<Linear> fc;
};

}  // namespace raoq::models
