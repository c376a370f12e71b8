// optim/clip.cpp — gradient clipping by global L2 norm (see clip.h).
#include "optim/clip.h"

#include <cmath>

#include "core/autograd.h"
#include "core/error.h"

namespace raoq {

double clip_grad_norm(const std::vector<Tensor>& params, double max_norm) {
  RAOQ_CHECK(max_norm > 0.0, "clip_grad_norm: max_norm must be positive (got ", max_norm, ")");
  const autograd::NoGradGuard no_grad;
  double sq = 0.0;
  for (const Tensor& p : params) {
    const Tensor g = p.grad();
    if (g.defined()) sq += g.flat().cast<double>().square().sum();
  }
  const double total = std::sqrt(sq);
  if (total > max_norm) {
    const auto factor = static_cast<float>(max_norm / (total + 1e-6));
    for (const Tensor& p : params) {
      const Tensor g = p.grad();
      if (g.defined()) g.flat() *= factor;
    }
  }
  return total;
}

double clip_grad_norm(const NamedTensors& params, double max_norm) {
  std::vector<Tensor> tensors;
  tensors.reserve(params.size());
  for (const auto& [name, t] : params) tensors.push_back(t);
  return clip_grad_norm(tensors, max_norm);
}

}  // namespace raoq
