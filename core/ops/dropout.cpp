// core/ops/dropout.cpp — inverted dropout driven by an explicit Generator.
//
// The mask is drawn sequentially from the generator (two 32-bit draws per 64-bit step), so a
// given generator state always gives the same mask, whatever the thread count.
// What it does not do: alpha dropout, structured (channel) dropout.
//
// Legend: x, y, dx, dy, mask: same shape, any.
#include <cstdint>

#include "core/autograd.h"
#include "core/error.h"
#include "core/ops.h"
#include "core/rng.h"

namespace raoq::ops {

RAOQ_REGISTER_OP("dropout");

// dropout (training):  mask = (u >= p) / (1 - p) with u ~ U[0, 1) per element,  y = x * mask
//   dx += dy * mask
// dropout (eval, or p = 0):  y = x (a copy),  dx += dy
// p = 1 drops everything (mask 0, not 0 * inf). saves: mask (training only)
Tensor dropout(const Tensor& x, float p, bool training, Generator& gen) {
  RAOQ_CHECK(x.defined(), "dropout: expected a defined tensor x");
  RAOQ_CHECK(p >= 0.0f && p <= 1.0f, "dropout: expected a drop probability p in [0, 1], given ", p);
  Tensor y = Tensor::empty(x.shape());
  if (!training || p == 0.0f) {
    y.flat() = x.flat();
    return autograd::record("dropout", {x}, y, {}, [](BackwardContext& ctx) { ctx.dinput(0) += ctx.dout(); });
  }
  Tensor mask = Tensor::empty(x.shape());
  float* m = mask.data();
  const int64_t n = x.numel();
  if (p == 1.0f) {
    mask.flat().setZero();
  } else {
    // u32 < threshold happens with probability threshold / 2^32 = p (to 2^-32).
    const auto threshold = static_cast<uint64_t>(static_cast<double>(p) * 4294967296.0);
    const float keep_scale = 1.0f / (1.0f - p);
    for (int64_t i = 0; i < n; i += 2) {
      const uint64_t r = gen.next_u64();
      m[i] = (r & 0xffffffffULL) >= threshold ? keep_scale : 0.0f;
      if (i + 1 < n) m[i + 1] = (r >> 32) >= threshold ? keep_scale : 0.0f;
    }
  }
  y.flat() = x.flat() * mask.flat();
  return autograd::record("dropout", {x}, y, {"mask"}, [mask](BackwardContext& ctx) {
    ctx.dinput(0) += ctx.dout() * mask.flat();
  });
}

}  // namespace raoq::ops
