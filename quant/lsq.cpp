// quant/lsq.cpp — LSQ/LSQ+ code and fake-quant ops, grad_scale, scale_floor, LSQ+ initialisation.
// Forward and backward of each op sit together; the math and the declared surrogates are in lsq.h.
#include "quant/lsq.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

#include "core/autograd.h"
#include "core/error.h"
#include "quant/channel_blocks.h"
#include "quant/rounding.h"

namespace raoq::quant {

RAOQ_REGISTER_OP("scale_floor");
RAOQ_REGISTER_OP("grad_scale");
RAOQ_REGISTER_OP("lsq_codes");
RAOQ_REGISTER_OP("lsq_fake_quant");

namespace {

void check_bits(const char* fn, int bits, int lo) {
  RAOQ_CHECK(bits >= lo && bits <= 16, fn, ": bit width must be in [", lo, ", 16] (got ", bits, ")");
}

// Shapes and parameter layout shared by lsq_codes and lsq_fake_quant.
// x: any shape   s: [] or [C] (C = x.size(0))   beta: undefined, [] or like s
detail::ChannelBlocks layout_of(const char* op, const Tensor& x, const Tensor& s, const Tensor& beta, CodeRange r) {
  RAOQ_CHECK(x.defined() && s.defined(), op, ": x and s must be defined");
  RAOQ_CHECK(r.lo <= r.hi, op, ": empty code range [", r.lo, ", ", r.hi, "]");
  int64_t channels = 1;
  if (s.numel() != 1 || s.dim() == 1) {
    RAOQ_CHECK(s.dim() == 1 && x.dim() >= 1 && s.size(0) == x.size(0), op,
               ": s must have shape [] (per tensor) or [C] with C = x.size(0) (per channel); x is ", shape_str(x.shape()),
               ", s is ", shape_str(s.shape()));
    channels = s.size(0);
  }
  if (beta.defined())
    RAOQ_CHECK(beta.numel() == 1 || (beta.dim() == 1 && beta.size(0) == channels), op,
               ": beta must have shape [] or [", channels, "] to match s (got ", shape_str(beta.shape()), ")");
  for (int64_t c = 0; c < s.numel(); ++c) {
    const float v = s.data()[c];
    RAOQ_CHECK(std::isfinite(v) && v > 0.0f, op, ": scale ", c, " is ", v,
               "; scales must be positive and finite (pass them through quant::scale_floor)");
  }
  return detail::ChannelBlocks(channels, channels ? x.numel() / channels : 0);
}

float beta_at(const Tensor& beta, int64_t c) {
  if (!beta.defined()) return 0.0f;
  return beta.data()[beta.numel() == 1 ? 0 : c];
}

// The elementwise loops of the ops, one contiguous range of one channel (scale s, offset b) at a
// time. `omp simd` because GCC's -O2 cost model leaves them scalar otherwise; rounding goes
// through quant/rounding.h for the same reason. v = (x - b) / s is a true division everywhere
// (forward and backward must agree on which elements are inside).

// out = mul * q + add,  q = round(clip(v, lo, hi)) (or clip only): codes (1, 0), fake quant (s, b).
template <bool kRound>
void quantize_range(const float* x, float* out, int64_t i0, int64_t i1, float s, float b, CodeRange r, float mul,
                    float add) {
  const float lo = r.lo, hi = r.hi;
#pragma omp simd
  for (int64_t i = i0; i < i1; ++i) {
    float v = (x[i] - b) / s;
    v = v < lo ? lo : v;
    v = v > hi ? hi : v;
    out[i] = mul * (kRound ? detail::round_even_code(v) : v) + add;
  }
}

struct Partial {
  double s = 0, b = 0;
};

// The backward loops write dx (=, not +=): the op's gradient buffer is fresh and the channel blocks
// cover every element, so it needs no zero-fill first.

// Codes backward over [i0, i1) for output gain * code - shift: with gi = gain * g inside and 0
// outside, dx = gi/s; returns (sum -gi v / s, sum -gi / s). gain is 1 or 2, so gain * g is exact.
template <bool kDx>
Partial codes_backward(const float* x, const float* g, float* dx, int64_t i0, int64_t i1, float s, float b, CodeRange r,
                       float gain) {
  const float lo = r.lo, hi = r.hi;
  float gv = 0, gs = 0;  // float lanes within a block (<= 16384 elements); blocks are summed in double
#pragma omp simd reduction(+ : gv, gs)
  for (int64_t i = i0; i < i1; ++i) {
    const float v = (x[i] - b) / s;
    const float gi = ((v >= lo) & (v <= hi)) ? gain * g[i] : 0.0f;
    if constexpr (kDx) dx[i] = gi / s;
    gv += gi * v;
    gs += gi;
  }
  return {-double(gv) / s, -double(gs) / s};
}

// Fake-quant backward over [i0, i1): dx = g inside, 0 outside; returns (sum g (q - v) inside + sum g q outside,
// sum_outside g), with q the (rounded) clipped code.
template <bool kDx, bool kRound>
Partial fake_quant_backward(const float* x, const float* g, float* dx, int64_t i0, int64_t i1, float s, float b,
                            CodeRange r) {
  const float lo = r.lo, hi = r.hi;
  float ds = 0, db = 0;  // float lanes within a block; blocks are summed in double
#pragma omp simd reduction(+ : ds, db)
  for (int64_t i = i0; i < i1; ++i) {
    const float v = (x[i] - b) / s;
    const bool inside = (v >= lo) & (v <= hi);
    float c = v < lo ? lo : v;
    c = c > hi ? hi : c;
    const float q = kRound ? detail::round_even_code(c) : c;
    if constexpr (kDx) dx[i] = inside ? g[i] : 0.0f;
    ds += g[i] * (q - (inside ? v : 0.0f));
    db += inside ? 0.0f : g[i];
  }
  return {ds, db};
}

// Adds per-channel partial sums into a parameter gradient of shape [] or [C].
void add_channel_grad(BackwardContext& ctx, size_t input, const detail::ChannelBlocks& L,
                      const std::vector<double>& partial) {
  const std::vector<double> total = L.reduce(partial);
  float* d = ctx.dinput_tensor(input).data();
  const int64_t n = ctx.input(input).numel();
  for (int64_t c = 0; c < L.channels; ++c) d[n == 1 ? 0 : c] += static_cast<float>(total[static_cast<size_t>(c)]);
}

}  // namespace

CodeRange unsigned_codes(int bits) {
  check_bits("unsigned_codes", bits, 1);
  return {0.0f, std::ldexp(1.0f, bits) - 1.0f};
}
CodeRange signed_codes(int bits) {
  check_bits("signed_codes", bits, 2);
  return {-std::ldexp(1.0f, bits - 1), std::ldexp(1.0f, bits - 1) - 1.0f};
}
CodeRange symmetric_codes(int bits) {
  check_bits("symmetric_codes", bits, 2);
  return {-(std::ldexp(1.0f, bits - 1) - 1.0f), std::ldexp(1.0f, bits - 1) - 1.0f};
}

float lsq_grad_scale(int64_t n, float qp) {
  RAOQ_CHECK(n > 0, "lsq_grad_scale: need at least one element per scale (got ", n, ")");
  return 1.0f / std::sqrt(static_cast<float>(n) * std::max(qp, 1.0f));
}

// s: any shape -> s_eff: same shape.   ds += dout (straight through, see lsq.h)
Tensor scale_floor(const Tensor& s, float floor) {
  RAOQ_CHECK(floor > 0.0f, "scale_floor: floor must be positive (got ", floor, ")");
  Tensor out = Tensor::empty(s.shape());
  for (int64_t i = 0; i < s.numel(); ++i) out.data()[i] = s.data()[i] > floor ? s.data()[i] : floor;  // NaN -> floor
  return autograd::record("scale_floor", {s}, out, {}, [](BackwardContext& ctx) { ctx.dinput(0) += ctx.dout(); });
}

// x: any shape -> y = x.   dx += g * dy
Tensor grad_scale(const Tensor& x, float g) {
  RAOQ_CHECK(std::isfinite(g), "grad_scale: g must be finite (got ", g, ")");
  Tensor out = x.detach().clone();
  out.set_name("");
  return autograd::record("grad_scale", {x}, out, {"g"}, [g](BackwardContext& ctx) { ctx.dinput(0) += g * ctx.dout(); });
}

// out = gain * round(clip((x - beta)/s, lo, hi)) - shift.   saves: x, s, beta (v is recomputed in backward)
//   inside (lo <= v <= hi), gi = gain dy: dx += gi/s, ds += -gi v/s, dbeta += -gi/s;   outside: nothing
Tensor lsq_codes(const Tensor& x, const Tensor& s, const Tensor& beta, CodeRange r, Rounding rounding, float gain,
                 float shift) {
  RAOQ_CHECK(gain == 1.0f || gain == 2.0f, "lsq_codes: gain must be 1 or 2 (got ", gain, ")");
  const detail::ChannelBlocks L = layout_of("lsq_codes", x, s, beta, r);
  Tensor out = Tensor::empty(x.shape());
  const float* xp = x.data();
  float* op = out.data();
  L.run([&](int64_t, int64_t c, int64_t begin, int64_t end) {
    const float sc = s.data()[s.numel() == 1 ? 0 : c], bc = beta_at(beta, c);
    if (rounding == Rounding::apply) quantize_range<true>(xp, op, begin, end, sc, bc, r, gain, -shift);
    else quantize_range<false>(xp, op, begin, end, sc, bc, r, gain, -shift);
  });
  return autograd::record(
      "lsq_codes", {x, s, beta}, out, {"x", "s", "beta", "gain"},
      [x = x.detach(), s = s.detach(), beta = beta.defined() ? beta.detach() : Tensor(), r, L, gain](BackwardContext& ctx) {
        const float* xv = x.data();
        const float* g = ctx.dout_tensor().data();
        float* dx = ctx.needs(0) ? ctx.dinput_uninit(0).data() : nullptr;  // written in full below
        const bool need_s = ctx.needs(1), need_b = ctx.needs(2);
        std::vector<double> ps(static_cast<size_t>(L.units()), 0.0), pb(ps);
        L.run([&](int64_t u, int64_t c, int64_t begin, int64_t end) {
          const float sc = s.data()[s.numel() == 1 ? 0 : c], bc = beta_at(beta, c);
          const Partial part = dx ? codes_backward<true>(xv, g, dx, begin, end, sc, bc, r, gain)
                                  : codes_backward<false>(xv, g, dx, begin, end, sc, bc, r, gain);
          ps[static_cast<size_t>(u)] = part.s;
          pb[static_cast<size_t>(u)] = part.b;
        });
        if (need_s) add_channel_grad(ctx, 1, L, ps);
        if (need_b) add_channel_grad(ctx, 2, L, pb);
      });
}

// x_hat = s * round(clip(v, lo, hi)) + beta, v = (x - beta)/s.   saves: x, s, beta
//   inside:  dx += dy, ds += dy (round(v) - v)          outside: ds += dy * (lo or hi), dbeta += dy
Tensor lsq_fake_quant(const Tensor& x, const Tensor& s, const Tensor& beta, CodeRange r, Rounding rounding) {
  const detail::ChannelBlocks L = layout_of("lsq_fake_quant", x, s, beta, r);
  Tensor out = Tensor::empty(x.shape());
  const float* xp = x.data();
  float* op = out.data();
  L.run([&](int64_t, int64_t c, int64_t begin, int64_t end) {
    const float sc = s.data()[s.numel() == 1 ? 0 : c], bc = beta_at(beta, c);
    if (rounding == Rounding::apply) quantize_range<true>(xp, op, begin, end, sc, bc, r, sc, bc);
    else quantize_range<false>(xp, op, begin, end, sc, bc, r, sc, bc);
  });
  return autograd::record(
      "lsq_fake_quant", {x, s, beta}, out, {"x", "s", "beta"},
      [x = x.detach(), s = s.detach(), beta = beta.defined() ? beta.detach() : Tensor(), r, rounding,
       L](BackwardContext& ctx) {
        const float* xv = x.data();
        const float* g = ctx.dout_tensor().data();
        float* dx = ctx.needs(0) ? ctx.dinput_uninit(0).data() : nullptr;  // written in full below
        const bool need_s = ctx.needs(1), need_b = ctx.needs(2);
        std::vector<double> ps(static_cast<size_t>(L.units()), 0.0), pb(ps);
        L.run([&](int64_t u, int64_t c, int64_t begin, int64_t end) {
          const float sc = s.data()[s.numel() == 1 ? 0 : c], bc = beta_at(beta, c);
          const bool round = rounding == Rounding::apply;
          const Partial part =
              dx ? (round ? fake_quant_backward<true, true>(xv, g, dx, begin, end, sc, bc, r)
                          : fake_quant_backward<true, false>(xv, g, dx, begin, end, sc, bc, r))
                 : (round ? fake_quant_backward<false, true>(xv, g, dx, begin, end, sc, bc, r)
                          : fake_quant_backward<false, false>(xv, g, dx, begin, end, sc, bc, r));
          ps[static_cast<size_t>(u)] = part.s;
          pb[static_cast<size_t>(u)] = part.b;
        });
        if (need_s) add_channel_grad(ctx, 1, L, ps);
        if (need_b) add_channel_grad(ctx, 2, L, pb);
      });
}

// ---- LSQ+ initialisation (no autograd)

Tensor lsq_plus_weight_scale(const Tensor& w, int bits, bool per_channel) {
  check_bits("lsq_plus_weight_scale", bits, 2);
  RAOQ_CHECK(w.numel() > 0, "lsq_plus_weight_scale: empty weight");
  RAOQ_CHECK(!per_channel || w.dim() >= 1, "lsq_plus_weight_scale: per-channel scales need w of rank >= 1");
  const int64_t channels = per_channel ? w.size(0) : 1, inner = w.numel() / channels;
  Tensor s = per_channel ? Tensor::empty({channels}) : Tensor::empty({});
  const float half = std::ldexp(1.0f, bits - 1);
  for (int64_t c = 0; c < channels; ++c) {
    const float* p = w.data() + c * inner;
    double sum = 0, sq = 0, amax = 0;
    for (int64_t i = 0; i < inner; ++i) {
      sum += p[i];
      amax = std::max(amax, std::fabs(double(p[i])));
    }
    const double mu = sum / double(inner);
    for (int64_t i = 0; i < inner; ++i) sq += (p[i] - mu) * (p[i] - mu);
    const double sigma = std::sqrt(sq / double(inner));
    double scale = std::max(std::fabs(mu - 3 * sigma), std::fabs(mu + 3 * sigma)) / half;
    if (!(sigma > 0)) scale = amax / (half - 1);
    s.data()[c] = scale > kScaleFloor ? static_cast<float>(scale) : kScaleFloor;
  }
  return s;
}

ScaleOffset lsq_plus_activation_init(const Tensor& x, CodeRange r, bool learn_offset) {
  RAOQ_CHECK(x.numel() > 0, "lsq_plus_activation_init: empty batch");
  RAOQ_CHECK(r.hi > r.lo, "lsq_plus_activation_init: the code range must hold two levels or more");
  RAOQ_CHECK(learn_offset || r.hi > 0, "lsq_plus_activation_init: a zero-offset quantizer needs r.hi > 0");
  constexpr int64_t kMaxSamples = 16384;
  const int64_t stride = std::max<int64_t>(1, x.numel() / kMaxSamples);
  std::vector<float> v;
  for (int64_t i = 0; i < x.numel(); i += stride) v.push_back(x.data()[i]);
  const auto [mn_it, mx_it] = std::minmax_element(x.data(), x.data() + x.numel());  // the whole batch
  const float mn = *mn_it, mx = *mx_it;
  float amax = std::max(std::fabs(mn), std::fabs(mx));
  const double span = static_cast<double>(r.hi) - r.lo;

  // Squared error of the samples under (s, beta): float lanes over chunks of 1024, chunks in double.
  auto mse = [&](float s, float beta) {
    const float lo = r.lo, hi = r.hi;
    const float* p = v.data();
    double e = 0;
    for (size_t c0 = 0; c0 < v.size(); c0 += 1024) {
      const size_t c1 = std::min(v.size(), c0 + 1024);
      float part = 0;
#pragma omp simd reduction(+ : part)
      for (size_t i = c0; i < c1; ++i) {
        float z = (p[i] - beta) / s;
        z = z < lo ? lo : z;
        z = z > hi ? hi : z;
        const float d = s * detail::round_even_code(z) + beta - p[i];
        part += d * d;
      }
      e += part;
    }
    return e;
  };
  ScaleOffset best;
  double best_err = std::numeric_limits<double>::infinity();
  auto consider = [&](double s, double beta) {
    const float sf = s > kScaleFloor ? static_cast<float>(s) : kScaleFloor;
    const double e = mse(sf, static_cast<float>(beta));
    if (e < best_err) best_err = e, best = {sf, static_cast<float>(beta)};
  };
  if (!learn_offset) {
    if (!(amax > 0)) amax = 1;
    for (int j = 0; j < 40; ++j) consider((1.0 - 0.025 * j) * amax / r.hi, 0.0);
    return best;
  }
  const double range = mx > mn ? double(mx) - mn : 1.0;
  for (int a = 0; a < 12; ++a)
    for (int b = 0; b < 40; ++b) {
      const double lo = mn + (0.3 * a / 11.0) * range, hi = mx - 0.025 * b * range;
      if (hi <= lo) continue;
      const double s = (hi - lo) / span;
      consider(s, lo - r.lo * s);
    }
  return best;
}

}  // namespace raoq::quant
