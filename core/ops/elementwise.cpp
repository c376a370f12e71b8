// core/ops/elementwise.cpp — arithmetic with numpy broadcasting, and elementwise maps.
//
// Legend: a, b broadcast to y (numpy rules, core/ops/detail/broadcast.h); for unary ops x, y, dx, dy
// all have x's shape. "sum_stretched_a(g)" sums a y-shaped g over the dimensions where a was
// stretched, giving a's shape (a fixed, serial order: bitwise reproducible).
// Forward and backward are vectorised Eigen array expressions over raw buffers, split over
// threads in fixed chunks for large tensors. Not here: activations (activation.cpp).
#include <cmath>

#include "core/autograd.h"
#include "core/error.h"
#include "core/ops.h"
#include "core/ops/detail/broadcast.h"

namespace raoq::ops {

using detail::ConstArrayMap;

namespace {

ArrayMap seg(float* p, int64_t begin, int64_t end) { return ArrayMap(p + begin, end - begin); }
ConstArrayMap cseg(const float* p, int64_t begin, int64_t end) { return ConstArrayMap(p + begin, end - begin); }

void check_defined(const char* op, const Tensor& t, const char* what) {
  RAOQ_CHECK(t.defined(), op, ": input '", what, "' is an undefined tensor");
}

// y = f(x) elementwise; f maps a ConstArrayMap chunk of x to an Eigen expression.
template <class F>
Tensor unary_forward(const char* op, const Tensor& x, F f) {
  check_defined(op, x, "x");
  Tensor y = Tensor::empty(x.shape());
  const float* px = x.data();
  float* py = y.data();
  detail::elementwise_for(x.numel(), [&](int64_t b, int64_t e) { seg(py, b, e) = f(cseg(px, b, e)); });
  return y;
}

// dx += g(dy, s) elementwise, where s is a tensor the backward saved (x or y): one term per
// element, put straight into x's gradient sum (BackwardContext::dinput_sum).
template <class G>
void unary_backward(BackwardContext& ctx, const Tensor& s, G g) {
  if (!ctx.needs(0)) return;
  const auto dx = ctx.dinput_sum(0);
  const float* pdy = ctx.dout_tensor().data();
  const float* ps = s.data();
  detail::elementwise_for(s.numel(), [&](int64_t b, int64_t e) { dx.put(seg(dx.data, b, e), g(cseg(pdy, b, e), cseg(ps, b, e))); });
}

// d += alpha * sum_stretched_d(g), g of the output shape.
void accumulate_reduced(const Tensor& d, const Tensor& g, float alpha) {
  if (d.shape() == g.shape()) {
    float* pd = d.data();
    const float* pg = g.data();
    detail::elementwise_for(d.numel(), [&](int64_t b, int64_t e) { seg(pd, b, e) += alpha * cseg(pg, b, e); });
    return;
  }
  detail::broadcast_reduce(detail::broadcast_plan(d.shape(), g.shape()), g.data(), d.data(), alpha);
}

// Input i's gradient of an op whose gradient there is alpha * sum_stretched(g). An input of the
// output's shape puts its one term per element, 0 + alpha g, straight into the gradient's sum
// (BackwardContext::dinput_sum: the bits adding into a cleared buffer gave, without the clearing
// pass); a stretched one is summed into zeros.
void reduced_gradient(BackwardContext& ctx, size_t i, const Tensor& g, float alpha) {
  if (ctx.input(i).shape() != g.shape()) {
    accumulate_reduced(ctx.dinput_tensor(i), g, alpha);
    return;
  }
  const auto d = ctx.dinput_sum(i);
  const float* pg = g.data();
  detail::elementwise_for(g.numel(), [&](int64_t b, int64_t e) { d.put(seg(d.data, b, e), alpha * cseg(pg, b, e)); });
}

// Input i's gradient sum_stretched_i(op(g, other)), g of the output shape and `other` broadcast to
// it. An input of the output's shape puts 0 + op straight into the gradient's sum, as above; a
// stretched one is summed into zeros through one output-shaped temporary.
template <class Op>
void broadcast_gradient(BackwardContext& ctx, size_t i, const Tensor& g, const Tensor& other, Op op) {
  const auto plan = detail::broadcast_plan(g.shape(), other.shape());
  if (ctx.input(i).shape() == g.shape()) {
    const auto d = ctx.dinput_sum(i);
    detail::broadcast_apply(plan, g.data(), other.data(), d.data, /*accumulate=*/!d.fresh,
                            [&op](const auto& u, const auto& v) { return 0.0f + op(u, v); });
    return;
  }
  Tensor t = Tensor::empty(g.shape());
  detail::broadcast_apply(plan, g.data(), other.data(), t.data(), /*accumulate=*/false, op);
  detail::broadcast_reduce(detail::broadcast_plan(ctx.input(i).shape(), g.shape()), t.data(), ctx.dinput_tensor(i).data());
}

template <class Op>
Tensor binary_forward(const char* op_name, const Tensor& a, const Tensor& b, Op op) {
  check_defined(op_name, a, "a");
  check_defined(op_name, b, "b");
  Tensor y = Tensor::empty(detail::broadcast_shape(op_name, a.shape(), b.shape()));
  detail::broadcast_apply(detail::broadcast_plan(a.shape(), b.shape()), a.data(), b.data(), y.data(), false, op);
  return y;
}

// Values outside an op's domain would silently become NaN; say which op and which value instead.
void check_not_negative(const char* op, const Tensor& x, const char* why) {
  if (x.numel() == 0) return;
  const float lowest = x.flat().minCoeff();
  RAOQ_CHECK(lowest >= 0.0f, op, ": expects x >= 0", why, ", but x ", shape_str(x.shape()), " holds ", lowest);
}

}  // namespace

// ---- broadcasting arithmetic

// add:   y = a + b
//        da += sum_stretched_a(dy)      db += sum_stretched_b(dy)          saves: nothing
RAOQ_REGISTER_OP("add");
Tensor add(const Tensor& a, const Tensor& b) {
  Tensor y = binary_forward("add", a, b, [](const auto& u, const auto& v) { return u + v; });
  return autograd::record("add", {a, b}, y, {}, [](BackwardContext& ctx) {
    if (ctx.needs(0)) reduced_gradient(ctx, 0, ctx.dout_tensor(), 1.0f);
    if (ctx.needs(1)) reduced_gradient(ctx, 1, ctx.dout_tensor(), 1.0f);
  });
}

// sub:   y = a - b
//        da += sum_stretched_a(dy)      db -= sum_stretched_b(dy)          saves: nothing
RAOQ_REGISTER_OP("sub");
Tensor sub(const Tensor& a, const Tensor& b) {
  Tensor y = binary_forward("sub", a, b, [](const auto& u, const auto& v) { return u - v; });
  return autograd::record("sub", {a, b}, y, {}, [](BackwardContext& ctx) {
    if (ctx.needs(0)) reduced_gradient(ctx, 0, ctx.dout_tensor(), 1.0f);
    if (ctx.needs(1)) reduced_gradient(ctx, 1, ctx.dout_tensor(), -1.0f);
  });
}

// mul:   y = a * b
//        da += sum_stretched_a(dy * b)  db += sum_stretched_b(dy * a)      saves: a, b
RAOQ_REGISTER_OP("mul");
Tensor mul(const Tensor& a, const Tensor& b) {
  Tensor y = binary_forward("mul", a, b, [](const auto& u, const auto& v) { return u * v; });
  return autograd::record("mul", {a, b}, y, {"a", "b"}, [a = a.detach(), b = b.detach()](BackwardContext& ctx) {
    const auto times = [](const auto& g, const auto& v) { return g * v; };
    if (ctx.needs(0)) broadcast_gradient(ctx, 0, ctx.dout_tensor(), b, times);
    if (ctx.needs(1)) broadcast_gradient(ctx, 1, ctx.dout_tensor(), a, times);
  });
}

// div:   y = a / b
//        da += sum_stretched_a(dy / b)  db += sum_stretched_b(-dy * y / b)  saves: b, y
// (-dy*y/b = -dy*a/b^2 without broadcasting a a second time.)
RAOQ_REGISTER_OP("div");
Tensor div(const Tensor& a, const Tensor& b) {
  Tensor y = binary_forward("div", a, b, [](const auto& u, const auto& v) { return u / v; });
  return autograd::record("div", {a, b}, y, {"b", "y"}, [b = b.detach(), y = y.detach()](BackwardContext& ctx) {
    const Tensor& dy = ctx.dout_tensor();
    if (ctx.needs(0)) broadcast_gradient(ctx, 0, dy, b, [](const auto& g, const auto& v) { return g / v; });
    if (ctx.needs(1)) {
      Tensor dy_y = Tensor::empty(dy.shape());  // dy * y, output-shaped
      dy_y.flat() = dy.flat() * y.flat();
      broadcast_gradient(ctx, 1, dy_y, b, [](const auto& g, const auto& v) { return -g / v; });
    }
  });
}

// ---- scalar arithmetic

// add_scalar:  y = x + c            dx += dy                             saves: nothing
RAOQ_REGISTER_OP("add_scalar");
Tensor add_scalar(const Tensor& x, float c) {
  Tensor y = unary_forward("add_scalar", x, [c](const auto& u) { return u + c; });
  return autograd::record("add_scalar", {x}, y, {}, [](BackwardContext& ctx) {
    unary_backward(ctx, ctx.dout_tensor(), [](const auto& g, const auto&) { return g; });
  });
}

// scale:  y = c * x                 dx += c * dy                         saves: c
RAOQ_REGISTER_OP("scale");
Tensor scale(const Tensor& x, float c) {
  Tensor y = unary_forward("scale", x, [c](const auto& u) { return c * u; });
  return autograd::record("scale", {x}, y, {"c"}, [c](BackwardContext& ctx) {
    unary_backward(ctx, ctx.dout_tensor(), [c](const auto& g, const auto&) { return c * g; });
  });
}

// neg:    y = -x                    dx += -dy                            saves: nothing
RAOQ_REGISTER_OP("neg");
Tensor neg(const Tensor& x) {
  Tensor y = unary_forward("neg", x, [](const auto& u) { return -u; });
  return autograd::record("neg", {x}, y, {}, [](BackwardContext& ctx) {
    unary_backward(ctx, ctx.dout_tensor(), [](const auto& g, const auto&) { return -g; });
  });
}

// ---- powers, exponentials, logarithms

// pow:    y = x^p                   dx += dy * p * x^(p-1)               saves: x, p
// A non-integer p needs x >= 0 (a negative base has no real power). Scalar std::pow per element:
// exact for whole p on negative x, and pow is not on any hot path (use square() for x^2).
RAOQ_REGISTER_OP("pow");
Tensor pow(const Tensor& x, float p) {
  check_defined("pow", x, "x");
  if (p != std::round(p)) check_not_negative("pow", x, " for a non-integer exponent");
  Tensor y = unary_forward("pow", x, [p](const auto& u) { return u.unaryExpr([p](float v) { return std::pow(v, p); }); });
  return autograd::record("pow", {x}, y, {"x", "p"}, [x = x.detach(), p](BackwardContext& ctx) {
    if (p == 0.0f) return;  // y = 1: no gradient (and x^-1 would be inf at 0)
    if (p == 1.0f) return unary_backward(ctx, x, [](const auto& g, const auto&) { return g; });
    const float q = p - 1.0f;
    unary_backward(ctx, x, [p, q](const auto& g, const auto& u) { return g * p * u.unaryExpr([q](float v) { return std::pow(v, q); }); });
  });
}

// square: y = x^2                   dx += 2 * x * dy                     saves: x
RAOQ_REGISTER_OP("square");
Tensor square(const Tensor& x) {
  Tensor y = unary_forward("square", x, [](const auto& u) { return u.square(); });
  return autograd::record("square", {x}, y, {"x"}, [x = x.detach()](BackwardContext& ctx) {
    unary_backward(ctx, x, [](const auto& g, const auto& u) { return 2.0f * u * g; });
  });
}

// sqrt:   y = sqrt(x), x >= 0       dx += dy / (2 y)                     saves: y
RAOQ_REGISTER_OP("sqrt");
Tensor sqrt(const Tensor& x) {
  check_defined("sqrt", x, "x");
  check_not_negative("sqrt", x, "");
  Tensor y = unary_forward("sqrt", x, [](const auto& u) { return u.sqrt(); });
  return autograd::record("sqrt", {x}, y, {"y"}, [y = y.detach()](BackwardContext& ctx) {
    unary_backward(ctx, y, [](const auto& g, const auto& v) { return 0.5f * g / v; });
  });
}

// exp:    y = e^x                   dx += dy * y                         saves: y
RAOQ_REGISTER_OP("exp");
Tensor exp(const Tensor& x) {
  Tensor y = unary_forward("exp", x, [](const auto& u) { return u.exp(); });
  return autograd::record("exp", {x}, y, {"y"}, [y = y.detach()](BackwardContext& ctx) {
    unary_backward(ctx, y, [](const auto& g, const auto& v) { return g * v; });
  });
}

// log:    y = ln(x), x >= 0         dx += dy / x                         saves: x
// (log(0) = -inf is allowed, as in IEEE arithmetic; a negative x is an error.)
RAOQ_REGISTER_OP("log");
Tensor log(const Tensor& x) {
  check_defined("log", x, "x");
  check_not_negative("log", x, "");
  Tensor y = unary_forward("log", x, [](const auto& u) { return u.log(); });
  return autograd::record("log", {x}, y, {"x"}, [x = x.detach()](BackwardContext& ctx) {
    unary_backward(ctx, x, [](const auto& g, const auto& u) { return g / u; });
  });
}

// ---- piecewise

// abs:    y = |x|                   dx += dy * sign(x), sign(0) = 0      saves: x
RAOQ_REGISTER_OP("abs");
Tensor abs(const Tensor& x) {
  Tensor y = unary_forward("abs", x, [](const auto& u) { return u.abs(); });
  return autograd::record("abs", {x}, y, {"x"}, [x = x.detach()](BackwardContext& ctx) {
    unary_backward(ctx, x, [](const auto& g, const auto& u) { return g * u.sign(); });
  });
}

// clamp:  y = min(max(x, lo), hi)   dx += dy where lo < x < hi, else 0   saves: x, lo, hi
RAOQ_REGISTER_OP("clamp");
Tensor clamp(const Tensor& x, float lo, float hi) {
  RAOQ_CHECK(lo <= hi, "clamp: expects lo <= hi, given lo ", lo, " and hi ", hi);
  Tensor y = unary_forward("clamp", x, [lo, hi](const auto& u) { return u.max(lo).min(hi); });
  return autograd::record("clamp", {x}, y, {"x", "lo", "hi"}, [x = x.detach(), lo, hi](BackwardContext& ctx) {
    unary_backward(ctx, x, [lo, hi](const auto& g, const auto& u) { return ((u > lo) && (u < hi)).select(g, 0.0f); });
  });
}

}  // namespace raoq::ops
