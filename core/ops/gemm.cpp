// core/ops/gemm.cpp — row-major GEMM split over output blocks. On AVX-512 each block runs raoq's
// unpacked kernel (gemm_unpacked.cpp) while B fits in the caches, else its packed kernel
// (gemm_packed.cpp) for 96 or more columns; Eigen's product through Maps otherwise and elsewhere.
//
// GCC 12 reports '__Y is used uninitialized' inside the AVX-512 unpack intrinsics that Eigen's
// 16x16 ptranspose (GEMM packing) inlines: a false positive (the intrinsics start from
// _mm512_undefined_ps by design). It must be silenced before the intrinsic headers are read.
#pragma GCC diagnostic ignored "-Wuninitialized"
#include "core/ops/detail/gemm.h"

#include <Eigen/Core>
#include <algorithm>
#include <vector>

#include "core/ops/detail/kernels.h"
#include "core/parallel.h"
#include "core/tensor.h"

namespace raoq::ops::detail {

namespace {

using ConstStrided = Eigen::Map<const MatrixRM, 0, Eigen::OuterStride<>>;
using Strided = Eigen::Map<MatrixRM, 0, Eigen::OuterStride<>>;

constexpr int64_t kPackedMinColumns = 96;

struct GemmArgs {
  int64_t M, N, K;
  const float* A;
  const float* B;
  float* C;
  bool accumulate;
};

// gemm_unpacked for any op(B): a B stored (N, K) is transposed into this thread's buffer first.
void unpacked_product(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, const float* A, int64_t lda,
                      const float* B, int64_t ldb, float* C, int64_t ldc, bool accumulate) {
  if (trans_b) {
    thread_local std::vector<float> bt;
    if (bt.size() < static_cast<size_t>(K * N)) bt.resize(static_cast<size_t>(K * N));
    if (ldb == K) {
      transpose(B, N, K, bt.data());
    } else {
      for (int64_t j = 0; j < N; ++j)
        for (int64_t k = 0; k < K; ++k) bt[static_cast<size_t>(k * N + j)] = B[j * ldb + k];
    }
    B = bt.data(), ldb = N;
  }
  gemm_unpacked(M, N, K, A, trans_a ? 1 : lda, trans_a ? lda : 1, B, ldb, C, ldc, accumulate);
}

template <class OpA, class OpB>
void product_into(Strided& c, const OpA& a, const OpB& b, bool accumulate) {
  if (accumulate) c.noalias() += a * b;
  else c.noalias() = a * b;
}

// Whether a product of this shape suits the unpacked kernel: B (K x N) fits in the caches, and the
// product is not both tall and wide. There packing is repaid many times over, and inside a training
// step, whose other buffers share the caches, the unpacked kernel fell behind: in one
// 1-thread gpt-tiny ADC step, 4096 x 256 x 1024 (fc1, M x K x N) ran at 172 GFLOP/s unpacked and
// 234 packed. The kernels sum each element in the same order, so the choice changes no bits.
bool unpacked_suits(int64_t M, int64_t N, int64_t K) {
  constexpr int64_t kTallRows = 1024, kWideColumns = 512;
  return K * N <= kUnpackedMaxB && !(M >= kTallRows && N >= kWideColumns);
}

// Whether gemm() computes the product with the unpacked kernel (gemm_unpacked.cpp): on AVX-512,
// for shapes that suit it, and for a B stored transposed only with rows enough to repay its
// transposition. Decided on the whole product, like the rest of gemm_block's choice.
bool unpacked_applies(const GemmArgs& g, bool trans_b) {
  return gemm_packed_available() && unpacked_suits(g.M, g.N, g.K) && (!trans_b || g.M >= 16);
}

// C[m0:m1, n0:n1] (=|+=) op(A)[m0:m1, :] op(B)[:, n0:n1]
template <bool TransA, bool TransB>
void gemm_block(const GemmArgs& g, int64_t m0, int64_t m1, int64_t n0, int64_t n1) {
  const int64_t mb = m1 - m0, nb = n1 - n0;
  // AVX-512: our packed kernel (gemm_packed.cpp), except for products with few columns, where its
  // 32-wide tiles pad too much and Eigen's was faster (bench/README.md). Decided on the whole
  // product, so a thread split never changes which kernel computes an element.
  if (unpacked_applies(g, TransB)) {
    const float* a = TransA ? g.A + m0 : g.A + m0 * g.K;
    const float* b = TransB ? g.B + n0 * g.K : g.B + n0;
    unpacked_product(TransA, TransB, mb, nb, g.K, a, TransA ? g.M : g.K, b, TransB ? g.K : g.N, g.C + m0 * g.N + n0, g.N,
                     g.accumulate);
    return;
  }
  if (gemm_packed_available() && g.N >= kPackedMinColumns) {
    const float* a = TransA ? g.A + m0 : g.A + m0 * g.K;
    const float* b = TransB ? g.B + n0 * g.K : g.B + n0;
    gemm_packed(TransA, TransB, mb, nb, g.K, a, TransA ? g.M : g.K, b, TransB ? g.K : g.N, g.C + m0 * g.N + n0, g.N,
                g.accumulate);
    return;
  }
  Strided c(g.C + m0 * g.N + n0, mb, nb, Eigen::OuterStride<>(g.N));
  // Stored blocks: A rows m0..m1 (or columns, when transposed), B columns n0..n1 (or rows).
  const ConstStrided a = TransA ? ConstStrided(g.A + m0, g.K, mb, Eigen::OuterStride<>(g.M))
                                : ConstStrided(g.A + m0 * g.K, mb, g.K, Eigen::OuterStride<>(g.K));
  const ConstStrided b = TransB ? ConstStrided(g.B + n0 * g.K, nb, g.K, Eigen::OuterStride<>(g.K))
                                : ConstStrided(g.B + n0, g.K, nb, Eigen::OuterStride<>(g.N));
  if constexpr (TransA && TransB) product_into(c, a.transpose(), b.transpose(), g.accumulate);
  else if constexpr (TransA) product_into(c, a.transpose(), b, g.accumulate);
  else if constexpr (TransB) product_into(c, a, b.transpose(), g.accumulate);
  else product_into(c, a, b, g.accumulate);
}

template <bool TransA, bool TransB>
void gemm_split(const GemmArgs& g) {
  const bool parallel = 2.0 * double(g.M) * double(g.N) * double(g.K) >= kGemmParallelFlops;
  if (!parallel) return gemm_block<TransA, TransB>(g, 0, g.M, 0, g.N);
  split_longer_side(g.M, g.N, [&](int64_t m0, int64_t m1, int64_t n0, int64_t n1) {
    gemm_block<TransA, TransB>(g, m0, m1, n0, n1);
  });
}

}  // namespace

void gemm(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, const float* A, const float* B, float* C,
          bool accumulate) {
  if (M == 0 || N == 0) return;
  if (K == 0) {  // an empty sum: C = 0 (or unchanged)
    if (!accumulate) std::fill_n(C, M * N, 0.0f);
    return;
  }
  const GemmArgs g{M, N, K, A, B, C, accumulate};
  if (trans_a && trans_b) gemm_split<true, true>(g);
  else if (trans_a) gemm_split<true, false>(g);
  else if (trans_b) gemm_split<false, true>(g);
  else gemm_split<false, false>(g);
}

void gemm_serial(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, const float* A, int64_t lda,
                 const float* B, int64_t ldb, float* C, int64_t ldc, bool accumulate) {
  if (M == 0 || N == 0) return;
  if (K == 0) {
    if (!accumulate)
      for (int64_t i = 0; i < M; ++i) std::fill_n(C + i * ldc, N, 0.0f);
    return;
  }
  if (gemm_packed_available() && !unpacked_suits(M, N, K)) gemm_packed(trans_a, trans_b, M, N, K, A, lda, B, ldb, C, ldc, accumulate);
  else unpacked_product(trans_a, trans_b, M, N, K, A, lda, B, ldb, C, ldc, accumulate);
}

}  // namespace raoq::ops::detail
