// core/ops/activation.cpp — pointwise activations: relu, gelu (exact erf form), silu, tanh, sigmoid.
//
// Legend: x, y, dx, dy all have the same (any) shape.
// Each forward and backward is one vectorised Eigen array expression (relu: a plain `omp simd`
// loop) over a chunk of the flat buffers; chunks run on threads for large tensors (fixed chunks,
// no reductions). The layer
// wrappers live in layers/; activations fused into other folders' ops live in those folders.
#include <cmath>
#include <unsupported/Eigen/SpecialFunctions>

#include "core/autograd.h"
#include "core/error.h"
#include "core/ops.h"
#include "core/ops/detail/broadcast.h"

namespace raoq::ops {

using detail::ConstArrayMap;

namespace {

constexpr float kInvSqrt2 = 0.70710678118654752f;    // 1/sqrt(2)
constexpr float kInvSqrt2Pi = 0.39894228040143268f;  // 1/sqrt(2 pi)

ArrayMap seg(float* p, int64_t begin, int64_t end) { return ArrayMap(p + begin, end - begin); }
ConstArrayMap cseg(const float* p, int64_t begin, int64_t end) { return ConstArrayMap(p + begin, end - begin); }

// y = f(x) chunk by chunk; f maps a ConstArrayMap chunk of x to an Eigen expression.
template <class F>
Tensor activation_forward(const char* op, const Tensor& x, F f) {
  RAOQ_CHECK(x.defined(), op, ": input 'x' is an undefined tensor");
  Tensor y = Tensor::empty(x.shape());
  const float* px = x.data();
  float* py = y.data();
  detail::elementwise_for(x.numel(), [&](int64_t b, int64_t e) { seg(py, b, e) = f(cseg(px, b, e)); });
  return y;
}

// dx = g(dy, s) chunk by chunk, s the saved tensor (x or y). The op's gradient buffer is fresh
// (the autograd pass adds it to the input's gradient), so it is written once, without the
// zero-fill pass that += would need.
template <class G>
void activation_backward(BackwardContext& ctx, const Tensor& s, G g) {
  if (!ctx.needs(0)) return;
  float* pdx = ctx.dinput_uninit(0).data();
  const float* pdy = ctx.dout_tensor().data();
  const float* ps = s.data();
  detail::elementwise_for(s.numel(), [&](int64_t b, int64_t e) { seg(pdx, b, e) = g(cseg(pdy, b, e), cseg(ps, b, e)); });
}

}  // namespace

// relu:     y = max(x, 0)      (a NaN stays NaN, so a diverged activation is not hidden)
//           dx += dy * [x > 0]         (the gradient at exactly 0 is 0)          saves: y
// [x > 0] = [y > 0], so the backward reads y. Both loops are plain conditional moves under
// `omp simd`: an Eigen select over a mask stays scalar and branches, mispredicting on about half
// of the elements (it was the largest single cost of a cnn-small training step).
RAOQ_REGISTER_OP("relu");
Tensor relu(const Tensor& x) {
  RAOQ_CHECK(x.defined(), "relu: input 'x' is an undefined tensor");
  Tensor y = Tensor::empty(x.shape());
  const float* px = x.data();
  float* py = y.data();
  detail::elementwise_for(x.numel(), [px, py](int64_t b, int64_t e) {
#pragma omp simd
    for (int64_t i = b; i < e; ++i) {
      const float v = px[i];
      py[i] = v < 0.0f ? 0.0f : v;
    }
  });
  return autograd::record("relu", {x}, y, {"y"}, [y = y.detach()](BackwardContext& ctx) {
    if (!ctx.needs(0)) return;
    float* pdx = ctx.dinput_uninit(0).data();
    const float* pdy = ctx.dout_tensor().data();
    const float* ps = y.data();
    // Pointers by value and dy loaded unconditionally: a load under the condition, or through
    // the closure, keeps GCC from vectorising (it may not speculate the load).
    detail::elementwise_for(y.numel(), [pdx, pdy, ps](int64_t b, int64_t e) {
#pragma omp simd
      for (int64_t i = b; i < e; ++i) {
        const float g = pdy[i];
        pdx[i] = ps[i] > 0.0f ? g : 0.0f;
      }
    });
  });
}

// gelu:     y = x * Phi(x),  Phi(x) = (1 + erf(x / sqrt 2)) / 2      (exact form, not tanh)
//           dx += dy * (Phi(x) + x * phi(x)),  phi(x) = exp(-x^2 / 2) / sqrt(2 pi)   saves: x
// reference: Hendrycks & Gimpel, "Gaussian Error Linear Units", 2016, Eq. for GELU(x) = x Phi(x).
RAOQ_REGISTER_OP("gelu");
Tensor gelu(const Tensor& x) {
  Tensor y = activation_forward("gelu", x, [](const auto& u) { return 0.5f * u * (1.0f + (u * kInvSqrt2).erf()); });
  return autograd::record("gelu", {x}, y, {"x"}, [x = x.detach()](BackwardContext& ctx) {
    activation_backward(ctx, x, [](const auto& g, const auto& u) {
      return g * (0.5f * (1.0f + (u * kInvSqrt2).erf()) + kInvSqrt2Pi * u * (-0.5f * u.square()).exp());
    });
  });
}

// silu:     y = x * s,  s = sigmoid(x) = 1 / (1 + e^-x)
//           dx += dy * s * (1 + x * (1 - s))                                      saves: x
// s is recomputed in backward into a chunk-sized buffer rather than saved (one tensor less held).
RAOQ_REGISTER_OP("silu");
Tensor silu(const Tensor& x) {
  Tensor y = activation_forward("silu", x, [](const auto& u) { return u / (1.0f + (-u).exp()); });
  return autograd::record("silu", {x}, y, {"x"}, [x = x.detach()](BackwardContext& ctx) {
    if (!ctx.needs(0)) return;
    float* pdx = ctx.dinput_uninit(0).data();  // written once (see activation_backward)
    const float* pdy = ctx.dout_tensor().data();
    const float* px = x.data();
    detail::elementwise_for(x.numel(), [&](int64_t b, int64_t e) {
      const ConstArrayMap u = cseg(px, b, e);
      const Eigen::ArrayXf s = 1.0f / (1.0f + (-u).exp());
      seg(pdx, b, e) = cseg(pdy, b, e) * s * (1.0f + u * (1.0f - s));
    });
  });
}

// tanh:     y = tanh(x)
//           dx += dy * (1 - y^2)                                                  saves: y
RAOQ_REGISTER_OP("tanh");
Tensor tanh(const Tensor& x) {
  Tensor y = activation_forward("tanh", x, [](const auto& u) { return u.tanh(); });
  return autograd::record("tanh", {x}, y, {"y"}, [y = y.detach()](BackwardContext& ctx) {
    activation_backward(ctx, y, [](const auto& g, const auto& v) { return g * (1.0f - v.square()); });
  });
}

// sigmoid:  y = 1 / (1 + e^-x)     (for x << 0, e^-x = inf gives y = 0 exactly, no NaN)
//           dx += dy * y * (1 - y)                                                saves: y
RAOQ_REGISTER_OP("sigmoid");
Tensor sigmoid(const Tensor& x) {
  Tensor y = activation_forward("sigmoid", x, [](const auto& u) { return 1.0f / (1.0f + (-u).exp()); });
  return autograd::record("sigmoid", {x}, y, {"y"}, [y = y.detach()](BackwardContext& ctx) {
    activation_backward(ctx, y, [](const auto& g, const auto& v) { return g * v * (1.0f - v); });
  });
}

}  // namespace raoq::ops
