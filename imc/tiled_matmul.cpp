// imc/tiled_matmul.cpp — the tiled array product op (forward + straight-through backward), the
// code validation, and the plain-loop reference. Contract in tiled_matmul.h; loops in tiled_kernel.cpp.
//
// Legend: xs: (M, K) input codes   wq: (N, K) weight codes   out, dout: (M, N)
//   w_used: (N, K) the weights the array holds (wq plus weight noise; recombined slices)
#include "imc/tiled_matmul.h"

#include <algorithm>
#include <cmath>
#include <memory>

#include "core/autograd.h"
#include "core/error.h"
#include "core/parallel.h"
#include "core/rng.h"
#include "imc/tiled_kernel.h"

namespace raoq::imc {

RAOQ_REGISTER_OP("tiled_matmul");

namespace {

void check_shapes(const char* op, const Tensor& xs, const Tensor& wq) {
  RAOQ_CHECK(xs.defined() && wq.defined(), op, ": xs and wq must be defined");
  RAOQ_CHECK(xs.dim() == 2 && wq.dim() == 2 && xs.size(1) == wq.size(1), op,
             ": expected xs (M, K) and wq (N, K) with the same K, given xs ", shape_str(xs.shape()), " and wq ", shape_str(wq.shape()));
}

void add_offset(float* out, int64_t M, int64_t N, const Tensor& wq, float offset) {
  if (offset == 0.0f) return;
  const int64_t K = wq.size(1);
  const auto W = wq.as_matrix(N, K);
  for (int64_t n = 0; n < N; ++n) {
    const float term = offset * W.row(n).sum();  // exact: integer codes
    for (int64_t m = 0; m < M; ++m) out[m * N + n] += term;
  }
}

}  // namespace

namespace {
// Whether v is a whole code in [lo, hi] (odd if odd_bit is 1), or with whole false only in [lo, hi].
// v is a whole code iff clamping it to [lo, hi] and truncating to an integer leaves it unchanged
// (NaN never compares equal; the clamp turns NaN into lo before the conversion). Branch-free, so
// the loop below vectorises.
inline int32_t code_bad(float v, float lo, float hi, int32_t odd_bit, bool whole) {
  float cv = v > lo ? v : lo;
  cv = cv < hi ? cv : hi;
  const int32_t i = static_cast<int32_t>(cv);
  if (!whole) return v != cv;
  return int32_t(v != static_cast<float>(i)) | int32_t((i & odd_bit) != odd_bit);
}

int32_t count_bad(const float* p, int64_t i0, int64_t i1, float lo, float hi, int32_t odd_bit, bool whole) {
  int32_t fails = 0;
  // omp simd: -O2's cost model would leave this loop scalar (it needs an epilogue).
  if (whole) {
#pragma omp simd reduction(+ : fails)
    for (int64_t i = i0; i < i1; ++i) fails += code_bad(p[i], lo, hi, odd_bit, true);
  } else {
#pragma omp simd reduction(+ : fails)
    for (int64_t i = i0; i < i1; ++i) fails += code_bad(p[i], lo, hi, odd_bit, false);
  }
  return fails;
}

// Index of the first bad element of p[0, n), or -1. Blocks are checked in parallel; only a block
// known to hold a bad value is searched element by element.
int64_t first_bad(const float* p, int64_t n, float lo, float hi, bool odd, bool whole) {
  constexpr int64_t kChunk = 1 << 15;
  const int64_t blocks = (n + kChunk - 1) / kChunk;
  const int32_t odd_bit = odd ? 1 : 0;
  std::vector<int32_t> bad(static_cast<size_t>(blocks), 0);
  parallel_for(blocks, [&](int64_t b0, int64_t b1) {
    for (int64_t b = b0; b < b1; ++b) bad[size_t(b)] = count_bad(p, b * kChunk, std::min(n, (b + 1) * kChunk), lo, hi, odd_bit, whole);
  });
  for (int64_t b = 0; b < blocks; ++b)
    if (bad[size_t(b)])
      for (int64_t i = b * kChunk; i < std::min(n, (b + 1) * kChunk); ++i)
        if (code_bad(p[i], lo, hi, odd_bit, whole)) return i;
  return -1;
}
}  // namespace

void check_array_codes(const char* op, const Tensor& xs, const Tensor& wq, const AdcConfig& c, bool integers) {
  const InputCodes in = accepted_inputs(c);
  const int64_t bx = first_bad(xs.data(), xs.numel(), in.lo, in.hi, in.odd_only, integers);
  RAOQ_CHECK(bx < 0, op, ": input code ", bx < 0 ? 0.0f : xs.data()[bx], " at flat index ", bx, " of xs ", shape_str(xs.shape()),
             " is not one the array accepts (", in.odd_only ? "odd " : "", "integers in [", in.lo, ", ", in.hi,
             "] for bx ", c.bx, ", ", c.signed_input ? "signed" : "unsigned", " input, ",
             quant::to_string(c.representation), ")");
  const quant::CodeRange w = quant::symmetric_codes(c.bw);
  const int64_t bw = first_bad(wq.data(), wq.numel(), w.lo, w.hi, false, integers);
  RAOQ_CHECK(bw < 0, op, ": weight code ", bw < 0 ? 0.0f : wq.data()[bw], " at flat index ", bw, " of wq ", shape_str(wq.shape()),
             " is not one the array accepts (integers in [", w.lo, ", ", w.hi, "] for bw ", c.bw, ")");
}

// out = sum_t D yq_t (+ slicing offset).   saves: xs, w_used, clipped indices per tile
//   dxs += (dout*mask_t) w_used[:, t],   dwq += (dout*mask_t)^T xs[:, t]      (see tiled_matmul.h)
Tensor tiled_matmul(const Tensor& xs, const Tensor& wq, const AdcConfig& config, const TiledOptions& opt) {
  check_shapes("tiled_matmul", xs, wq);
  config.validate();
  // Slicing needs whole codes; only the direct, un-floored product is defined on real values.
  check_array_codes("tiled_matmul", xs, wq, config, opt.rounding == Rounding::apply || config.mapping == Mapping::bit_sliced);
  const int64_t M = xs.size(0), K = xs.size(1), N = wq.size(0);
  detail::ArrayOperands a = detail::prepare_operands(xs, wq, config, opt.noise);
  detail::TileKernel k = detail::make_kernel(config, opt.rounding);
  k.M = M, k.K = K, k.N = N, k.observer = opt.observer;
  k.pairs = detail::pairs_of(a, [](const Tensor& t) { return t.data(); });
  if (k.noise_sigma > 0) k.noise_seed = (opt.noise ? *opt.noise : default_generator()).next_u64();

  const bool record = autograd::grad_enabled() && (xs.requires_grad() || wq.requires_grad());
  auto clips = std::make_shared<detail::ClipLists>();
  Tensor out = Tensor::empty({M, N});
  if (M > 0 && N > 0) detail::forward_all(k, 0, out.data(), record && !config.bypass ? clips.get() : nullptr);
  add_offset(out.data(), M, N, wq, a.offset);
  if (!record) return out;
  return autograd::record(
      "tiled_matmul", {xs, wq}, out, {"xs", "w_used", "clipped"},
      [x = xs.detach(), w_used = a.w_used.detach(), clips, M, K, N, rows = config.rows](BackwardContext& ctx) {
        std::vector<float> masked;
        float* dx = ctx.needs(0) ? ctx.dinput_tensor(0).data() : nullptr;
        float* dw = ctx.needs(1) ? ctx.dinput_tensor(1).data() : nullptr;
        detail::backward_tiles(M, K, N, rows, false, ctx.dout_tensor().data(), *clips, x.data(), w_used.data(), dx, dw, masked);
      });
}

Tensor tiled_matmul_reference(const Tensor& xs, const Tensor& wq, const AdcConfig& config) {
  check_shapes("tiled_matmul_reference", xs, wq);
  config.validate();
  RAOQ_CHECK(!config.has_noise(), "tiled_matmul_reference: the reference has no analog noise; set weight_noise and "
                                  "output_noise to 0");
  check_array_codes("tiled_matmul_reference", xs, wq, config);
  const int64_t M = xs.size(0), K = xs.size(1), N = wq.size(0), T = row_tiles(config, K);
  const detail::ArrayOperands a = detail::prepare_operands(xs, wq, config, nullptr);
  const float D = adc_step(config);
  const quant::CodeRange r = adc_codes(config.ba);
  Tensor out = Tensor::zeros({M, N});
  for (int64_t m = 0; m < M; ++m)
    for (int64_t n = 0; n < N; ++n) {
      float acc = 0;  // sum of factor * code (exact integers), or of exact sums when bypassed
      for (int64_t t = 0; t < T; ++t)
        for (size_t i = 0; i < a.x_parts.size(); ++i)
          for (size_t j = 0; j < a.w_parts.size(); ++j) {
            float y = 0;
            for (int64_t kk = t * config.rows; kk < std::min(K, (t + 1) * config.rows); ++kk)
              y += a.x_parts[i].data()[m * K + kk] * a.w_parts[j].data()[n * K + kk];
            const float f = a.x_factors[i] * a.w_factors[j];
            acc += config.bypass ? f * y : f * std::floor(std::clamp(y / D, r.lo, r.hi));
          }
      out.data()[m * N + n] = config.bypass ? acc : D * acc;
    }
  add_offset(out.data(), M, N, wq, a.offset);
  return out;
}

}  // namespace raoq::imc
