// layers/avg_pool2d.cpp — AvgPool2d (the pooling and its backward live in ops::avg_pool2d).
#include "layers/avg_pool2d.h"

#include "core/ops.h"

namespace raoq {

AvgPool2d::AvgPool2d(int64_t kernel_size_, int64_t stride_, int64_t padding_)
    : Module("AvgPool2d"), kernel_size(kernel_size_), stride(stride_ == 0 ? kernel_size_ : stride_), padding(padding_) {
  RAOQ_CHECK(kernel_size > 0 && stride > 0 && padding >= 0 && 2 * padding <= kernel_size, "AvgPool2d: need kernel_size > 0, ",
             "stride >= 0 and 0 <= padding <= kernel_size / 2 (got ", kernel_size, ", ", stride_, ", ", padding, ")");
}

Tensor AvgPool2d::forward(const Tensor& x) {  // x: (N, C, H, W)
  RAOQ_CHECK(x.dim() == 4 && x.size(2) + 2 * padding >= kernel_size && x.size(3) + 2 * padding >= kernel_size, label(),
             ": expected input (N, C, H, W) with H, W + 2*", padding, " >= ", kernel_size, ", got ", shape_str(x.shape()));
  return named_output(ops::avg_pool2d(x, kernel_size, stride, padding), x);
}

std::string AvgPool2d::extra_repr() const {
  return "kernel_size=" + std::to_string(kernel_size) + ", stride=" + std::to_string(stride) +
         ", padding=" + std::to_string(padding);
}

}  // namespace raoq
