// tests/quant/backward_with.h — run backward from y with a chosen upstream gradient dy, so that
// tests can pin an op's gradients element by element without depending on other ops.
#pragma once

#include <vector>

#include "core/autograd.h"
#include "core/error.h"
#include "core/tensor.h"

namespace raoq::testing {

// L = sum_i y_i * dy_i, then L.backward(): every input of y receives exactly the op's backward of dy.
inline void backward_with(const Tensor& y, const std::vector<float>& dy) {
  RAOQ_CHECK(int64_t(dy.size()) == y.numel(), "backward_with: ", dy.size(), " values for ", y.numel(), " outputs");
  double acc = 0;
  for (int64_t i = 0; i < y.numel(); ++i) acc += double(y.data()[i]) * dy[size_t(i)];
  const Tensor g = Tensor::from_vector(dy, y.shape());
  Tensor loss = autograd::record("backward_with", {y}, Tensor::scalar(float(acc)), {"dy"},
                                 [g](BackwardContext& ctx) { ctx.dinput(0) += ctx.dout()(0) * g.flat(); });
  loss.backward();
}

inline void backward_with_ones(const Tensor& y) { backward_with(y, std::vector<float>(size_t(y.numel()), 1.0f)); }

}  // namespace raoq::testing
