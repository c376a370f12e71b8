// core/ops/softmax.cpp — softmax and log_softmax along one axis, numerically stable.
//
// Legend: x is viewed as (outer, n, inner) along the axis (as in reduce.cpp); y has x's shape.
// Both subtract the maximum along the axis before exponentiating, so no exp overflows
// (softmax(x) = softmax(x - max x)); log_softmax is formed as (x - max) - log(sum), never as
// x - (max + log(sum)), which would round at the magnitude of x (1e-4 lost at |x| ~ 1000).
// Rows of outer run in parallel in fixed chunks; every sum
// along the axis runs k = 0..n-1 in order (bitwise reproducible).
// Cross-entropy, which fuses log_softmax with the loss, is in loss.cpp.
#include <cmath>

#include "core/autograd.h"
#include "core/error.h"
#include "core/ops.h"
#include "core/ops/detail/broadcast.h"

namespace raoq::ops {

using detail::ConstArrayMap;

namespace {

struct AxisView {
  int64_t outer = 1, n = 1, inner = 1;
};

AxisView axis_view(const char* op, const Tensor& x, int64_t axis) {
  RAOQ_CHECK(x.defined(), op, ": input 'x' is an undefined tensor");
  const Shape& s = x.shape();
  const auto nd = static_cast<int64_t>(s.size());
  RAOQ_CHECK(axis >= -nd && axis < nd, op, ": axis ", axis, " out of range for shape ", shape_str(s), " (expected ",
             -nd, " to ", nd - 1, ")");
  const int64_t a = axis < 0 ? axis + nd : axis;
  AxisView v;
  for (int64_t d = 0; d < nd; ++d) {
    if (d < a) v.outer *= s[d];
    if (d > a) v.inner *= s[d];
  }
  v.n = s[a];
  return v;
}

// Runs fn(o) for every outer row, in parallel chunks of about kElementwiseGrain elements.
template <class Fn>
void for_rows(const AxisView& v, Fn fn) {
  if (v.outer * v.n * v.inner == 0) return;
  const int64_t grain = std::max<int64_t>(1, detail::kElementwiseGrain / (v.n * v.inner));
  parallel_for(v.outer, [&](int64_t begin, int64_t end) {
    Eigen::ArrayXf m(v.inner), s(v.inner);  // per-thread scratch for inner > 1
    for (int64_t o = begin; o < end; ++o) fn(o, m, s);
  }, grain);
}

// y = softmax(x) (Log = false) or log_softmax(x) (Log = true) along the axis.
template <bool Log>
void softmax_forward(const AxisView& v, const float* x, float* y) {
  const int64_t n = v.n, inner = v.inner;
  for_rows(v, [&](int64_t o, Eigen::ArrayXf& m, Eigen::ArrayXf& s) {
    const float* xo = x + o * n * inner;
    float* yo = y + o * n * inner;
    if (inner == 1) {  // the common case: the axis is the last one, a contiguous row
      const ConstArrayMap xr(xo, n);
      ArrayMap yr(yo, n);
      const float mx = xr.maxCoeff();
      if constexpr (Log) {
        yr = (xr - mx) - std::log((xr - mx).exp().sum());
      } else {
        yr = (xr - mx).exp();
        yr /= yr.sum();
      }
      return;
    }
    m = ConstArrayMap(xo, inner);
    for (int64_t k = 1; k < n; ++k) m = m.max(ConstArrayMap(xo + k * inner, inner));
    s.setZero();
    for (int64_t k = 0; k < n; ++k) {
      ArrayMap yk(yo + k * inner, inner);
      yk = (ConstArrayMap(xo + k * inner, inner) - m).exp();
      s += yk;
    }
    if constexpr (Log) {
      s = s.log();
      for (int64_t k = 0; k < n; ++k) ArrayMap(yo + k * inner, inner) = (ConstArrayMap(xo + k * inner, inner) - m) - s;
    } else {
      for (int64_t k = 0; k < n; ++k) ArrayMap(yo + k * inner, inner) /= s;
    }
  });
}

// softmax:     dx += y * (dy - sum_k dy_k y_k)
// log_softmax: dx += dy - exp(y) * sum_k dy_k
template <bool Log>
void softmax_backward(const AxisView& v, const float* y, const float* dy, const BackwardContext::GradSum& dx_sum) {
  float* dx = dx_sum.data;
  const int64_t n = v.n, inner = v.inner;
  for_rows(v, [&](int64_t o, Eigen::ArrayXf& acc, Eigen::ArrayXf&) {
    const int64_t off = o * n * inner;
    if (inner == 1) {
      const ConstArrayMap yr(y + off, n), gr(dy + off, n);
      ArrayMap dr(dx + off, n);
      if constexpr (Log) dx_sum.put(dr, gr - yr.exp() * gr.sum());
      else dx_sum.put(dr, yr * (gr - (gr * yr).sum()));
      return;
    }
    acc.setZero();
    for (int64_t k = 0; k < n; ++k) {
      const ConstArrayMap gk(dy + off + k * inner, inner);
      if constexpr (Log) acc += gk;
      else acc += gk * ConstArrayMap(y + off + k * inner, inner);
    }
    for (int64_t k = 0; k < n; ++k) {
      const ConstArrayMap yk(y + off + k * inner, inner), gk(dy + off + k * inner, inner);
      ArrayMap dk(dx + off + k * inner, inner);
      if constexpr (Log) dx_sum.put(dk, gk - yk.exp() * acc);
      else dx_sum.put(dk, yk * (gk - acc));
    }
  });
}

}  // namespace

// softmax:      y_k = exp(x_k - m) / sum_j exp(x_j - m),  m = max_j x_j   (along axis)
//               dx_k += y_k * (dy_k - sum_j dy_j y_j)                      saves: y
RAOQ_REGISTER_OP("softmax");
Tensor softmax(const Tensor& x, int64_t axis) {
  const AxisView v = axis_view("softmax", x, axis);
  Tensor y = Tensor::empty(x.shape());
  softmax_forward<false>(v, x.data(), y.data());
  return autograd::record("softmax", {x}, y, {"y"}, [v, y = y.detach()](BackwardContext& ctx) {
    if (ctx.needs(0)) softmax_backward<false>(v, y.data(), ctx.dout_tensor().data(), ctx.dinput_sum(0));
  });
}

// log_softmax:  y_k = (x_k - m) - log(sum_j exp(x_j - m)),  m = max_j x_j (along axis)
//               dx_k += dy_k - exp(y_k) * sum_j dy_j                       saves: y
RAOQ_REGISTER_OP("log_softmax");
Tensor log_softmax(const Tensor& x, int64_t axis) {
  const AxisView v = axis_view("log_softmax", x, axis);
  Tensor y = Tensor::empty(x.shape());
  softmax_forward<true>(v, x.data(), y.data());
  return autograd::record("log_softmax", {x}, y, {"y"}, [v, y = y.detach()](BackwardContext& ctx) {
    if (ctx.needs(0)) softmax_backward<true>(v, y.data(), ctx.dout_tensor().data(), ctx.dinput_sum(0));
  });
}

}  // namespace raoq::ops
