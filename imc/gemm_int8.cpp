// imc/gemm_int8.cpp — the u8 x s8 -> int32 product of detail/gemm_int8.h: packing, a register-blocked
// AVX-512 VNNI kernel, and the plain loop it must equal exactly.
#include "imc/detail/gemm_int8.h"

#include <cstring>

#if defined(__AVX512VNNI__) && defined(__AVX512BW__)
#include <immintrin.h>
#define RAOQ_GEMM_VNNI 1
#else
#define RAOQ_GEMM_VNNI 0
#endif

namespace raoq::imc::detail {

PackedS8 pack_s8(const float* b, int64_t K, int64_t N, float factor) {
  PackedS8 p;
  p.k = K, p.n = N;
  p.data.assign(static_cast<size_t>(p.groups() * N * 4), 0);
  p.colsum.assign(static_cast<size_t>(N), 0);
  for (int64_t k = 0; k < K; ++k)
    for (int64_t n = 0; n < N; ++n) {
      const auto v = static_cast<int32_t>(b[k * N + n] * factor);  // whole numbers (the contract): exact
      p.data[static_cast<size_t>(((k / 4) * N + n) * 4 + k % 4)] = static_cast<int8_t>(v);
      p.colsum[static_cast<size_t>(n)] += v;
    }
  return p;
}

void gemm_u8s8_reference(const uint8_t* a, int64_t lda, int64_t M, const PackedS8& b, float scale, float* c,
                         int64_t ldc) {
  for (int64_t m = 0; m < M; ++m)
    for (int64_t n = 0; n < b.n; ++n) {
      int32_t acc = 0;
      for (int64_t k = 0; k < b.k; ++k)
        acc += (int32_t(a[m * lda + k]) - 128) * b.data[static_cast<size_t>(((k / 4) * b.n + n) * 4 + k % 4)];
      c[m * ldc + n] = scale * static_cast<float>(acc);
    }
}

#if RAOQ_GEMM_VNNI
namespace {
// MR rows of c by NV vectors of 16 columns from column n0: one 32-bit broadcast of four bytes of a
// per row and group, one vpdpbusd per accumulator. 4 x 4 accumulators + 4 b vectors fit the 32
// registers; the fixed-count loops are unrolled so that the arrays live in registers (at -O2 GCC
// would otherwise keep them on the stack, a load and a store around every vpdpbusd).
template <int MR, int NV>
void micro_tile(const uint8_t* a, int64_t lda, const PackedS8& b, int64_t n0, float scale, float* c, int64_t ldc) {
  __m512i acc[MR][NV];
#pragma GCC unroll 16
  for (int i = 0; i < MR * NV; ++i) acc[i / NV][i % NV] = _mm512_setzero_si512();
  const int8_t* bp = b.data.data() + n0 * 4;
  for (int64_t g = 0; g < b.groups(); ++g, bp += b.n * 4) {
    __m512i bv[NV];
#pragma GCC unroll 4
    for (int j = 0; j < NV; ++j) bv[j] = _mm512_loadu_si512(bp + j * 64);
#pragma GCC unroll 4
    for (int r = 0; r < MR; ++r) {
      int32_t four;
      std::memcpy(&four, a + r * lda + g * 4, 4);
      const __m512i av = _mm512_set1_epi32(four);
#pragma GCC unroll 4
      for (int j = 0; j < NV; ++j) acc[r][j] = _mm512_dpbusd_epi32(acc[r][j], av, bv[j]);
    }
  }
  const __m512 s = _mm512_set1_ps(scale);
#pragma GCC unroll 4
  for (int j = 0; j < NV; ++j) {
    const __m512i offset = _mm512_slli_epi32(_mm512_loadu_si512(b.colsum.data() + n0 + j * 16), 7);  // 128 colsum
#pragma GCC unroll 4
    for (int r = 0; r < MR; ++r)
      _mm512_storeu_ps(c + r * ldc + n0 + j * 16, _mm512_mul_ps(s, _mm512_cvtepi32_ps(_mm512_sub_epi32(acc[r][j], offset))));
  }
}

template <int MR>
void row_block(const uint8_t* a, int64_t lda, const PackedS8& b, float scale, float* c, int64_t ldc) {
  int64_t n0 = 0;
  for (; n0 + 64 <= b.n; n0 += 64) micro_tile<MR, 4>(a, lda, b, n0, scale, c, ldc);
  switch ((b.n - n0) / 16) {
    case 3: micro_tile<MR, 3>(a, lda, b, n0, scale, c, ldc); break;
    case 2: micro_tile<MR, 2>(a, lda, b, n0, scale, c, ldc); break;
    case 1: micro_tile<MR, 1>(a, lda, b, n0, scale, c, ldc); break;
    default: break;
  }
}
}  // namespace

bool gemm_u8s8_vectorised() { return true; }

void gemm_u8s8(const uint8_t* a, int64_t lda, int64_t M, const PackedS8& b, float scale, float* c, int64_t ldc) {
  if (b.n % 16 != 0) return gemm_u8s8_reference(a, lda, M, b, scale, c, ldc);
  int64_t m = 0;
  for (; m + 4 <= M; m += 4) row_block<4>(a + m * lda, lda, b, scale, c + m * ldc, ldc);
  switch (M - m) {
    case 3: row_block<3>(a + m * lda, lda, b, scale, c + m * ldc, ldc); break;
    case 2: row_block<2>(a + m * lda, lda, b, scale, c + m * ldc, ldc); break;
    case 1: row_block<1>(a + m * lda, lda, b, scale, c + m * ldc, ldc); break;
    default: break;
  }
}
#else
bool gemm_u8s8_vectorised() { return false; }

void gemm_u8s8(const uint8_t* a, int64_t lda, int64_t M, const PackedS8& b, float scale, float* c, int64_t ldc) {
  gemm_u8s8_reference(a, lda, M, b, scale, c, ldc);
}
#endif

}  // namespace raoq::imc::detail
