// tests/imc/test_array_winograd.cpp — the building blocks of the array product's Winograd path:
// the 8-bit VNNI product (detail/gemm_int8.h) against its plain loop, and the Winograd range sums (one
// partial convolution per row tile) against direct sums, with 8-bit and with float GEMMs.
// On integer operands all of these are exact, so every comparison is equality.
#include <cstdint>
#include <vector>

#include "core/ops/detail/kernels_winograd.h"
#include "core/rng.h"
#include "imc/detail/array_winograd.h"
#include "imc/detail/gemm_int8.h"
#include "tests/support/testing.h"

using namespace raoq;
using namespace raoq::imc::detail;

namespace {
std::vector<float> integers(int64_t n, int lo, int hi, uint64_t seed) {
  Generator gen(seed);
  std::vector<float> v(static_cast<size_t>(n));
  for (float& x : v) x = float(lo + int(gen.below(uint64_t(hi - lo + 1))));
  return v;
}
}  // namespace

TEST_CASE("gemm_u8s8: the VNNI kernel equals the plain loop exactly, at every tail size", "[imc]") {
  uint64_t seed = 1;
  for (int64_t M : {1, 2, 3, 4, 5, 7, 13})
    for (int64_t N : {16, 32, 48, 64, 80, 128})
      for (int64_t K : {1, 3, 4, 5, 57, 64}) {
        CAPTURE(M, N, K);
        const int64_t lda = (K + 3) / 4 * 4 + 3;  // rows padded past the last group of four
        Generator gen(++seed);
        std::vector<uint8_t> a(static_cast<size_t>(M * lda));
        for (auto& v : a) v = static_cast<uint8_t>(gen.below(256));
        const std::vector<float> b = integers(K * N, -127, 127, ++seed);
        const PackedS8 p = pack_s8(b.data(), K, N, 1.0f);
        std::vector<float> fast(static_cast<size_t>(M * N)), ref(fast.size());
        gemm_u8s8(a.data(), lda, M, p, 0.25f, fast.data(), N);
        gemm_u8s8_reference(a.data(), lda, M, p, 0.25f, ref.data(), N);
        REQUIRE(fast == ref);
        // The reference itself: the signed product, exactly.
        for (int64_t m = 0; m < M; ++m)
          for (int64_t n = 0; n < N; ++n) {
            double s = 0;
            for (int64_t k = 0; k < K; ++k) s += (double(a[size_t(m * lda + k)]) - 128) * b[size_t(k * N + n)];
            REQUIRE(ref[size_t(m * N + n)] == float(0.25 * s));
          }
      }
}

TEST_CASE("winograd_range_sums: each range is the exact sum over its rows, with 8-bit and with float GEMMs", "[imc]") {
  const int64_t pad = GENERATE(0, 1);
  const int64_t rows = GENERATE(5, 40, 64, 512);  // tiles inside a channel, across channels, one tile
  const int64_t C = 20, K = 32, N = 2, H = 7, W = 6;
  CAPTURE(pad, rows);
  ConvGeometry g;
  g.n = N, g.c_in = C, g.h = H, g.w = W, g.c_out = K, g.kh = g.kw = 3, g.padding = pad;
  g.ho = H + 2 * pad - 2, g.wo = W + 2 * pad - 2;
  REQUIRE(ops::detail::winograd_applies(g));
  const std::vector<float> x = integers(N * C * H * W, -8, 7, 11), w = integers(K * C * 9, -7, 7, 12);
  const IntegerOperands bounds{8, 7};
  REQUIRE(winograd_range_bound(g, rows, 7, 8) < 16777216.0);
  const int64_t P = g.ho * g.wo, T = (C * 9 + rows - 1) / rows;
  std::vector<float> by_float(size_t(N * T * K * P), -1.0f), by_int8(by_float);
  auto sink = [&](std::vector<float>& out) {
    return [&out, T, K, P](int64_t n, int64_t t, float* z) { std::copy(z, z + K * P, out.begin() + (n * T + t) * K * P); };
  };
  winograd_range_sums(x.data(), w.data(), g, rows, sink(by_float));
  winograd_range_sums(x.data(), w.data(), g, rows, sink(by_int8), &bounds);
  CHECK(winograd_int8_applies(g, bounds) == gemm_u8s8_vectorised());
  for (int64_t n = 0; n < N; ++n)
    for (int64_t t = 0; t < T; ++t)
      for (int64_t k = 0; k < K; ++k)
        for (int64_t p = 0; p < P; ++p) {
          float s = 0;  // integers: the direct sum is exact too
          for (int64_t r = t * rows; r < std::min(C * 9, (t + 1) * rows); ++r) {
            const int64_t c = r / 9, ih = p / g.wo - pad + (r / 3) % 3, iw = p % g.wo - pad + r % 3;
            if (ih >= 0 && ih < H && iw >= 0 && iw < W) s += x[size_t(((n * C + c) * H + ih) * W + iw)] * w[size_t(k * C * 9 + r)];
          }
          const size_t at = size_t(((n * T + t) * K + k) * P + p);
          REQUIRE(by_float[at] == s);
          REQUIRE(by_int8[at] == s);
        }
}
