// core/ops/gemm_unpacked.cpp — a float GEMM read in place, without packing, for products whose B
// fits in the caches: Winograd's per-position products, conv2d's per-image products, Linear layers
// and attention's per-head products (gemm.cpp chooses; bench/README.md has the shapes and rates).
//
// Why not the packed kernel or Eigen: at these sizes packing costs about as much as the product
// (each packed element of a 16-64 channel product serves only 16 to 64 FMAs), and a 14 x 32 tile
// pads a 16-column product to twice its work. Here B (K x N) is loaded as it is stored, from L1 or
// L2; A is read through two strides, so both A and A^T (a column of V read as a row) are used in
// place; a register tile of MR rows x NV vectors of 16 columns is kept in zmm accumulators (16 x 16
// when N <= 16, else 14 x 32), columns past N masked.
//
// Numerics: every C element is one sum over k in order, in float, then added to C when
// accumulating; nothing depends on the thread count (callers run it on one thread per block).
#include "core/ops/detail/gemm.h"

#include <algorithm>

#if defined(__AVX512F__)
#include <immintrin.h>

#include <array>
#include <utility>
#include <vector>

namespace raoq::ops::detail {
namespace {

// c[r * ldc + j] (= or +=) sum_k a[r * a_row + k * a_k] b[k * ldb + j] for r < MR and
// j < 16 (NV - 1) + the columns of `last` (a mask of the final vector's columns).
template <int MR, int NV>
void tile(int64_t K, const float* __restrict a, int64_t a_row, int64_t a_k, const float* __restrict b, int64_t ldb,
          float* __restrict c, int64_t ldc, bool add, __mmask16 last) {
  __m512 acc[MR][NV];
#pragma GCC unroll 16
  for (int r = 0; r < MR; ++r)
#pragma GCC unroll 4
    for (int v = 0; v < NV; ++v) acc[r][v] = _mm512_setzero_ps();
  // Rows in groups of four from one pointer each: row 4g + q is ap[g] + q a_row, an address x86
  // forms from two registers (a_row scaled by 1 or 2, and 3 a_row), so a tile needs MR / 4 + 2
  // general registers for A instead of one per row.
  constexpr int kGroups = (MR + 3) / 4;
  const float* ap[kGroups];
#pragma GCC unroll 4
  for (int grp = 0; grp < kGroups; ++grp) ap[grp] = a + 4 * grp * a_row;
  for (int64_t k = 0; k < K; ++k) {
    __m512 bv[NV];
#pragma GCC unroll 4
    for (int v = 0; v < NV; ++v)
      bv[v] = v + 1 < NV ? _mm512_loadu_ps(b + 16 * v) : _mm512_maskz_loadu_ps(last, b + 16 * v);
#pragma GCC unroll 16
    for (int r = 0; r < MR; ++r) {
      const __m512 av = _mm512_set1_ps(ap[r / 4][(r % 4) * a_row]);
#pragma GCC unroll 4
      for (int v = 0; v < NV; ++v) acc[r][v] = _mm512_fmadd_ps(av, bv[v], acc[r][v]);
    }
#pragma GCC unroll 4
    for (int grp = 0; grp < kGroups; ++grp) ap[grp] += a_k;
    b += ldb;
  }
#pragma GCC unroll 16
  for (int r = 0; r < MR; ++r)
#pragma GCC unroll 4
    for (int v = 0; v < NV; ++v) {
      float* p = c + r * ldc + 16 * v;
      const __mmask16 m = v + 1 < NV ? __mmask16(0xFFFF) : last;
      const __m512 out = add ? _mm512_add_ps(_mm512_maskz_loadu_ps(m, p), acc[r][v]) : acc[r][v];
      _mm512_mask_storeu_ps(p, m, out);
    }
}

using TileFn = void (*)(int64_t, const float*, int64_t, int64_t, const float*, int64_t, float*, int64_t, bool,
                        __mmask16);

// tiles<NV>(make_integer_sequence<MR_MAX>)[rows - 1]: the tile of `rows` rows, for the last row block.
template <int NV, int... R>
constexpr std::array<TileFn, sizeof...(R)> tile_table(std::integer_sequence<int, R...>) {
  return {&tile<R + 1, NV>...};
}
// Rows per tile with one and with two vectors of columns. With A addressed in row groups (see
// tile), 16 rows of one vector fit the registers: 16 independent accumulators hide the FMA
// latency that 8 could not (16-channel Winograd products: about 180 against 160 GFLOP/s forward,
// 230 against 195 for dU = V^T dM, on a 16-column B).
constexpr int kRowsOne = 16, kRowsTwo = 14;
constexpr auto kTilesOne = tile_table<1>(std::make_integer_sequence<int, kRowsOne>());
constexpr auto kTilesTwo = tile_table<2>(std::make_integer_sequence<int, kRowsTwo>());

}  // namespace

void gemm_unpacked(int64_t M, int64_t N, int64_t K, const float* A, int64_t a_row, int64_t a_k, const float* B,
                   int64_t ldb, float* C, int64_t ldc, bool accumulate) {
  if (M <= 0 || N <= 0) return;
  // Row blocks outer: an A block (MR rows x K) stays in L1 while every column panel passes it.
  // Unless its rows lie a multiple of 4 KiB apart: then all of them map to one L1 set (of 64), more
  // lines than the set has ways, and every load of A misses L1. Such a block is first copied to
  // rows of K + 16 floats (the same values, so the same sums): 256 x 1024 x 256 (M x K x N, the
  // rows of a 1024-wide activation) ran at 126 GFLOP/s per thread in place and 176-184 copied, with
  // two threads each on a product of its own; rows of 512 floats were no faster copied.
  const bool one = N <= 16;
  const int rows_max = one ? kRowsOne : kRowsTwo;
  const bool copy_a = a_k == 1 && a_row % 1024 == 0;
  const int64_t block_row = K + 16;
  thread_local std::vector<float> block;
  if (copy_a && block.size() < static_cast<size_t>(rows_max * block_row)) block.resize(static_cast<size_t>(rows_max * block_row));
  for (int64_t i0 = 0; i0 < M; i0 += rows_max) {
    const int rows = static_cast<int>(std::min<int64_t>(rows_max, M - i0));
    const float* a = A + i0 * a_row;
    int64_t a_stride = a_row;
    if (copy_a) {
      for (int r = 0; r < rows; ++r) std::copy(a + r * a_row, a + r * a_row + K, block.data() + r * block_row);
      a = block.data(), a_stride = block_row;
    }
    float* c = C + i0 * ldc;
    for (int64_t j0 = 0; j0 < N; j0 += one ? 16 : 32) {
      const int64_t cols = std::min<int64_t>(N - j0, one ? 16 : 32);
      const int64_t last_cols = cols - (cols > 16 ? 16 : 0);
      const __mmask16 last = static_cast<__mmask16>((1u << last_cols) - 1u);
      if (cols > 16) {
        kTilesTwo[rows - 1](K, a, a_stride, a_k, B + j0, ldb, c + j0, ldc, accumulate, last);
        continue;
      }
      for (int r0 = 0; r0 < rows; r0 += kRowsOne)  // a last panel of <= 16 columns: 8-row tiles
        kTilesOne[std::min(kRowsOne, rows - r0) - 1](K, a + r0 * a_stride, a_stride, a_k, B + j0, ldb, c + r0 * ldc + j0, ldc,
                                                     accumulate, last);
    }
  }
}

}  // namespace raoq::ops::detail

#else  // no AVX-512 at compile time: Eigen's product through strided maps

#include <Eigen/Core>

namespace raoq::ops::detail {

void gemm_unpacked(int64_t M, int64_t N, int64_t K, const float* A, int64_t a_row, int64_t a_k, const float* B,
                   int64_t ldb, float* C, int64_t ldc, bool accumulate) {
  if (M <= 0 || N <= 0) return;
  using Row = Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
  using Any = Eigen::Stride<Eigen::Dynamic, Eigen::Dynamic>;
  const Eigen::Map<const Row, 0, Any> a(A, M, K, Any(a_row, a_k));
  const Eigen::Map<const Row, 0, Eigen::OuterStride<>> b(B, K, N, Eigen::OuterStride<>(ldb));
  Eigen::Map<Row, 0, Eigen::OuterStride<>> c(C, M, N, Eigen::OuterStride<>(ldc));
  if (accumulate) c.noalias() += a * b;
  else c.noalias() = a * b;
}

}  // namespace raoq::ops::detail

#endif
