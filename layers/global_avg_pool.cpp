// layers/global_avg_pool.cpp — GlobalAvgPool (the math and its backward live in ops::global_avg_pool).
#include "layers/global_avg_pool.h"

#include "core/ops.h"

namespace raoq {

Tensor GlobalAvgPool::forward(const Tensor& x) {  // x: (N, C, H, W) -> (N, C)
  RAOQ_CHECK(x.dim() == 4, label(), ": expected input (N, C, H, W), got ", shape_str(x.shape()));
  return named_output(ops::global_avg_pool(x), x);
}

}  // namespace raoq
