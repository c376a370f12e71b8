// Uses the installed library: builds a tiny graph, runs backward, checks the gradient.
#include <cstdio>

#include "core/autograd.h"
#include "core/tensor.h"

int main() {
  using namespace raoq;
  Tensor x = Tensor::from_vector({1, 2, 3}, {3}).set_requires_grad(true);
  Tensor y = Tensor::scalar(0);
  y = autograd::record("sum_sq", {x}, Tensor::scalar(x.flat().square().sum()), {"x"},
                       [xs = x.detach()](BackwardContext& ctx) { ctx.dinput(0) += 2.0f * ctx.dout()(0) * xs.flat(); });
  y.backward();
  const bool ok = x.grad().at({2}) == 6.0f;
  std::printf("raoq consumer: %s\n", ok ? "ok" : "wrong gradient");
  return ok ? 0 : 1;
}
