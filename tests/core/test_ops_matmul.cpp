// tests/core/test_ops_matmul.cpp — matmul (2-D, batched, batched a with a shared 2-D b) and
// linear: hand-computed values, a double-precision reference on shapes large enough for the
// parallel GEMM path, reproducibility, errors, gradient checks.
#include <cmath>

#include "core/autograd.h"
#include "core/error.h"
#include "core/ops.h"
#include "core/ops/detail/gemm.h"
#include "core/parallel.h"
#include "tests/support/testing.h"

using namespace raoq;
using Catch::Contains;

namespace {

// Restores the thread count when a test ends, even through a failed REQUIRE.
struct ThreadCountGuard {
  int saved = num_threads();
  ~ThreadCountGuard() { set_num_threads(saved); }
};

// Allowed |float - double| per element, in units of sqrt(K) (the typical size of a sum of K
// products of uniform [-1, 1] values): float rounding over K <= 900 terms stays near 1e-6 of that,
// while an indexing error would be O(1) of it.
constexpr double kGemmRelTol = 1e-5;

// y[i, j] = sum_k a[i, k] b[k, j] in double; a (M, K), b (K, N) given as row-major buffers.
std::vector<double> reference_product(const float* a, const float* b, int64_t M, int64_t K, int64_t N) {
  std::vector<double> y(size_t(M * N), 0.0);
  for (int64_t i = 0; i < M; ++i)
    for (int64_t k = 0; k < K; ++k)
      for (int64_t j = 0; j < N; ++j) y[size_t(i * N + j)] += double(a[i * K + k]) * double(b[k * N + j]);
  return y;
}

void require_close(const Tensor& got, const std::vector<double>& want, double scale) {
  REQUIRE(got.numel() == static_cast<int64_t>(want.size()));
  double worst = 0;
  for (size_t i = 0; i < want.size(); ++i) worst = std::max(worst, std::abs(double(got.data()[i]) - want[i]));
  INFO("worst abs error " << worst << " against scale " << scale);
  REQUIRE(worst <= kGemmRelTol * scale);
}

Tensor transpose_copy(const Tensor& t) { return ops::transpose(t.detach(), 0, 1); }

}  // namespace

TEST_CASE("matmul: hand-computed 2-D and batched products", "[core]") {
  Tensor a = Tensor::from_vector({1, 2, 3, 4, 5, 6}, {2, 3});
  Tensor b = Tensor::from_vector({7, 8, 9, 10, 11, 12}, {3, 2});
  Tensor y = ops::matmul(a, b);
  REQUIRE(y.shape() == Shape{2, 2});
  REQUIRE(y.to_vector() == std::vector<float>{58, 64, 139, 154});
  // Batched: batch 1 is batch 0 scaled by 2.
  Tensor ab = ops::concat({ops::reshape(a, {1, 2, 3}), ops::reshape(ops::scale(a, 2), {1, 2, 3})}, 0);
  Tensor bb = ops::concat({ops::reshape(b, {1, 3, 2}), ops::reshape(b, {1, 3, 2})}, 0);
  REQUIRE(ops::matmul(ab, bb).to_vector() == std::vector<float>{58, 64, 139, 154, 116, 128, 278, 308});
  // A 3-D a with a 2-D b: every batch times the same b.
  Tensor shared = ops::matmul(ab, b);
  REQUIRE(shared.shape() == Shape{2, 2, 2});
  REQUIRE(shared.to_vector() == std::vector<float>{58, 64, 139, 154, 116, 128, 278, 308});
}

TEST_CASE("linear: equals x w^T + b, with and without bias, over leading dimensions", "[core]") {
  Tensor x = Tensor::from_vector({1, 2, 3, 4, 5, 6}, {1, 2, 3});
  Tensor w = Tensor::from_vector({1, 0, -1, 2, 1, 0}, {2, 3});
  Tensor bias = Tensor::from_vector({0.5f, -1}, {2});
  Tensor y = ops::linear(x, w, bias);
  REQUIRE(y.shape() == Shape{1, 2, 2});
  REQUIRE(y.to_vector() == std::vector<float>{-1.5f, 3, -1.5f, 12});
  REQUIRE(ops::linear(x, w).to_vector() == std::vector<float>{-2, 4, -2, 13});
  REQUIRE(ops::linear(Tensor::from_vector({1, 1, 1}, {3}), w, bias).shape() == Shape{2});
}

TEST_CASE("matmul and linear: large shapes match a double reference, forward and backward", "[core]") {
  const ThreadCountGuard restore;
  set_num_threads(2);
  const int64_t M = 150, K = 300, N = 70;  // 6.3 MFLOP: above the parallel threshold
  Tensor x = testing::uniform({M, K}, -1, 1, 1), w = testing::uniform({N, K}, -1, 1, 2);
  Tensor bias = testing::uniform({N}, -1, 1, 3);
  Tensor dy = testing::uniform({M, N}, -1, 1, 4, false);
  Tensor y = ops::linear(x, w, bias);
  Tensor wt = transpose_copy(w);  // (K, N)
  std::vector<double> want = reference_product(x.data(), wt.data(), M, K, N);
  for (int64_t i = 0; i < M; ++i)
    for (int64_t j = 0; j < N; ++j) want[size_t(i * N + j)] += bias.data()[j];
  require_close(y, want, std::sqrt(double(K)));
  ops::sum(ops::mul(y, dy)).backward();
  require_close(x.grad(), reference_product(dy.data(), w.data(), M, N, K), std::sqrt(double(N)));   // dy w
  require_close(w.grad(), reference_product(transpose_copy(dy).data(), x.data(), N, M, K), std::sqrt(double(M)));
  std::vector<double> dbias(size_t(N), 0.0);
  for (int64_t i = 0; i < M; ++i)
    for (int64_t j = 0; j < N; ++j) dbias[size_t(j)] += dy.data()[i * N + j];
  require_close(bias.grad(), dbias, std::sqrt(double(M)));
  // Bitwise reproducible for a fixed thread count.
  const auto first = ops::linear(x, w, bias).to_vector();
  REQUIRE(first == ops::linear(x, w, bias).to_vector());
  // Wide and short (splits over N instead of M), through matmul.
  Tensor a = testing::uniform({8, 400}, -1, 1, 5, false), b = testing::uniform({400, 900}, -1, 1, 6, false);
  require_close(ops::matmul(a, b), reference_product(a.data(), b.data(), 8, 400, 900), std::sqrt(400.0));
}

TEST_CASE("matmul: large batches run in parallel and match a double reference", "[core]") {
  const ThreadCountGuard restore;
  set_num_threads(2);
  const int64_t B = 4, M = 100, K = 128, N = 100;  // 2.6 MFLOP per batch: two batches per thread
  Tensor a = testing::uniform({B, M, K}, -1, 1, 21), b = testing::uniform({B, K, N}, -1, 1, 22);
  Tensor dy = testing::uniform({B, M, N}, -1, 1, 23, false);
  Tensor y = ops::matmul(a, b);
  ops::sum(ops::mul(y, dy)).backward();
  for (int64_t i = 0; i < B; ++i) {
    INFO("batch " << i);
    auto batch = [i](const Tensor& t, int64_t r, int64_t c) { return ops::reshape(ops::slice(t.detach(), 0, i, i + 1), {r, c}); };
    const Tensor ai = batch(a, M, K), bi = batch(b, K, N), dyi = batch(dy, M, N);
    require_close(batch(y, M, N), reference_product(ai.data(), bi.data(), M, K, N), std::sqrt(double(K)));
    require_close(batch(a.grad(), M, K), reference_product(dyi.data(), transpose_copy(bi).data(), M, N, K),
                  std::sqrt(double(N)));
    require_close(batch(b.grad(), K, N), reference_product(transpose_copy(ai).data(), dyi.data(), K, M, N),
                  std::sqrt(double(M)));
  }
}

TEST_CASE("matmul: batched backward equals per-batch products", "[core]") {
  Tensor a = testing::uniform({3, 5, 4}, -1, 1, 7), b = testing::uniform({3, 4, 6}, -1, 1, 8);
  Tensor dy = testing::uniform({3, 5, 6}, -1, 1, 9, false);
  ops::sum(ops::mul(ops::matmul(a, b), dy)).backward();
  for (int64_t i = 0; i < 3; ++i) {
    Tensor ai = ops::slice(a.detach(), 0, i, i + 1), bi = ops::slice(b.detach(), 0, i, i + 1);
    Tensor dyi = ops::reshape(ops::slice(dy, 0, i, i + 1), {5, 6});
    Tensor da = ops::matmul(dyi, transpose_copy(ops::reshape(bi, {4, 6})));
    Tensor db = ops::matmul(transpose_copy(ops::reshape(ai, {5, 4})), dyi);
    for (int64_t e = 0; e < 20; ++e) REQUIRE(a.grad().data()[i * 20 + e] == Approx(da.data()[e]).margin(1e-5));
    for (int64_t e = 0; e < 24; ++e) REQUIRE(b.grad().data()[i * 24 + e] == Approx(db.data()[e]).margin(1e-5));
  }
}

TEST_CASE("matmul and linear errors name the op and both shapes", "[core]") {
  REQUIRE_THROWS_WITH(ops::matmul(Tensor::zeros({32, 784}), Tensor::zeros({512, 10})),
                      Contains("matmul: inner dimensions differ: a is [32, 784], b is [512, 10]"));
  REQUIRE_THROWS_WITH(ops::matmul(Tensor::zeros({2, 3, 4}), Tensor::zeros({3, 4, 5})),
                      Contains("matmul: batch dimensions differ: a is [2, 3, 4], b is [3, 4, 5]"));
  REQUIRE_THROWS_WITH(ops::matmul(Tensor::zeros({4}), Tensor::zeros({4, 2})), Contains("matmul: expects a (..., M, K)"));
  REQUIRE_THROWS_WITH(ops::linear(Tensor::zeros({8, 5}), Tensor::zeros({3, 4})),
                      Contains("linear: expects x (..., 4) for w [3, 4] (out, in), given x [8, 5]"));
  REQUIRE_THROWS_WITH(ops::linear(Tensor::zeros({8, 4}), Tensor::zeros({3, 4}), Tensor::zeros({4})),
                      Contains("linear: expects bias (3) for w [3, 4], given bias [4]"));
  REQUIRE_THROWS_WITH(ops::linear(Tensor::zeros({8, 4}), Tensor::zeros({12})), Contains("linear: expects w (out, in)"));
}

RAOQ_GRADCHECK_CASE("matmul", "2-D (3,4) x (4,5)", "[core]") {
  RAOQ_REQUIRE_GRADCHECK("matmul", [](const auto& in) { return ops::matmul(in[0], in[1]); },
                         {testing::uniform({3, 4}, -1, 1, 1), testing::uniform({4, 5}, -1, 1, 2)});
}
RAOQ_GRADCHECK_CASE("matmul", "batched (2,3,4) x (2,4,5) and (2,2,2,3) x (2,2,3,2)", "[core]") {
  RAOQ_REQUIRE_GRADCHECK("matmul", [](const auto& in) { return ops::matmul(in[0], in[1]); },
                         {testing::uniform({2, 3, 4}, -1, 1, 3), testing::uniform({2, 4, 5}, -1, 1, 4)});
  RAOQ_REQUIRE_GRADCHECK("matmul", [](const auto& in) { return ops::matmul(in[0], in[1]); },
                         {testing::uniform({2, 2, 2, 3}, -1, 1, 5), testing::uniform({2, 2, 3, 2}, -1, 1, 6)});
}
RAOQ_GRADCHECK_CASE("matmul", "3-D a with a shared 2-D b", "[core]") {
  RAOQ_REQUIRE_GRADCHECK("matmul", [](const auto& in) { return ops::matmul(in[0], in[1]); },
                         {testing::uniform({2, 3, 4}, -1, 1, 7), testing::uniform({4, 5}, -1, 1, 8)});
}
RAOQ_GRADCHECK_CASE("linear", "3-D x with bias, 2-D x without", "[core]") {
  RAOQ_REQUIRE_GRADCHECK("linear", [](const auto& in) { return ops::linear(in[0], in[1], in[2]); },
                         {testing::uniform({2, 3, 4}, -1, 1, 9), testing::uniform({5, 4}, -1, 1, 10),
                          testing::uniform({5}, -1, 1, 11)});
  RAOQ_REQUIRE_GRADCHECK("linear", [](const auto& in) { return ops::linear(in[0], in[1]); },
                         {testing::uniform({6, 4}, -1, 1, 12), testing::uniform({3, 4}, -1, 1, 13)});
}

TEST_CASE("gemm_serial and gemm_unpacked: every tile shape, op(A) transposed, accumulation, row lengths", "[core]") {
  // M covers full and partial row blocks (16 rows per one-vector tile, 14 per two), N partial vectors (masked
  // columns) and one- and two-vector panels; K = 1 and long reductions; C is a block of a wider
  // buffer (ldc > N) whose other columns must stay untouched.
  const int64_t shapes[][3] = {{1, 1, 1}, {16, 16, 16}, {17, 33, 5}, {29, 48, 64}, {14, 7, 300}, {40, 64, 1}, {3, 100, 20}, {35, 9, 12}};
  for (const auto& s : shapes)
    for (bool trans_a : {false, true})
      for (bool accumulate : {false, true}) {
        const int64_t M = s[0], N = s[1], K = s[2], ldc = N + 3;
        INFO("M " << M << " N " << N << " K " << K << " trans_a " << trans_a << " accumulate " << accumulate);
        const Tensor a = testing::uniform({M, K}, -1, 1, 11), b = testing::uniform({K, N}, -1, 1, 12);
        const Tensor at = transpose_copy(a);
        const Tensor c0 = testing::uniform({M, ldc}, -1, 1, 13);
        const std::vector<double> want = reference_product(a.data(), b.data(), M, K, N);
        const Tensor bt = transpose_copy(b);
        for (int kernel = 0; kernel < 3; ++kernel) {  // gemm_unpacked; gemm_serial with B plain, transposed
          Tensor c = c0.clone();
          const float* ap = trans_a ? at.data() : a.data();
          const int64_t lda = trans_a ? M : K;
          if (kernel == 0)
            ops::detail::gemm_unpacked(M, N, K, ap, trans_a ? 1 : lda, trans_a ? lda : 1, b.data(), N, c.data(), ldc,
                                       accumulate);
          else if (kernel == 1)
            ops::detail::gemm_serial(trans_a, false, M, N, K, ap, lda, b.data(), N, c.data(), ldc, accumulate);
          else
            ops::detail::gemm_serial(trans_a, true, M, N, K, ap, lda, bt.data(), K, c.data(), ldc, accumulate);
          double worst = 0;
          for (int64_t i = 0; i < M; ++i)
            for (int64_t j = 0; j < ldc; ++j) {
              const double before = c0.data()[i * ldc + j], got = c.data()[i * ldc + j];
              if (j >= N) {
                REQUIRE(got == before);  // outside the block
                continue;
              }
              const double expect = want[size_t(i * N + j)] + (accumulate ? before : 0.0);
              worst = std::max(worst, std::abs(got - expect));
            }
          INFO("kernel " << kernel << " worst abs error " << worst);
          REQUIRE(worst <= kGemmRelTol * std::sqrt(double(K)) + 1e-6);
        }
      }
}

TEST_CASE("gemm_unpacked: an A whose rows lie 4 KiB apart is copied first, to the same bits", "[core]") {
  // Rows of 1024 and 2048 floats take the copy (their rows share one L1 set); the same values
  // stored with rows of K + 5 floats are read in place. Both must give the same bits: the copy
  // changes where A is read from, not the sums. M = 31: two full row blocks and a partial one;
  // N = 16 (one-vector tiles) and 40 (two vectors, the last one masked); K < lda checks that only
  // K columns of each row are read.
  for (const int64_t lda : {int64_t(1024), int64_t(2048)})
    for (const int64_t N : {int64_t(16), int64_t(40)})
      for (bool accumulate : {false, true}) {
        const int64_t M = 31, K = lda - 24;
        INFO("lda " << lda << " N " << N << " accumulate " << accumulate);
        const Tensor wide = testing::uniform({M, lda}, -1, 1, 21), b = testing::uniform({K, N}, -1, 1, 22);
        Tensor tight = Tensor::empty({M, K + 5}), dense = Tensor::empty({M, K});
        for (int64_t i = 0; i < M; ++i) {
          std::copy(wide.data() + i * lda, wide.data() + i * lda + K, tight.data() + i * (K + 5));
          std::copy(wide.data() + i * lda, wide.data() + i * lda + K, dense.data() + i * K);
        }
        const Tensor c0 = testing::uniform({M, N}, -1, 1, 23);
        Tensor copied = c0.clone(), in_place = c0.clone();
        ops::detail::gemm_unpacked(M, N, K, wide.data(), lda, 1, b.data(), N, copied.data(), N, accumulate);
        ops::detail::gemm_unpacked(M, N, K, tight.data(), K + 5, 1, b.data(), N, in_place.data(), N, accumulate);
        REQUIRE(copied.to_vector() == in_place.to_vector());
        const std::vector<double> want = reference_product(dense.data(), b.data(), M, K, N);
        double worst = 0;
        for (int64_t i = 0; i < M * N; ++i)
          worst = std::max(worst, std::abs(copied.data()[i] - (want[size_t(i)] + (accumulate ? c0.data()[i] : 0.0))));
        REQUIRE(worst <= kGemmRelTol * std::sqrt(double(K)) + 1e-6);
      }
}
