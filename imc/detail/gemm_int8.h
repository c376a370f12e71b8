// imc/detail/gemm_int8.h — internal: an exact small-integer matrix product on AVX-512 VNNI, for the
// Winograd tile sums of the array product on 4-bit codes (array_winograd.cpp).
//
// With a (M, K) holding integers in [-128, 127] and b (K, N) integers in [-127, 127], every partial
// sum of a b is an exact int32 (K * 128 * 127 < 2^31 for K < 132,000), so the product can run on
// 8-bit codes: a is stored offset by 128 as unsigned bytes, b packed as signed bytes in groups of
// four rows (the VNNI dot product vpdpbusd adds four byte products per 32-bit lane), and
//   c[m, n] = scale * (sum_k (a[m, k] + 128) b[k, n] - 128 * sum_k b[k, n])
// recovers the signed product exactly before the one rounding of `scale` (a power of two in use).
// A VNNI instruction does 64 byte multiply-adds where an fp32 FMA does 16. gemm_u8s8_reference is
// the plain loop the tests compare with; without AVX-512 VNNI the kernel is that loop.
// Not a public header: nothing outside imc/ includes it.
#pragma once

#include <cstdint>
#include <vector>

namespace raoq::imc::detail {

// b (K, N) packed for gemm_u8s8: data[((k / 4) * N + n) * 4 + k % 4] = b[k, n] (rows past K are 0),
// colsum[n] = sum_k b[k, n].
struct PackedS8 {
  int64_t k = 0, n = 0;  // K, N
  std::vector<int8_t> data;
  std::vector<int32_t> colsum;
  int64_t groups() const { return (k + 3) / 4; }
};

// b: (K, N) row-major floats holding integers after multiplying by `factor` (|b * factor| <= 127).
PackedS8 pack_s8(const float* b, int64_t K, int64_t N, float factor);

// Whether gemm_u8s8 runs the VNNI kernel (built with AVX-512 VNNI and BW) rather than the loop.
bool gemm_u8s8_vectorised();

// c (M, N), row stride ldc = scale * ((a - 128) b), a: M rows of unsigned bytes, row stride lda >=
// 4 * b.groups() (the bytes past K are read and multiplied by b's zero rows). N % 16 == 0 for the
// vectorised kernel.
void gemm_u8s8(const uint8_t* a, int64_t lda, int64_t M, const PackedS8& b, float scale, float* c, int64_t ldc);
void gemm_u8s8_reference(const uint8_t* a, int64_t lda, int64_t M, const PackedS8& b, float scale, float* c,
                         int64_t ldc);

}  // namespace raoq::imc::detail
