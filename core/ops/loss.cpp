// core/ops/loss.cpp — losses: fused cross-entropy with label smoothing, and mean squared error.
//
// Legend: N rows (samples), C classes; logits and p (the softmax of the logits) are (N, C).
// Both losses are means and return shape []. The per-row losses are computed in parallel and
// added in row order in double (bitwise reproducible, and a 0.5 loss over 60000 rows keeps its
// digits). Not here: the regularisers and objectives of the folders above core (quant/, imc/).
#include <cmath>
#include <memory>
#include <vector>

#include "core/autograd.h"
#include "core/error.h"
#include "core/ops.h"
#include "core/ops/detail/broadcast.h"

namespace raoq::ops {

using detail::ConstArrayMap;

// cross_entropy:  q_n = (1 - e) onehot(t_n) + e / C            (label smoothing e; e = 0: plain NLL)
//                 y = -(1/N) sum_n sum_c q_nc log p_nc,  log p_nc = x_nc - lse_n,
//                 lse_n = m_n + log sum_c exp(x_nc - m_n),  m_n = max_c x_nc       (stable)
//                 dlogits_nc += dy * (p_nc - q_nc) / N                     saves: p, targets, e
// Fused (log-softmax + NLL in one pass, hand-written backward): the loss of every classifier.
RAOQ_REGISTER_OP("cross_entropy");
Tensor cross_entropy(const Tensor& logits, const std::vector<int64_t>& targets, float label_smoothing) {
  RAOQ_CHECK(logits.defined(), "cross_entropy: logits is an undefined tensor");
  RAOQ_CHECK(logits.dim() == 2, "cross_entropy: expects logits (N, C), given ", shape_str(logits.shape()),
             " (reshape (B, T, V) logits to (B*T, V) and flatten the targets the same way)");
  const int64_t N = logits.size(0), C = logits.size(1);
  RAOQ_CHECK(N > 0 && C > 0, "cross_entropy: expects at least one row and one class, given logits ",
             shape_str(logits.shape()));
  RAOQ_CHECK(static_cast<int64_t>(targets.size()) == N, "cross_entropy: ", targets.size(), " targets for ", N,
             " rows of logits ", shape_str(logits.shape()), " (expected one class index per row)");
  for (size_t n = 0; n < targets.size(); ++n)
    RAOQ_CHECK(targets[n] >= 0 && targets[n] < C, "cross_entropy: target ", targets[n], " at index ", n,
               " is out of range [0, ", C, ") for logits ", shape_str(logits.shape()));
  RAOQ_CHECK(label_smoothing >= 0.0f && label_smoothing < 1.0f,
             "cross_entropy: label_smoothing must be in [0, 1), given ", label_smoothing);
  const float e = label_smoothing;
  const double on = 1.0 - e, uniform = double(e) / double(C);  // q = on * onehot + uniform
  Tensor p = Tensor::empty(logits.shape());
  std::vector<double> row_loss(static_cast<size_t>(N));
  const float* x = logits.data();
  parallel_for(N, [&](int64_t n0, int64_t n1) {
    for (int64_t n = n0; n < n1; ++n) {
      const ConstArrayMap xr(x + n * C, C);
      ArrayMap pr(p.data() + n * C, C);
      const float m = xr.maxCoeff();
      pr = (xr - m).exp();
      const float total = pr.sum();
      pr /= total;
      const double lse = double(m) + std::log(double(total));
      const double logp_t = double(xr(targets[size_t(n)])) - lse;
      const double sum_logp = uniform > 0 ? xr.cast<double>().sum() - double(C) * lse : 0.0;  // sum_c log p_nc
      row_loss[size_t(n)] = -(on * logp_t + uniform * sum_logp);
    }
  }, std::max<int64_t>(1, detail::kElementwiseGrain / C));
  double loss = 0.0;
  for (double l : row_loss) loss += l;
  Tensor y = Tensor::scalar(static_cast<float>(loss / double(N)));
  auto t = std::make_shared<const std::vector<int64_t>>(targets);
  return autograd::record("cross_entropy", {logits}, y, {"p", "targets", "e"},
                          [p, t, N, C, on, uniform](BackwardContext& ctx) {
    if (!ctx.needs(0)) return;
    const float g = ctx.dout()(0) / static_cast<float>(N);
    const float* pp = p.data();
    float* dx = ctx.dinput_tensor(0).data();
    parallel_for(N, [&](int64_t n0, int64_t n1) {
      for (int64_t n = n0; n < n1; ++n) {
        ArrayMap dr(dx + n * C, C);
        dr += g * (ConstArrayMap(pp + n * C, C) - static_cast<float>(uniform));
        dr((*t)[size_t(n)]) -= g * static_cast<float>(on);
      }
    }, std::max<int64_t>(1, detail::kElementwiseGrain / C));
  });
}

// mse_loss:  y = (1/n) sum_i (a_i - b_i)^2                 (a, b the same shape, n elements)
//            da += dy * 2 (a - b) / n      db += -dy * 2 (a - b) / n       saves: a, b
RAOQ_REGISTER_OP("mse_loss");
Tensor mse_loss(const Tensor& a, const Tensor& b) {
  RAOQ_CHECK(a.defined() && b.defined(), "mse_loss: an input is an undefined tensor");
  RAOQ_CHECK(a.shape() == b.shape(), "mse_loss: a is ", shape_str(a.shape()), " but b is ", shape_str(b.shape()),
             " (expected equal shapes; broadcast explicitly first if that is intended)");
  RAOQ_CHECK(a.numel() > 0, "mse_loss: cannot average over empty tensors of shape ", shape_str(a.shape()));
  const int64_t n = a.numel();
  const double total = (a.flat() - b.flat()).cast<double>().square().sum();
  Tensor y = Tensor::scalar(static_cast<float>(total / double(n)));
  return autograd::record("mse_loss", {a, b}, y, {"a", "b"}, [a = a.detach(), b = b.detach(), n](BackwardContext& ctx) {
    const float g = 2.0f * ctx.dout()(0) / static_cast<float>(n);
    const float *pa = a.data(), *pb = b.data();
    float* da = ctx.needs(0) ? ctx.dinput_tensor(0).data() : nullptr;
    float* db = ctx.needs(1) ? ctx.dinput_tensor(1).data() : nullptr;
    detail::elementwise_for(n, [&](int64_t i0, int64_t i1) {
      const int64_t len = i1 - i0;
      if (da) ArrayMap(da + i0, len) += g * (ConstArrayMap(pa + i0, len) - ConstArrayMap(pb + i0, len));
      if (db) ArrayMap(db + i0, len) -= g * (ConstArrayMap(pa + i0, len) - ConstArrayMap(pb + i0, len));
    });
  });
}

}  // namespace raoq::ops
