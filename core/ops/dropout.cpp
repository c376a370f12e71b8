// core/ops/dropout.cpp — inverted dropout driven by an explicit Generator.
//
// The mask is drawn sequentially from the generator (two 32-bit draws per 64-bit step), so a
// given generator state always gives the same mask, whatever the thread count.
// What it does not do: alpha dropout, structured (channel) dropout.
//
// Legend: x, y, dx, dy, mask: same shape, any.
#include <algorithm>
#include <cstdint>
#include <memory>

#include "core/autograd.h"
#include "core/error.h"
#include "core/ops.h"
#include "core/rng.h"

namespace raoq::ops {

RAOQ_REGISTER_OP("dropout");

// dropout (training):  keep = (u >= p) with u ~ U[0, 1) per element,  y = x * keep / (1 - p)
//   dx += dy * keep / (1 - p)
// dropout (eval, or p = 0):  y = x (a copy),  dx += dy
// p = 1 drops everything (0, not 0 * inf). saves: keep (one byte per element: a quarter of a
// float mask's memory traffic)
Tensor dropout(const Tensor& x, float p, bool training, Generator& gen) {
  RAOQ_CHECK(x.defined(), "dropout: expected a defined tensor x");
  RAOQ_CHECK(p >= 0.0f && p <= 1.0f, "dropout: expected a drop probability p in [0, 1], given ", p);
  Tensor y = Tensor::empty(x.shape());
  if (!training || p == 0.0f) {
    y.flat() = x.flat();
    return autograd::record("dropout", {x}, y, {}, [](BackwardContext& ctx) { ctx.dinput_uninit(0).flat() = ctx.dout(); });
  }
  const int64_t n = x.numel();
  std::shared_ptr<uint8_t[]> keep(new uint8_t[static_cast<size_t>(n)]);  // written in full below
  if (p == 1.0f) {
    std::fill_n(keep.get(), n, uint8_t{0});
  } else {
    // u32 >= threshold happens with probability 1 - threshold / 2^32 = 1 - p (to 2^-32).
    const auto threshold = static_cast<uint64_t>(static_cast<double>(p) * 4294967296.0);
    for (int64_t i = 0; i < n; i += 2) {
      const uint64_t r = gen.next_u64();
      keep[size_t(i)] = (r & 0xffffffffULL) >= threshold;
      if (i + 1 < n) keep[size_t(i + 1)] = (r >> 32) >= threshold;
    }
  }
  const float scale = p == 1.0f ? 0.0f : 1.0f / (1.0f - p);
  const float* xd = x.data();
  float* yd = y.data();
#pragma omp simd
  for (int64_t i = 0; i < n; ++i) yd[i] = keep[size_t(i)] ? xd[i] * scale : 0.0f;
  return autograd::record("dropout", {x}, y, {"keep"}, [keep, scale, n](BackwardContext& ctx) {
    float* dx = ctx.dinput_uninit(0).data();  // written in full: no zero-fill
    const float* dy = ctx.dout_tensor().data();
    const uint8_t* k = keep.get();
#pragma omp simd
    for (int64_t i = 0; i < n; ++i) {
      const float g = dy[i] * scale;  // loaded unconditionally, so the loop vectorises
      dx[i] = k[i] ? g : 0.0f;
    }
  });
}

}  // namespace raoq::ops
