// core/ops/kernels.cpp — per-thread scratch buffers and the blocked transposes of core/ops.
#include "core/ops/detail/kernels.h"

#include <array>
#include <vector>

#include <Eigen/Core>
#if defined(__AVX512F__)
#include <immintrin.h>
#endif

namespace raoq::ops::detail {

float* thread_scratch(int slot, int64_t size) {
  thread_local std::array<std::vector<float>, kScratchSlots> buffers;
  auto& buf = buffers.at(static_cast<size_t>(slot));
  if (static_cast<int64_t>(buf.size()) < size) buf.resize(static_cast<size_t>(size));
  return buf.data();
}

namespace {
#if defined(__AVX512F__)
// A 16x16 block transposed in registers: in[r] is row r, out[c] becomes column c. Eigen's
// ptranspose does the same but is not inlined and passes the block through the stack, which
// made the transposes of conv2d's Winograd path several times slower than a copy.
constexpr int64_t kBlock = 16;
using Block = __m512;
inline Block load_block_row(const float* p) { return _mm512_loadu_ps(p); }
inline void store_block_row(float* p, Block x) { _mm512_storeu_ps(p, x); }
inline Block add_block_rows(Block a, Block b) { return _mm512_add_ps(a, b); }
inline __attribute__((always_inline)) void transpose_block(Block r[16]) {
  Block t[16];
#pragma GCC unroll 16
  for (int i = 0; i < 8; ++i) {  // pairs of rows, interleaved by element
    t[2 * i] = _mm512_unpacklo_ps(r[2 * i], r[2 * i + 1]);
    t[2 * i + 1] = _mm512_unpackhi_ps(r[2 * i], r[2 * i + 1]);
  }
#pragma GCC unroll 16
  for (int i = 0; i < 4; ++i) {  // r[4i + q], 128-bit lane l: rows 4i..4i+3 at column 4l + q
    const __m512d a = _mm512_castps_pd(t[4 * i]), b = _mm512_castps_pd(t[4 * i + 1]);
    const __m512d c = _mm512_castps_pd(t[4 * i + 2]), d = _mm512_castps_pd(t[4 * i + 3]);
    r[4 * i] = _mm512_castpd_ps(_mm512_unpacklo_pd(a, c));
    r[4 * i + 1] = _mm512_castpd_ps(_mm512_unpackhi_pd(a, c));
    r[4 * i + 2] = _mm512_castpd_ps(_mm512_unpacklo_pd(b, d));
    r[4 * i + 3] = _mm512_castpd_ps(_mm512_unpackhi_pd(b, d));
  }
#pragma GCC unroll 16
  for (int q = 0; q < 4; ++q) {  // 128-bit lanes regrouped: columns q, 8+q (0x88) and 4+q, 12+q (0xdd)
    t[q] = _mm512_shuffle_f32x4(r[q], r[4 + q], 0x88);
    t[4 + q] = _mm512_shuffle_f32x4(r[q], r[4 + q], 0xdd);
    t[8 + q] = _mm512_shuffle_f32x4(r[8 + q], r[12 + q], 0x88);
    t[12 + q] = _mm512_shuffle_f32x4(r[8 + q], r[12 + q], 0xdd);
  }
#pragma GCC unroll 16
  for (int q = 0; q < 4; ++q) {
    r[q] = _mm512_shuffle_f32x4(t[q], t[8 + q], 0x88);
    r[8 + q] = _mm512_shuffle_f32x4(t[q], t[8 + q], 0xdd);
    r[4 + q] = _mm512_shuffle_f32x4(t[4 + q], t[12 + q], 0x88);
    r[12 + q] = _mm512_shuffle_f32x4(t[4 + q], t[12 + q], 0xdd);
  }
}
#else
// Elsewhere Eigen's packets (and its ptranspose) set the block size.
// Eigen's SSE packet type carries vector attributes that GCC drops (with a warning) when it is a
// template argument; the type is only ever used as Eigen intends, so the warning says nothing here.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wignored-attributes"
using Block = Eigen::internal::packet_traits<float>::type;
constexpr int64_t kBlock = Eigen::internal::packet_traits<float>::size;
inline Block load_block_row(const float* p) { return Eigen::internal::ploadu<Block>(p); }
inline void store_block_row(float* p, Block x) { Eigen::internal::pstoreu(p, x); }
inline Block add_block_rows(Block a, Block b) { return Eigen::internal::padd(a, b); }
inline void transpose_block(Block r[kBlock]) {
  Eigen::internal::PacketBlock<Block, kBlock> block;
  for (int64_t i = 0; i < kBlock; ++i) block.packet[i] = r[i];
  Eigen::internal::ptranspose(block);
  for (int64_t i = 0; i < kBlock; ++i) r[i] = block.packet[i];
}
#pragma GCC diagnostic pop
#endif

// The destination D (cols, rows) = S^T for a source S (rows, cols): src(i, j) points at S(i, j)
// and kBlock consecutive j are contiguous; dst(j, i) points at D(j, i), kBlock consecutive i
// contiguous. Blocked through registers; the ragged right and bottom edges element by element.
template <typename Src, typename Dst>
inline void transpose_blocked(int64_t rows, int64_t cols, const Src& src, const Dst& dst, bool accumulate) {
  const int64_t rows_full = rows / kBlock * kBlock, cols_full = cols / kBlock * kBlock;
  for (int64_t i0 = 0; i0 < rows_full; i0 += kBlock)
    for (int64_t j0 = 0; j0 < cols_full; j0 += kBlock) {
      Block r[kBlock];
#pragma GCC unroll 16
      for (int64_t i = 0; i < kBlock; ++i) r[i] = load_block_row(src(i0 + i, j0));
      transpose_block(r);
#pragma GCC unroll 16
      for (int64_t j = 0; j < kBlock; ++j) {
        float* out = dst(j0 + j, i0);
        store_block_row(out, accumulate ? add_block_rows(load_block_row(out), r[j]) : r[j]);
      }
    }
  for (int64_t i = 0; i < rows; ++i)
    for (int64_t j = (i < rows_full ? cols_full : 0); j < cols; ++j) {
      float& out = *dst(j, i);
      out = accumulate ? out + *src(i, j) : *src(i, j);
    }
}
}  // namespace

void transpose(const float* src, int64_t rows, int64_t cols, float* dst, bool accumulate) {
  transpose_blocked(
      rows, cols, [&](int64_t i, int64_t j) { return src + i * cols + j; },
      [&](int64_t j, int64_t i) { return dst + j * rows + i; }, accumulate);
}

void transpose_to(const float* src, int64_t rows, int64_t cols, const int64_t* at, float* dst) {
  transpose_blocked(
      rows, cols, [&](int64_t i, int64_t j) { return src + i * cols + j; },
      [&](int64_t j, int64_t i) { return dst + at[j] + i; }, false);
}

void transpose_from(const float* src, const int64_t* at, int64_t rows, int64_t cols, float* dst, bool accumulate) {
  // The source is (cols, rows) with row j at src + at[j]; the destination (rows, cols).
  transpose_blocked(
      cols, rows, [&](int64_t j, int64_t i) { return src + at[j] + i; },
      [&](int64_t i, int64_t j) { return dst + i * cols + j; }, accumulate);
}

}  // namespace raoq::ops::detail
