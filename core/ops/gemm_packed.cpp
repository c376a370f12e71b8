// core/ops/gemm_packed.cpp — raoq's own single-threaded float GEMM for AVX-512: operands packed
// into panels, a 14 x 32 register-blocked micro-kernel (the layout of BLIS and of the GotoBLAS
// papers), cache blocks sized for one core.
//
// Why our own: Eigen's product reaches about 70% of a core's measured FMA peak, Debian's OpenBLAS
// and BLIS run AVX2 or generic kernels on these cores (bench/README.md). The micro-kernel keeps a
// 14 x 32 tile of C in 28 zmm accumulators; per k it loads two vectors of B and broadcasts 14
// values of A, 28 FMAs for 16 loads, so the FMA units, not the loads, bound it.
//
// Blocking (Goto): for each NC block of columns and KC block of the reduction, B[KC, NC] is packed
// as NR-wide panels (a panel, KC x 32 floats = 32 KiB at KC = 256, stays in L1 while the A panels
// stream past it); for each MC block of rows A[MC, KC] is packed as MR-high panels (168 x 256
// floats = 168 KiB, in L2). Edges are packed with zeros and their tiles written through a buffer.
//
// Numerics: every C element is a sum over k in order, in float, KC terms per block, the blocks
// added to C in order; the split never depends on the thread count (gemm.cpp splits C into
// blocks of rows or columns, each computed here whole), so results are bitwise the same at any
// thread count.
#include "core/ops/detail/gemm.h"

#if defined(__AVX512F__)
#include <immintrin.h>

#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <memory>

namespace raoq::ops::detail {
namespace {

constexpr int64_t NR = 32;
// KC: at most this many k per block (balanced: K = 576 runs as 2 x 288, not 512 + 64); MC: rows
// of A per packed block, about 84 x 512 floats (168 KiB, in L2); NC: columns of B per packed block.
constexpr int64_t KC_MAX = 512, MC_ROWS = 84, NC = 2048;

// op(A)[i, k] and op(B)[k, j] of a row-major buffer, stored plain or transposed.
struct Operand {
  const float* p;
  int64_t ld;  // the stored row length
  bool trans;
};

// A[i0 : i0 + mc, p0 : p0 + kc] as MR-high panels: panel q holds rows q*MR.., element (k, r) at k*MR + r.
template <int64_t MR>
void pack_a(const Operand& a, int64_t i0, int64_t mc, int64_t p0, int64_t kc, float* out) {
  for (int64_t q = 0; q < mc; q += MR) {
    const int64_t rows = std::min(MR, mc - q);
    float* panel = out + q * kc;
    if (rows < MR) std::memset(panel, 0, sizeof(float) * static_cast<size_t>(MR * kc));
    if (!a.trans) {  // row i: contiguous in k
      for (int64_t r = 0; r < rows; ++r) {
        const float* src = a.p + (i0 + q + r) * a.ld + p0;
        for (int64_t k = 0; k < kc; ++k) panel[k * MR + r] = src[k];
      }
    } else {  // stored (K, M): a k row holds the panel's rows side by side
      for (int64_t k = 0; k < kc; ++k) std::memcpy(panel + k * MR, a.p + (p0 + k) * a.ld + i0 + q, sizeof(float) * rows);
    }
  }
}

// B[p0 : p0 + kc, j0 : j0 + nc] as NR-wide panels: panel q holds columns q*NR.., (k, c) at k*NR + c.
void pack_b(const Operand& b, int64_t p0, int64_t kc, int64_t j0, int64_t nc, float* out) {
  for (int64_t q = 0; q < nc; q += NR) {
    const int64_t cols = std::min(NR, nc - q);
    float* panel = out + q * kc;
    if (cols < NR) std::memset(panel, 0, sizeof(float) * static_cast<size_t>(NR * kc));
    if (!b.trans) {  // stored (K, N): a k row is contiguous in j
      for (int64_t k = 0; k < kc; ++k) std::memcpy(panel + k * NR, b.p + (p0 + k) * b.ld + j0 + q, sizeof(float) * cols);
    } else {  // stored (N, K): column j contiguous in k
      for (int64_t c = 0; c < cols; ++c) {
        const float* src = b.p + (j0 + q + c) * b.ld + p0;
        for (int64_t k = 0; k < kc; ++k) panel[k * NR + c] = src[k];
      }
    }
  }
}

// c[r * ldc + j] (= or +=) sum_k a[k*MR + r] b[k*NR + j] for a full MR x 32 tile (MR <= 14; the
// rows beyond MR compile away).
template <int64_t MR>
__attribute__((always_inline)) inline void micro_kernel(int64_t kc, const float* __restrict a, const float* __restrict b,
                                                        float* __restrict c, int64_t ldc, bool add) {
#define RAOQ_ROWS(X) X(0) X(1) X(2) X(3) X(4) X(5) X(6) X(7) X(8) X(9) X(10) X(11) X(12) X(13)
#define RAOQ_DECLARE(r) __m512 c##r##0 = _mm512_setzero_ps(), c##r##1 = _mm512_setzero_ps();
#define RAOQ_FMA(r)                                  \
  if constexpr (r < MR) {                            \
    const __m512 av = _mm512_set1_ps(a[r]);          \
    c##r##0 = _mm512_fmadd_ps(av, b0, c##r##0);      \
    c##r##1 = _mm512_fmadd_ps(av, b1, c##r##1);      \
  }
#define RAOQ_STORE(r)                                                                                    \
  if constexpr (r < MR) {                                                                                \
    float* row = c + r * ldc;                                                                            \
    if (add) {                                                                                           \
      c##r##0 = _mm512_add_ps(_mm512_loadu_ps(row), c##r##0);                                            \
      c##r##1 = _mm512_add_ps(_mm512_loadu_ps(row + 16), c##r##1);                                       \
    }                                                                                                    \
    _mm512_storeu_ps(row, c##r##0);                                                                      \
    _mm512_storeu_ps(row + 16, c##r##1);                                                                 \
  }
  // C's tile is read (or written) only after the k loop: start fetching its 28 cache lines now, so
  // a tile of a C larger than the caches does not stall on memory at the end.
#define RAOQ_PREFETCH(r)                                                          \
  if constexpr (r < MR) {                                                         \
    _mm_prefetch(reinterpret_cast<const char*>(c + r * ldc), _MM_HINT_T0);        \
    _mm_prefetch(reinterpret_cast<const char*>(c + r * ldc + 16), _MM_HINT_T0);   \
  }
  RAOQ_ROWS(RAOQ_PREFETCH)
  RAOQ_ROWS(RAOQ_DECLARE)
  for (int64_t k = 0; k < kc; ++k) {
    const __m512 b0 = _mm512_load_ps(b), b1 = _mm512_load_ps(b + 16);
    RAOQ_ROWS(RAOQ_FMA)
    a += MR;
    b += NR;
  }
  RAOQ_ROWS(RAOQ_STORE)
#undef RAOQ_STORE
#undef RAOQ_PREFETCH
#undef RAOQ_FMA
#undef RAOQ_DECLARE
#undef RAOQ_ROWS
}

struct AlignedFree {
  void operator()(float* p) const { std::free(p); }
};

// This thread's packing buffers (each gemm block runs on one thread), kept between calls.
float* buffer(int which, size_t floats) {
  thread_local std::unique_ptr<float, AlignedFree> buf[2];
  thread_local size_t size[2] = {0, 0};
  if (size[which] < floats) {
    buf[which].reset(static_cast<float*>(std::aligned_alloc(64, ((floats * sizeof(float) + 63) / 64) * 64)));
    size[which] = floats;
  }
  return buf[which].get();
}

// The blocked product with an MR-high micro-kernel.
template <int64_t MR>
void gemm_blocked(const Operand& a, const Operand& b, int64_t M, int64_t N, int64_t K, float* C, int64_t ldc,
                  bool accumulate) {
  constexpr int64_t MC = (MC_ROWS + MR - 1) / MR * MR;
  const int64_t k_blocks = (K + KC_MAX - 1) / KC_MAX, KC = (K + k_blocks - 1) / k_blocks;
  float* bp = buffer(0, static_cast<size_t>(KC * ((std::min(N, NC) + NR - 1) / NR * NR)));
  float* ap = buffer(1, static_cast<size_t>(KC * ((std::min(M, MC) + MR - 1) / MR * MR)));
  alignas(64) float tile[MR * NR];
  for (int64_t j0 = 0; j0 < N; j0 += NC) {
    const int64_t nc = std::min(NC, N - j0);
    for (int64_t p0 = 0; p0 < K; p0 += KC) {
      const int64_t kc = std::min(KC, K - p0);
      const bool add = accumulate || p0 > 0;
      pack_b(b, p0, kc, j0, nc, bp);
      for (int64_t i0 = 0; i0 < M; i0 += MC) {
        const int64_t mc = std::min(MC, M - i0);
        pack_a<MR>(a, i0, mc, p0, kc, ap);
        for (int64_t jr = 0; jr < nc; jr += NR) {
          const int64_t cols = std::min(NR, nc - jr);
          for (int64_t ir = 0; ir < mc; ir += MR) {
            const int64_t rows = std::min(MR, mc - ir);
            float* c = C + (i0 + ir) * ldc + j0 + jr;
            if (rows == MR && cols == NR) {
              micro_kernel<MR>(kc, ap + ir * kc, bp + jr * kc, c, ldc, add);
              continue;
            }
            micro_kernel<MR>(kc, ap + ir * kc, bp + jr * kc, tile, NR, false);  // an edge tile, through a buffer
            for (int64_t r = 0; r < rows; ++r)
              for (int64_t j = 0; j < cols; ++j) c[r * ldc + j] = add ? c[r * ldc + j] + tile[r * NR + j] : tile[r * NR + j];
          }
        }
      }
    }
  }
}

}  // namespace

bool gemm_packed_available() { return true; }

void gemm_packed(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, const float* A, int64_t lda,
                 const float* B, int64_t ldb, float* C, int64_t ldc, bool accumulate) {
  const Operand a{A, lda, trans_a}, b{B, ldb, trans_b};
  // 14-row tiles use the registers best; 8-row tiles fit M = 16, 64, 128 ... without padding rows.
  const auto padded = [M](int64_t mr) { return (M + mr - 1) / mr * mr; };
  if (padded(8) < padded(14)) gemm_blocked<8>(a, b, M, N, K, C, ldc, accumulate);
  else gemm_blocked<14>(a, b, M, N, K, C, ldc, accumulate);
}

}  // namespace raoq::ops::detail

#else  // no AVX-512 at compile time: gemm.cpp keeps Eigen's product

namespace raoq::ops::detail {
bool gemm_packed_available() { return false; }
void gemm_packed(bool, bool, int64_t, int64_t, int64_t, const float*, int64_t, const float*, int64_t, float*, int64_t,
                 bool) {}
}  // namespace raoq::ops::detail

#endif
