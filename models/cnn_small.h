// models/cnn_small.h — cnn-small: five 3x3 conv-BN-ReLU layers, two max-pools, global average
// pool and a linear classifier (the project's Fashion-MNIST / CIFAR workhorse).
//
//   features.0  ConvBNAct  C_in -> w      3x3     (N, w, H, W)
//   features.1  ConvBNAct  w -> 2w        3x3     (N, 2w, H, W)
//   features.2  MaxPool2d  2                      (N, 2w, H/2, W/2)
//   features.3  ConvBNAct  2w -> 2w       3x3
//   features.4  ConvBNAct  2w -> 4w       3x3
//   features.5  MaxPool2d  2                      (N, 4w, H/4, W/4)
//   features.6  ConvBNAct  4w -> 4w       3x3
//   pool        GlobalAvgPool                     (N, 4w)
//   classifier  Linear     4w -> num_classes      (N, num_classes)
// with w = width (32: 1->32, 32->64, 64->64, 64->128, 128->128). Every conv has padding 1 and
// no bias. 278,890 parameters at width 32, one input channel and ten classes.
#pragma once

#include <cstdint>
#include <memory>

#include "layers/layers.h"
#include "core/json_fields.h"

namespace raoq::models {

struct CnnSmallOptions {
  int64_t in_channels = 1;
  int64_t num_classes = 10;
  int64_t width = 32;
};
CnnSmallOptions parse_cnn_small_options(JsonFields& f);

// x: (N, in_channels, H, W), H and W at least 4 -> logits (N, num_classes).
class CnnSmall : public Module {
 public:
  explicit CnnSmall(const CnnSmallOptions& options);
  Tensor forward(const Tensor& x) override;
  std::string extra_repr() const override;

  CnnSmallOptions options;
  std::shared_ptr<Sequential> features;
  std::shared_ptr<GlobalAvgPool> pool;
  std::shared_ptr<Linear> classifier;
};

}  // namespace raoq::models
