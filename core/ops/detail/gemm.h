// core/ops/detail/gemm.h — internal: the one matrix-product kernel of the core ops.
//
// Every product in matmul.cpp goes through gemm(): row-major buffers in, transposed operands read
// in place by the packing (ours, or Eigen's through Maps with .noalias()). Not a public header.
#pragma once

#include <cstdint>

namespace raoq::ops::detail {

// C (M, N) (= or +=) op(A) op(B), every buffer row-major and contiguous, where
//   op(A) is (M, K): A stored as (M, K), or, when trans_a, A stored as (K, M) and transposed;
//   op(B) is (K, N): B stored as (K, N), or, when trans_b, B stored as (N, K) and transposed.
// requires: C does not overlap A or B.
// Large products split the longer of M and N into num_threads() fixed blocks, one single-threaded
// GEMM each (EIGEN_DONT_PARALLELIZE). Every output element is computed by exactly one block, so
// results are bitwise reproducible for a fixed thread count (with the packed kernel, at any count).
// Inside another parallel region (e.g. a batch loop) it runs serially.
void gemm(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, const float* A, const float* B, float* C,
          bool accumulate);

// The single-threaded packed kernel behind gemm() on AVX-512 (gemm_packed.cpp): the same product
// with explicit row lengths (lda, ldb, ldc: the stored rows' lengths, so a block of a larger
// matrix can be passed). gemm_packed_available() is false where the build has no AVX-512, and
// gemm() then uses Eigen's product.
bool gemm_packed_available();
void gemm_packed(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, const float* A, int64_t lda,
                 const float* B, int64_t ldb, float* C, int64_t ldc, bool accumulate);

// C (M, N) (= or +=) A B for narrow products read in place, without packing (gemm_unpacked.cpp):
// A[i, k] at A[i * a_row + k * a_k] (a_row = K, a_k = 1 for a row-major A; a_row = 1, a_k = M for
// one stored transposed), B (K, N) row-major with row length ldb, C with row length ldc. Meant for
// B of at most kUnpackedMaxB floats (gemm_serial and gemm() choose it). Single-threaded.
void gemm_unpacked(int64_t M, int64_t N, int64_t K, const float* A, int64_t a_row, int64_t a_k, const float* B,
                   int64_t ldb, float* C, int64_t ldc, bool accumulate);

// C (M, N) (= or +=) op(A) op(B) on this thread, for the per-image products of a batch loop (conv2d,
// Winograd, attention's per-head products) and for each block of gemm(): gemm_unpacked while B
// (K x N) fits in the caches (kUnpackedMaxB floats; a B stored transposed is first transposed into
// a per-thread buffer) unless the product is also tall and wide (M >= 1024, N >= 512), the packed
// kernel (or, without AVX-512, Eigen) otherwise. op(A), op(B) as in
// gemm(); lda, ldb, ldc are the stored rows' lengths.
constexpr int64_t kUnpackedMaxB = int64_t(1) << 19;
void gemm_serial(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, const float* A, int64_t lda,
                 const float* B, int64_t ldb, float* C, int64_t ldc, bool accumulate);

// Work below which gemm() does not start threads: about 30 us of single-thread GEMM, several
// times the cost of a parallel region.
constexpr double kGemmParallelFlops = 4.0e6;

}  // namespace raoq::ops::detail
