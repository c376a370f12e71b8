// core/ops/im2col.cpp — im2col / col2im for one image and one group.
//
// Each walks the K rows of the column matrix (one per input channel and kernel tap).
// Stride 1 with Wo == W (a 'same'-width convolution, the common case) takes a shifted path:
// a tap's row is the input plane shifted by off_h*W + off_w, so one contiguous copy (or add)
// does the work and only the entries that wrapped around a row edge need fixing. Otherwise,
// for each output row, the output columns that read inside the image are worked out once so
// the inner loop has no bounds test, and the padding is written as zeros around it.
#include "core/ops/detail/im2col.h"

#include <algorithm>

#include <Eigen/Core>
#if defined(__AVX512F__)
#include <immintrin.h>
#endif

namespace raoq::ops::detail {

namespace {
using ConstVec = Eigen::Map<const Eigen::ArrayXf>;
using Vec = Eigen::Map<Eigen::ArrayXf>;

bool shifted_path(const ConvGeometry& g) { return g.stride == 1 && g.wo == g.w; }

// For the shifted path: row[j] reads plane[j + shift] for j in [j0, j1); outside that range the
// source lies above or below the plane (padding rows).
struct ShiftedTap {
  int64_t shift, j0, j1;
  ValidColumns cols;  // output columns whose source stays on the same image row
};
ShiftedTap shifted_tap(const ConvGeometry& g, int64_t off_h, int64_t off_w) {
  const int64_t len = g.ho * g.w, plane = g.h * g.w, shift = off_h * g.w + off_w;
  return {shift, std::clamp<int64_t>(-shift, 0, len), std::clamp<int64_t>(plane - shift, 0, len),
          valid_columns(off_w, 1, g.w, g.w)};
}

// Zeroes, in every output row, the columns whose source wrapped onto the neighbouring image row.
// Column by column: there are only `padding` of them on each side, and short per-row loops
// would each become a memset call.
void zero_wrapped(float* row, const ConvGeometry& g, const ValidColumns& r) {
  for (int64_t ow = 0; ow < r.lo; ++ow)
    for (int64_t oh = 0; oh < g.ho; ++oh) row[oh * g.w + ow] = 0.0f;
  for (int64_t ow = r.hi; ow < g.w; ++ow)
    for (int64_t oh = 0; oh < g.ho; ++oh) row[oh * g.w + ow] = 0.0f;
}

// Stride 2 (a downsampling layer): dst[j] = src[2j] and dst[2j] += src[j] for j < n. The plain
// loops compile to gathers and scatters; these deinterleave / interleave through two-source
// permutes, with masked loads and stores at the row end (each touches src or dst[0 .. 2n-2]
// only). The same values and the same additions as the plain loops, so the same bits.
// copy_even may read up to `readable` floats from src (past 2n - 1 when the buffer goes on: plain
// loads are cheaper than masked ones, which this core runs slowly).
void copy_even(const float* src, float* dst, int64_t n, int64_t readable) {
  int64_t j = 0;
#if defined(__AVX512F__)
  const __m512i even = _mm512_set_epi32(30, 28, 26, 24, 22, 20, 18, 16, 14, 12, 10, 8, 6, 4, 2, 0);
  const auto mask = [](int64_t bits) { return static_cast<__mmask16>(bits >= 16 ? 0xFFFF : (1u << bits) - 1u); };
  for (; j < n; j += 16) {
    const int64_t r = std::min<int64_t>(16, n - j), used = 2 * r - 1;  // src[2j .. 2j + used)
    __m512 lo, hi;
    if (2 * j + 32 <= readable) {
      lo = _mm512_loadu_ps(src + 2 * j), hi = _mm512_loadu_ps(src + 2 * j + 16);
    } else {
      lo = _mm512_maskz_loadu_ps(mask(used), src + 2 * j);
      hi = _mm512_maskz_loadu_ps(mask(std::max<int64_t>(0, used - 16)), src + 2 * j + 16);
    }
    const __m512 v = _mm512_permutex2var_ps(lo, even, hi);
    if (r == 16) _mm512_storeu_ps(dst + j, v);
    else _mm512_mask_storeu_ps(dst + j, mask(r), v);
  }
#endif
  for (; j < n; ++j) dst[j] = src[2 * j];
}

void add_to_even(const float* src, float* dst, int64_t n) {
  int64_t j = 0;
#if defined(__AVX512F__)
  // lane 2i of the low (high) half takes src[i] (src[8 + i]); odd lanes are masked off.
  const __m512i lo_idx = _mm512_set_epi32(0, 7, 0, 6, 0, 5, 0, 4, 0, 3, 0, 2, 0, 1, 0, 0);
  const __m512i hi_idx = _mm512_set_epi32(0, 15, 0, 14, 0, 13, 0, 12, 0, 11, 0, 10, 0, 9, 0, 8);
  const auto mask = [](int64_t bits) { return static_cast<__mmask16>(bits >= 16 ? 0xFFFF : (1u << bits) - 1u); };
  for (; j < n; j += 16) {
    const int64_t r = std::min<int64_t>(16, n - j), used = 2 * r - 1;  // dst[2j .. 2j + used)
    const __m512 v = _mm512_maskz_loadu_ps(mask(r), src + j);
    const __mmask16 m_lo = mask(used) & 0x5555, m_hi = mask(std::max<int64_t>(0, used - 16)) & 0x5555;
    float* d = dst + 2 * j;
    const __m512 a = _mm512_maskz_loadu_ps(m_lo, d), b = _mm512_maskz_loadu_ps(m_hi, d + 16);
    _mm512_mask_storeu_ps(d, m_lo, _mm512_add_ps(a, _mm512_permutexvar_ps(lo_idx, v)));
    _mm512_mask_storeu_ps(d + 16, m_hi, _mm512_add_ps(b, _mm512_permutexvar_ps(hi_idx, v)));
  }
#endif
  for (; j < n; ++j) dst[2 * j] += src[j];
}
}  // namespace

void im2col(const float* x_g, const ConvGeometry& g, float* cols, int64_t ld) {
  const int64_t s = g.stride;
  for (int64_t ci = 0; ci < g.cg_in(); ++ci) {
    const float* plane = x_g + ci * g.h * g.w;
    for (int64_t kh = 0; kh < g.kh; ++kh) {
      const int64_t off_h = kh * g.dilation - g.padding;
      for (int64_t kw = 0; kw < g.kw; ++kw) {
        const int64_t off_w = kw * g.dilation - g.padding;
        float* row = cols + ((ci * g.kh + kh) * g.kw + kw) * ld;
        if (shifted_path(g)) {
          const ShiftedTap t = shifted_tap(g, off_h, off_w);
          std::fill(row, row + t.j0, 0.0f);
          std::copy(plane + t.j0 + t.shift, plane + t.j1 + t.shift, row + t.j0);
          std::fill(row + std::max(t.j0, t.j1), row + g.ho * g.w, 0.0f);
          zero_wrapped(row, g, t.cols);
          continue;
        }
        const ValidColumns r = valid_columns(off_w, s, g.w, g.wo);
        for (int64_t oh = 0; oh < g.ho; ++oh) {
          float* dst = row + oh * g.wo;
          const int64_t ih = oh * s + off_h;
          if (ih < 0 || ih >= g.h) {
            std::fill_n(dst, g.wo, 0.0f);
            continue;
          }
          const float* src = plane + ih * g.w;
          std::fill_n(dst, r.lo, 0.0f);
          if (s == 2 && r.hi > r.lo) {
            const float* from = src + r.lo * 2 + off_w;
            copy_even(from, dst + r.lo, r.hi - r.lo, x_g + g.cg_in() * g.h * g.w - from);
          } else {
#pragma omp simd
            for (int64_t ow = r.lo; ow < r.hi; ++ow) dst[ow] = src[ow * s + off_w];
          }
          std::fill(dst + std::max(r.lo, r.hi), dst + g.wo, 0.0f);
        }
      }
    }
  }
}

void col2im(float* cols, const ConvGeometry& g, int64_t ld, float* dx_g) {
  const int64_t s = g.stride;
  for (int64_t ci = 0; ci < g.cg_in(); ++ci) {
    float* plane = dx_g + ci * g.h * g.w;
    for (int64_t kh = 0; kh < g.kh; ++kh) {
      const int64_t off_h = kh * g.dilation - g.padding;
      for (int64_t kw = 0; kw < g.kw; ++kw) {
        const int64_t off_w = kw * g.dilation - g.padding;
        float* row = cols + ((ci * g.kh + kh) * g.kw + kw) * ld;
        if (shifted_path(g)) {
          // Wrapped entries read padding: they give nothing back, so zero them and add the
          // whole in-plane range in one vectorised pass.
          const ShiftedTap t = shifted_tap(g, off_h, off_w);
          zero_wrapped(row, g, t.cols);
          if (t.j1 > t.j0) Vec(plane + t.j0 + t.shift, t.j1 - t.j0) += ConstVec(row + t.j0, t.j1 - t.j0);
          continue;
        }
        const ValidColumns r = valid_columns(off_w, s, g.w, g.wo);
        for (int64_t oh = 0; oh < g.ho; ++oh) {
          const int64_t ih = oh * s + off_h;
          if (ih < 0 || ih >= g.h) continue;  // padding: nothing to give back
          const float* src = row + oh * g.wo;
          float* dst = plane + ih * g.w;
          if (s == 2) {
            if (r.hi > r.lo) add_to_even(src + r.lo, dst + r.lo * 2 + off_w, r.hi - r.lo);
            continue;
          }
#pragma omp simd
          for (int64_t ow = r.lo; ow < r.hi; ++ow) dst[ow * s + off_w] += src[ow];
        }
      }
    }
  }
}

}  // namespace raoq::ops::detail
