// core/ops/reduce.cpp — sum, mean and max, over the whole tensor or along one axis.
//
// Legend: along an axis, x is viewed as (outer, n, inner) with n the size of the reduced axis,
// outer the product of the dimensions before it and inner the product of those after it;
// y is (outer, inner), laid out as x's shape without the axis (or with it as size 1 when keepdim).
// Axis sums add the rows k = 0..n-1 in that order, vectorised over inner, so the result is
// bitwise reproducible; outer rows may run on different threads (no sum crosses them).
// Whole-tensor sums accumulate in double (a loss over a million elements keeps its digits).
#include <memory>
#include <vector>

#include "core/autograd.h"
#include "core/error.h"
#include "core/ops.h"
#include "core/ops/detail/broadcast.h"

namespace raoq::ops {

using detail::ConstArrayMap;

namespace {

struct AxisView {
  int64_t outer = 1, n = 1, inner = 1;
  Shape out_shape;
};

AxisView axis_view(const char* op, const Tensor& x, int64_t axis, bool keepdim) {
  RAOQ_CHECK(x.defined(), op, ": input 'x' is an undefined tensor");
  const Shape& s = x.shape();
  const auto nd = static_cast<int64_t>(s.size());
  RAOQ_CHECK(nd > 0, op, ": cannot reduce along axis ", axis,
             " of a 0-d tensor (shape []); call the overload without an axis");
  RAOQ_CHECK(axis >= -nd && axis < nd, op, ": axis ", axis, " out of range for shape ", shape_str(s),
             " (expected ", -nd, " to ", nd - 1, ")");
  const int64_t a = axis < 0 ? axis + nd : axis;
  AxisView v;
  for (int64_t d = 0; d < nd; ++d) {
    if (d < a) v.outer *= s[d];
    if (d > a) v.inner *= s[d];
    if (d != a) v.out_shape.push_back(s[d]);
    if (d == a && keepdim) v.out_shape.push_back(1);
  }
  v.n = s[a];
  return v;
}

// Rows of work per thread so that a chunk holds about kElementwiseGrain elements.
int64_t rows_per_thread(int64_t row_elements) {
  return std::max<int64_t>(1, detail::kElementwiseGrain / std::max<int64_t>(1, row_elements));
}

// y[o, i] = alpha * sum_k x[o, k, i]
void sum_along(const AxisView& v, const float* x, float* y, float alpha) {
  parallel_for(v.outer, [&](int64_t begin, int64_t end) {
    for (int64_t o = begin; o < end; ++o) {
      const float* xo = x + o * v.n * v.inner;
      if (v.inner == 1) {
        y[o] = alpha * ConstArrayMap(xo, v.n).sum();
        continue;
      }
      ArrayMap acc(y + o * v.inner, v.inner);
      acc.setZero();
      for (int64_t k = 0; k < v.n; ++k) acc += ConstArrayMap(xo + k * v.inner, v.inner);
      acc *= alpha;
    }
  }, rows_per_thread(v.n * v.inner));
}

// dx[o, k, i] += alpha * dy[o, i]
void spread_along(const AxisView& v, const float* dy, float* dx, float alpha) {
  parallel_for(v.outer, [&](int64_t begin, int64_t end) {
    for (int64_t o = begin; o < end; ++o) {
      float* dxo = dx + o * v.n * v.inner;
      if (v.inner == 1) {
        ArrayMap(dxo, v.n) += alpha * dy[o];
        continue;
      }
      const ConstArrayMap g(dy + o * v.inner, v.inner);
      for (int64_t k = 0; k < v.n; ++k) ArrayMap(dxo + k * v.inner, v.inner) += alpha * g;
    }
  }, rows_per_thread(v.n * v.inner));
}

// Shared body of sum/mean along an axis: y = alpha * sum_k x, dx += alpha * dy.
Tensor sum_along_op(const char* op, const Tensor& x, int64_t axis, bool keepdim, bool average) {
  const AxisView v = axis_view(op, x, axis, keepdim);
  RAOQ_CHECK(!average || v.n > 0, op, ": cannot average over axis ", axis, " of size 0 (shape ",
             shape_str(x.shape()), ")");
  const float alpha = average ? 1.0f / static_cast<float>(v.n) : 1.0f;
  Tensor y = Tensor::empty(v.out_shape);
  sum_along(v, x.data(), y.data(), alpha);
  return autograd::record(op, {x}, y, {}, [v, alpha](BackwardContext& ctx) {
    if (ctx.needs(0)) spread_along(v, ctx.dout_tensor().data(), ctx.dinput_tensor(0).data(), alpha);
  });
}

// sum_i x_i accumulated in double over float partial sums of fixed 4096-element blocks: the
// precision of a double sum at the speed of a vectorised float one (casting every element to
// double first measured 5x slower). The block boundaries depend only on n: reproducible.
double sum_in_double(const float* x, int64_t n) {
  constexpr int64_t kBlock = 4096;
  double total = 0.0;
  for (int64_t i = 0; i < n; i += kBlock) total += ConstArrayMap(x + i, std::min(kBlock, n - i)).sum();
  return total;
}

// Shared body of sum/mean over everything: y = alpha * sum x (shape []), dx += alpha * dy.
Tensor sum_all_op(const char* op, const Tensor& x, bool average) {
  RAOQ_CHECK(x.defined(), op, ": input 'x' is an undefined tensor");
  RAOQ_CHECK(!average || x.numel() > 0, op, ": cannot average an empty tensor (shape ", shape_str(x.shape()), ")");
  const double total = sum_in_double(x.data(), x.numel());
  const float alpha = average ? 1.0f / static_cast<float>(x.numel()) : 1.0f;
  Tensor y = Tensor::scalar(static_cast<float>(average ? total / static_cast<double>(x.numel()) : total));
  return autograd::record(op, {x}, y, {}, [alpha](BackwardContext& ctx) {
    if (!ctx.needs(0)) return;
    const float g = alpha * ctx.dout()(0);
    const Tensor& dxt = ctx.dinput_uninit(0);  // filled with g: no zero-fill first
    float* dx = dxt.data();
    detail::elementwise_for(dxt.numel(), [&](int64_t b, int64_t e) { ArrayMap(dx + b, e - b).setConstant(g); });
  });
}

}  // namespace

// sum:   y = sum_i x_i                 (shape [])
//        dx += dy                                                           saves: nothing
// sum:   y[o, i] = sum_k x[o, k, i]    (axis reduced; kept as size 1 when keepdim)
//        dx[o, k, i] += dy[o, i]                                            saves: nothing
RAOQ_REGISTER_OP("sum");
Tensor sum(const Tensor& x) { return sum_all_op("sum", x, /*average=*/false); }
Tensor sum(const Tensor& x, int64_t axis, bool keepdim) { return sum_along_op("sum", x, axis, keepdim, false); }

// mean:  y = sum_i x_i / numel         (shape [])
//        dx += dy / numel                                                   saves: nothing
// mean:  y[o, i] = sum_k x[o, k, i] / n
//        dx[o, k, i] += dy[o, i] / n                                        saves: nothing
RAOQ_REGISTER_OP("mean");
Tensor mean(const Tensor& x) { return sum_all_op("mean", x, /*average=*/true); }
Tensor mean(const Tensor& x, int64_t axis, bool keepdim) { return sum_along_op("mean", x, axis, keepdim, true); }

// max:   y[o, i] = max_k x[o, k, i],   k*[o, i] = the first k attaining it
//        dx[o, k*, i] += dy[o, i]      (ties: only the first maximal element) saves: argmax
RAOQ_REGISTER_OP("max");
Tensor max(const Tensor& x, int64_t axis, bool keepdim) {
  const AxisView v = axis_view("max", x, axis, keepdim);
  RAOQ_CHECK(v.n > 0, "max: axis ", axis, " of shape ", shape_str(x.shape()), " is empty; a maximum needs one element");
  Tensor y = Tensor::empty(v.out_shape);
  auto argmax = std::make_shared<std::vector<int64_t>>(static_cast<size_t>(v.outer * v.inner));
  const float* px = x.data();
  float* py = y.data();
  parallel_for(v.outer, [&](int64_t begin, int64_t end) {
    for (int64_t o = begin; o < end; ++o) {
      for (int64_t i = 0; i < v.inner; ++i) {
        const float* col = px + o * v.n * v.inner + i;  // x[o, :, i] with stride inner
        int64_t best = 0;
        for (int64_t k = 1; k < v.n; ++k)
          if (col[k * v.inner] > col[best * v.inner]) best = k;  // strict: the first maximum wins
        py[o * v.inner + i] = col[best * v.inner];
        (*argmax)[static_cast<size_t>(o * v.inner + i)] = best;
      }
    }
  }, rows_per_thread(v.n * v.inner));
  return autograd::record("max", {x}, y, {"argmax"}, [v, argmax](BackwardContext& ctx) {
    if (!ctx.needs(0)) return;
    const float* dy = ctx.dout_tensor().data();
    float* dx = ctx.dinput_tensor(0).data();
    for (int64_t o = 0; o < v.outer; ++o)
      for (int64_t i = 0; i < v.inner; ++i) {
        const int64_t j = o * v.inner + i;
        dx[(o * v.n + (*argmax)[static_cast<size_t>(j)]) * v.inner + i] += dy[j];
      }
  });
}

}  // namespace raoq::ops
