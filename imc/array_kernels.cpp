// imc/array_kernels.cpp — one pass per tile: GEMM into a scratch block, ADC, add into the output;
// the masked straight-through backward, and the batched geometry's backward. Legend and contracts
// in detail/array_kernels.h.
#include "imc/detail/array_kernels.h"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "core/ops/detail/gemm.h"
#include "core/ops/detail/kernels.h"
#include "core/parallel.h"
#include "core/rng.h"
#include "imc/detail/bit_slice.h"

namespace raoq::imc::detail {

namespace {
uint64_t stream_seed(uint64_t seed, int64_t stream, int64_t block, int64_t tile, int64_t pair) {
  uint64_t h = seed;
  for (uint64_t v : {uint64_t(stream), uint64_t(block), uint64_t(tile), uint64_t(pair)}) {
    h ^= v + 0x9E3779B97F4A7C15ull + (h << 6) + (h >> 2);
    h *= 0xBF58476D1CE4E5B9ull;
  }
  return h;
}

// acc += f * ADC(y) (Eq. 2, adc.h; un-rounded when the rounding is skipped, the exact y when the
// ADC is off), and the clip flags of y / D leaving [lo, hi], in the same pass: merged into
// `clipped` (|=, several slice pairs per tile) or assigned (one conversion per tile, no zeroing
// first). kFirst: acc = 0 + ..., the first tile writing a buffer that was never zeroed (the same
// value as adding to 0). The loops carry `omp simd` because GCC's -O2 cost model would leave them
// scalar; the flag and the code share one division (the compiler computes yi / D once).
enum class Flags { none, merge, assign };
template <bool kRound, Flags kFlags, bool kFirst>
void convert_loop(const float* y, int64_t count, float D, float lo, float hi, float f, float* acc, uint8_t* clipped) {
#pragma omp simd
  for (int64_t i = 0; i < count; ++i) {
    // One load of y[i]: the byte store to `clipped` may alias it, and a second load would cost a
    // second division.
    const float yi = y[i];
    const auto flag = uint8_t(adc_clipped(yi, D, lo, hi));
    if constexpr (kFlags == Flags::merge) clipped[i] |= flag;
    if constexpr (kFlags == Flags::assign) clipped[i] = flag;
    const float code = kRound ? adc_convert(yi, D, lo, hi) : adc_clip_steps(yi, D, lo, hi);
    acc[i] = (kFirst ? 0.0f : acc[i]) + f * code;
  }
}

template <bool kRound, Flags kFlags>
void convert_with(const float* y, int64_t count, const TileKernel& k, float f, float* acc, uint8_t* clipped, bool first) {
  if (first) convert_loop<kRound, kFlags, true>(y, count, k.D, k.codes.lo, k.codes.hi, f, acc, clipped);
  else convert_loop<kRound, kFlags, false>(y, count, k.D, k.codes.lo, k.codes.hi, f, acc, clipped);
}

void convert_add(const float* y, int64_t count, const TileKernel& k, float f, float* acc, uint8_t* clipped,
                 Flags flags = Flags::merge, bool first = false) {
  if (!k.convert) {
#pragma omp simd
    for (int64_t i = 0; i < count; ++i) acc[i] = (first ? 0.0f : acc[i]) + f * y[i];
    return;
  }
  if (!clipped) flags = Flags::none;
  const bool round = k.rounding == Rounding::apply;
  if (round && flags == Flags::none) convert_with<true, Flags::none>(y, count, k, f, acc, clipped, first);
  if (round && flags == Flags::merge) convert_with<true, Flags::merge>(y, count, k, f, acc, clipped, first);
  if (round && flags == Flags::assign) convert_with<true, Flags::assign>(y, count, k, f, acc, clipped, first);
  if (!round && flags == Flags::none) convert_with<false, Flags::none>(y, count, k, f, acc, clipped, first);
  if (!round && flags == Flags::merge) convert_with<false, Flags::merge>(y, count, k, f, acc, clipped, first);
  if (!round && flags == Flags::assign) convert_with<false, Flags::assign>(y, count, k, f, acc, clipped, first);
}

// Appends base + i for every flagged i, in order. Flags are mostly 0: skip 8 at a time.
void collect_clipped(const uint8_t* flags, int64_t count, int64_t base, std::vector<int64_t>& out) {
  int64_t i = 0;
  for (; i + 8 <= count; i += 8) {
    uint64_t word;
    std::memcpy(&word, flags + i, 8);
    if (word == 0) continue;
    for (int64_t j = i; j < i + 8; ++j)
      if (flags[j]) out.push_back(base + j);
  }
  for (; i < count; ++i)
    if (flags[i]) out.push_back(base + i);
}

// Reusable per-task buffers.
struct Scratch {
  std::vector<float> y;          // kBlockRows x N
  std::vector<float> acc;        // kBlockRows x N (transposed layout only)
  std::vector<uint8_t> clipped;  // kBlockRows x N
};

// out rows of blocks [b0, b1) (block b = rows [b*kBlockRows, (b+1)*kBlockRows) of M); when clips
// is non-null (sized T), the clipped indices of those blocks are appended to clips[t].
void product_blocks(const TileKernel& k, const std::vector<std::vector<float>>& w_t, int64_t b0, int64_t b1,
                    int64_t stream, float* out, ClipLists* clips, Scratch& s) {
  const int64_t N = k.N, T = k.tiles();
  s.y.resize(static_cast<size_t>(kBlockRows * N));
  if (k.transposed && k.M > kBlockRows) s.acc.resize(static_cast<size_t>(kBlockRows * N));
  if (clips) s.clipped.resize(static_cast<size_t>(kBlockRows * N));
  for (int64_t b = b0; b < b1; ++b) {
    const int64_t m0 = b * kBlockRows, mb = std::min(kBlockRows, k.M - m0), count = mb * N;
    // Row-major: the block's rows of out are contiguous, accumulate in place. Transposed: the block
    // is (N, mb) columns of out, accumulated in scratch and copied out at the end.
    // (A transposed block that spans all of M is itself contiguous: accumulate in place too.)
    const bool in_place = !k.transposed || mb == k.M;
    float* acc = in_place ? out + m0 * N : s.acc.data();
    std::fill(acc, acc + count, 0.0f);
    for (int64_t t = 0; t < T; ++t) {
      const int64_t k0 = t * k.rows, kt = std::min(k.rows, k.K - k0);
      if (clips) std::fill(s.clipped.begin(), s.clipped.begin() + count, uint8_t(0));
      for (size_t p = 0; p < k.pairs.size(); ++p) {
        if (k.transposed) {  // y (N, mb) = w[:, k0:k0+kt] x[k0:k0+kt, m0:m0+mb]
          ops::detail::gemm_serial(false, false, N, mb, kt, k.pairs[p].w + k0, k.K, k.pairs[p].x + k0 * k.M + m0, k.M,
                                   s.y.data(), mb, false);
        } else {  // y (mb, N) = x[m0:m0+mb, k0:k0+kt] w_t[k0:k0+kt, :]
          ops::detail::gemm_serial(false, false, mb, N, kt, k.pairs[p].x + m0 * k.K + k0, k.K, w_t[p].data() + k0 * N, N,
                                   s.y.data(), N, false);
        }
        float* y = s.y.data();
        if (k.noise_sigma > 0) {
          Generator gen(stream_seed(k.noise_seed, stream, b, t, int64_t(p)));
          for (int64_t i = 0; i < count; ++i) y[i] += k.noise_sigma * gen.normal();
        }
        if (k.observer) {
          TileView v{m0, mb, N, t, k0, k0 + kt, int64_t(p), stream, y, k.transposed ? 1 : N, k.transposed ? mb : 1, k.D};
          k.observer->observe(v);
        }
        convert_add(y, count, k, k.pairs[p].factor, acc, clips ? s.clipped.data() : nullptr);
      }
      if (clips) {
        auto& list = (*clips)[size_t(t)];
        if (!k.transposed) {
          collect_clipped(s.clipped.data(), count, m0 * N, list);
        } else {
          for (int64_t n = 0; n < N; ++n) collect_clipped(s.clipped.data() + n * mb, mb, n * k.M + m0, list);
        }
      }
    }
    reconstruct(k, acc, count);
    if (!in_place)
      for (int64_t n = 0; n < N; ++n) std::copy(acc + n * mb, acc + (n + 1) * mb, out + n * k.M + m0);
  }
}
}  // namespace

ArrayOperands prepare_operands(const Tensor& xs, const Tensor& wq, const AdcConfig& c, Generator* gen) {
  ArrayOperands a;
  if (c.mapping == Mapping::direct) {
    a.x_parts = {xs};
    a.w_parts = {wq};
    a.x_factors = a.w_factors = {1.0f};
  } else {
    Slices sx = slice_inputs(xs, c), sw = slice_weights(wq, c);
    a.x_parts = std::move(sx.parts), a.x_factors = std::move(sx.factors), a.offset = sx.offset;
    a.w_parts = std::move(sw.parts), a.w_factors = std::move(sw.factors);
  }
  a.w_used = wq;
  if (c.weight_noise > 0) {
    Generator& g = gen ? *gen : default_generator();
    for (Tensor& w : a.w_parts) {
      w = w.detach().clone();
      for (int64_t i = 0; i < w.numel(); ++i) w.data()[i] += c.weight_noise * g.normal();
    }
    a.w_used = Tensor::zeros(wq.shape());
    for (size_t j = 0; j < a.w_parts.size(); ++j) a.w_used.flat() += a.w_factors[j] * a.w_parts[j].flat();
  }
  return a;
}

TileKernel make_kernel(const AdcConfig& config, Rounding rounding) {
  TileKernel k;
  k.rows = config.rows;
  k.D = adc_step(config);
  k.codes = adc_codes(config.ba);
  k.convert = config.enabled;
  k.rounding = rounding;
  k.noise_sigma = config.output_noise * k.D;
  return k;
}

void convert_tile(const TileKernel& k, const float* y, int64_t count, float factor, float* acc,
                  std::vector<int64_t>* clipped, int64_t base, bool first) {
  if (!clipped || !k.convert) return convert_add(y, count, k, factor, acc, nullptr, Flags::none, first);
  thread_local std::vector<uint8_t> flags;
  if (flags.size() < static_cast<size_t>(count)) flags.resize(static_cast<size_t>(count));
  convert_add(y, count, k, factor, acc, flags.data(), Flags::assign, first);
  collect_clipped(flags.data(), count, base, *clipped);
}

void reconstruct(const TileKernel& k, float* acc, int64_t count) {
  if (!k.convert) return;
  const float D = k.D;
#pragma omp simd
  for (int64_t i = 0; i < count; ++i) acc[i] *= D;
}

void tile_product(const TileKernel& k, int64_t stream, float* out, ClipLists* clips) {
  const int64_t B = k.blocks(), T = k.tiles();
  std::vector<ClipLists> per_block(clips ? static_cast<size_t>(B) : 0, ClipLists(static_cast<size_t>(T)));
  // The row-major layout multiplies by w^T: transpose each weight slice once, not once per block.
  std::vector<std::vector<float>> w_t(k.transposed ? 0 : k.pairs.size());
  for (size_t p = 0; p < w_t.size(); ++p) {
    w_t[p].resize(static_cast<size_t>(k.K * k.N));
    ops::detail::transpose(k.pairs[p].w, k.N, k.K, w_t[p].data());
  }
  parallel_for(B, [&](int64_t b0, int64_t b1) {
    Scratch s;
    for (int64_t b = b0; b < b1; ++b)
      product_blocks(k, w_t, b, b + 1, stream, out, clips ? &per_block[size_t(b)] : nullptr, s);
  });
  if (!clips) return;
  clips->assign(static_cast<size_t>(T), {});
  for (int64_t t = 0; t < T; ++t)
    for (const ClipLists& pb : per_block) {
      const auto& v = pb[size_t(t)];
      (*clips)[size_t(t)].insert((*clips)[size_t(t)].end(), v.begin(), v.end());
    }
}

void masked_backward(int64_t M, int64_t K, int64_t N, int64_t rows, bool transposed, const float* g,
                     const ClipLists& clips, const float* x, const float* w_used, float* dx, float* dw,
                     std::vector<float>& masked, bool overwrite) {
  const bool add = !overwrite;
  const int64_t T = (K + rows - 1) / rows;
  int64_t t = 0;
  while (t < T) {
    // A span: one clipped tile, or the longest run of unclipped tiles.
    int64_t t1 = t + 1;
    const bool has_clips = !clips.empty() && !clips[size_t(t)].empty();
    if (!has_clips)
      while (t1 < T && (clips.empty() || clips[size_t(t1)].empty())) ++t1;
    const float* gs = g;
    if (has_clips) {
      masked.assign(g, g + M * N);
      for (int64_t i : clips[size_t(t)]) masked[size_t(i)] = 0.0f;
      gs = masked.data();
    }
    const int64_t k0 = t * rows, kw = std::min(K, t1 * rows) - k0;
    using ops::detail::gemm_serial;
    if (!transposed) {  // g: (M, N)   x, dx: (M, K)
      if (dx)
        parallel_for((M + kBlockRows - 1) / kBlockRows, [&](int64_t b0, int64_t b1) {
          const int64_t m0 = b0 * kBlockRows, m1 = std::min(M, b1 * kBlockRows);
          gemm_serial(false, false, m1 - m0, kw, N, gs + m0 * N, N, w_used + k0, K, dx + m0 * K + k0, K, add);
        });
      if (dw)
        ops::detail::split_longer_side(N, kw, [&](int64_t n0, int64_t n1, int64_t c0, int64_t c1) {
          gemm_serial(true, false, n1 - n0, c1 - c0, M, gs + n0, N, x + k0 + c0, K, dw + n0 * K + k0 + c0, K, add);
        });
    } else {  // g: (N, M)   x, dx: (K, M)
      if (dx)
        parallel_for(M, [&](int64_t c0, int64_t c1) {
          gemm_serial(true, false, kw, c1 - c0, N, w_used + k0, K, gs + c0, M, dx + k0 * M + c0, M, add);
        }, 64);
      if (dw)
        ops::detail::split_longer_side(N, kw, [&](int64_t n0, int64_t n1, int64_t c0, int64_t c1) {
          gemm_serial(false, true, n1 - n0, c1 - c0, M, gs + n0 * M, M, x + (k0 + c0) * M, M, dw + n0 * K + k0 + c0, K,
                      add);
        });
    }
    t = t1;
  }
}

int64_t groups_per_thread(int64_t M, int64_t N, int64_t K) {
  const double flops = 2.0 * double(M) * double(N) * double(K);
  return flops <= 0 ? 1 : std::max<int64_t>(1, static_cast<int64_t>(ops::detail::kGemmParallelFlops / flops));
}

// Per group (shapes of one group): g (M, N), x, dx (M, K), w_used, dw (N, K); wt, dwt: (K, N) scratch.
void batched_backward(int64_t G, int64_t M, int64_t K, int64_t N, int64_t rows, const float* g,
                      const std::vector<ClipLists>& clips, const float* x, const float* w_used, float* dx, float* dw) {
  const auto transpose = [](const float* in, int64_t r, int64_t c, float* out) {  // in (r, c) -> out (c, r)
    for (int64_t i = 0; i < r; ++i)
      for (int64_t j = 0; j < c; ++j) out[j * r + i] = in[i * c + j];
  };
  parallel_for(G, [&](int64_t g0, int64_t g1) {
    std::vector<float> wt(dx ? size_t(K * N) : 0), dwt(dw ? size_t(K * N) : 0), masked;
    for (int64_t b = g0; b < g1; ++b) {
      const float *xb = x + b * M * K, *wb = w_used + b * N * K, *gb = g + b * M * N;
      float* dxb = dx ? dx + b * M * K : nullptr;
      float* dwb = dw ? dw + b * N * K : nullptr;
      const bool clipped =
          !clips.empty() && std::any_of(clips[size_t(b)].begin(), clips[size_t(b)].end(), [](const auto& v) { return !v.empty(); });
      if (clipped) {
        masked_backward(M, K, N, rows, false, gb, clips[size_t(b)], xb, wb, dxb, dwb, masked, /*overwrite=*/true);
        continue;
      }
      // ops::matmul(a (M, K), b (K, N)) backward: da = dy b^T, db = a^T dy (core/ops/matmul.cpp).
      if (dxb) {
        transpose(wb, N, K, wt.data());
        ops::detail::gemm(false, true, M, K, N, gb, wt.data(), dxb, false);
      }
      if (dwb) {
        ops::detail::gemm(true, false, K, N, M, xb, gb, dwt.data(), false);
        transpose(dwt.data(), K, N, dwb);
      }
    }
  }, groups_per_thread(M, N, K));
}

}  // namespace raoq::imc::detail
