// layers/global_avg_pool.h — GlobalAvgPool: the mean over all spatial positions.
#pragma once

#include "layers/module.h"

namespace raoq {

// x: (N, C, H, W) -> (N, C).
class GlobalAvgPool : public Module {
 public:
  GlobalAvgPool() : Module("GlobalAvgPool") {}
  Tensor forward(const Tensor& x) override;
};

}  // namespace raoq
