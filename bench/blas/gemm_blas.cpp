// bench/blas/gemm_blas.cpp — raoq's GEMM (core/ops: its packed AVX-512 kernel, or Eigen's product for
// products with few columns), raoq's per-image GEMM of the convolutions (gemm_serial: the unpacked
// kernel while B fits the caches), Eigen's product alone, and
// the single-threaded BLAS this program is linked with (Debian's serial OpenBLAS or BLIS), on the
// benchmark GEMMs and the shapes the models run, one thread. One JSON line per (shape, impl):
// {"name", "impl", "threads", "median_ms", "min_ms", "gflops"} (median of 15 after 3 warm-ups).
// Built only when the library is installed (bench/CMakeLists.txt); raoq itself never links a BLAS.
#include <Eigen/Core>

#include "core/ops/detail/gemm.h"
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <functional>
#include <string>
#include <vector>

extern "C" void sgemm_(const char*, const char*, const int*, const int*, const int*, const float*, const float*,
                       const int*, const float*, const int*, const float*, float*, const int*);

#ifndef RAOQ_BLAS_NAME
#define RAOQ_BLAS_NAME "blas"
#endif

namespace {

using Mat = Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;

struct Shape {
  const char* what;  // where the model runs it
  int M, N, K;       // C (M x N) = op(A) (M x K) B (K x N), row-major
  // A stored (K, M) and read transposed: the backward's products over tiles or tokens
  // (Winograd's dU = V^T dM, a weight gradient x^T dy).
  bool a_transposed = false;
};

void report(const Shape& s, const char* impl, const std::function<void()>& fn) {
  for (int i = 0; i < 3; ++i) fn();
  std::vector<double> ms;
  for (int i = 0; i < 15; ++i) {
    const auto t0 = std::chrono::steady_clock::now();
    fn();
    ms.push_back(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count());
  }
  std::sort(ms.begin(), ms.end());
  const double median = ms[ms.size() / 2];
  std::printf(
      "{\"name\": \"gemm/%dx%dx%d\", \"what\": \"%s\", \"impl\": \"%s\", \"threads\": 1, \"median_ms\": %.4f, "
      "\"min_ms\": %.4f, \"gflops\": %.1f}\n",
      s.M, s.K, s.N, s.what, impl, median, ms.front(), 2.0 * s.M * s.N * s.K / (median * 1e6));
  std::fflush(stdout);
}

}  // namespace

int main() {
  const std::vector<Shape> shapes = {
      {"benchmark", 512, 512, 512},
      {"benchmark", 4096, 2048, 512},
      {"cnn-small features.1 as im2col", 64, 784, 288},
      {"cnn-small features.3 as im2col", 64, 196, 576},
      {"cnn-small features.4 as im2col", 128, 196, 576},
      {"cnn-small features.6 as im2col", 128, 49, 1152},
      {"resnet20 stage-1 conv as im2col (16 channels, 32x32)", 16, 1024, 144},
      {"resnet20 stage-3 conv as im2col (64 channels, 8x8)", 64, 64, 576},
      {"resnet20 Winograd product, 16 channels (T = 512 tiles x C -> K)", 512, 16, 16},
      {"resnet20 Winograd product, 32 channels", 256, 32, 32},
      {"resnet20 Winograd product, 64 channels", 128, 64, 64},
      {"resnet20 stride-2 conv 16 -> 32 (W x im2col)", 32, 256, 144},
      {"resnet20 stride-2 conv 32 -> 64", 64, 64, 288},
      {"cnn-small features.1 Winograd product (32 -> 64, 28x28)", 196, 64, 32},
      {"cnn-small features.3 Winograd product (64 -> 64, 14x14)", 98, 64, 64},
      {"cnn-small features.4 Winograd product (64 -> 128)", 49, 128, 64},
      {"cnn-small features.6 Winograd product (128 -> 128, 7x7)", 64, 128, 128},
      {"gpt-tiny qkv (32 x 128 tokens)", 4096, 768, 256},
      {"gpt-tiny fc1", 4096, 1024, 256},
      {"gpt-tiny fc2", 4096, 256, 1024},
      {"gpt-tiny Q K^T per head", 128, 128, 64},
      {"resnet20 Winograd dU = V^T dM, 16 channels (512 tiles)", 16, 16, 512, true},
      {"resnet20 Winograd dU, 32 channels", 32, 32, 256, true},
      {"resnet20 Winograd dU, 64 channels", 64, 64, 128, true},
      {"cnn-small features.1 Winograd dU (32 -> 64)", 32, 64, 196, true},
      {"cnn-small features.3 Winograd dU (64 -> 64)", 64, 64, 98, true},
      {"cnn-small features.4 Winograd dU (64 -> 128)", 64, 128, 49, true},
      {"cnn-small features.6 Winograd dU (128 -> 128)", 128, 128, 64, true},
  };
  for (const Shape& s : shapes) {
    const bool ta = s.a_transposed;
    // A as stored: (M, K), or (K, M) when read transposed.
    Mat A = ta ? Mat::Random(s.K, s.M) : Mat::Random(s.M, s.K), B = Mat::Random(s.K, s.N), C(s.M, s.N);
    report(s, "eigen", [&] {
      if (ta) C.noalias() = A.transpose() * B;
      else C.noalias() = A * B;
    });
    report(s, "raoq", [&] { raoq::ops::detail::gemm(ta, false, s.M, s.N, s.K, A.data(), B.data(), C.data(), false); });
    report(s, "raoq-serial", [&] {
      raoq::ops::detail::gemm_serial(ta, false, s.M, s.N, s.K, A.data(), ta ? s.M : s.K, B.data(), s.N, C.data(), s.N,
                                     false);
    });
    // The layout a Linear layer runs: x (M, K) times W^T, W stored (N, K).
    Mat W = B.transpose();
    report(s, "raoq-trans-b", [&] { raoq::ops::detail::gemm(ta, true, s.M, s.N, s.K, A.data(), W.data(), C.data(), false); });
    const float one = 1, zero = 0;
    // Row-major C = op(A) B is column-major C^T = B^T op(A)^T; a row-major A stored (K, M) is
    // column-major (M, K), so op(A)^T is that read transposed.
    const int lda = ta ? s.M : s.K;
    report(s, RAOQ_BLAS_NAME, [&] {
      sgemm_("N", ta ? "T" : "N", &s.N, &s.M, &s.K, &one, B.data(), &s.N, A.data(), &lda, &zero, C.data(), &s.N);
    });
  }
}
