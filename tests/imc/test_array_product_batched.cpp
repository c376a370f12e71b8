// tests/imc/test_array_product_batched.cpp — the array product, batched geometry (attention's
// Q K^T): every group tiled and converted on its own (== the matrix geometry on that group, == the
// plain-loop reference), exact sums with the ADC off and at ba 16, the gradients of the plain
// batched matmul bit for bit with the ADC off, the straight-through backward pinned, code
// validation, noise, and the gradient check.
#include <cmath>

#include "core/ops.h"
#include "core/parallel.h"
#include "core/rng.h"
#include "imc/array_product.h"
#include "tests/imc/imc_testing.h"
#include "tests/quant/backward_with.h"
#include "tests/support/testing.h"

using namespace raoq;
using namespace raoq::imc;
using raoq::testing::input_codes;
using raoq::testing::plain_product;
using raoq::testing::random_codes;
using raoq::testing::weight_codes;

namespace {
// Group g of a (G, R, C) tensor, as an (R, C) tensor of its own.
Tensor group(const Tensor& t, int64_t g) {
  const int64_t R = t.size(1), C = t.size(2);
  std::vector<float> v(t.data() + g * R * C, t.data() + (g + 1) * R * C);
  return Tensor::from_vector(v, {R, C});
}
struct Size {
  int64_t G, M, K, N;
};
}  // namespace

TEST_CASE("array_product (batched): each group is its own tiled product; fast == naive reference exactly", "[imc]") {
  const Size sz = GENERATE(Size{1, 1, 1, 1}, Size{3, 4, 5, 4}, Size{6, 9, 16, 9}, Size{2, 7, 513, 3}, Size{5, 130, 64, 70});
  const int variant = GENERATE(0, 1, 2, 3, 4);
  AdcConfig c;
  if (variant == 1) c.signed_input = false;
  if (variant == 2) c.representation = Representation::minus_one_one;
  if (variant == 3) c.ba = 4, c.rows = 8;  // coarse ADC and short tiles: plenty of clipping
  if (variant == 4) c.bx = c.bw = 8, c.mapping = Mapping::bit_sliced, c.rows = 32;
  CAPTURE(sz.G, sz.M, sz.K, sz.N, c);
  const Tensor xs = input_codes({sz.G, sz.M, sz.K}, c, uint64_t(sz.K + variant));
  const Tensor wq = weight_codes({sz.G, sz.N, sz.K}, c.bw, uint64_t(sz.M + 100 * variant));
  const Tensor out = array_product(xs, wq, c, ArrayGeometry::batched());
  REQUIRE(out.shape() == Shape{sz.G, sz.M, sz.N});
  REQUIRE(out.to_vector() == array_product_reference(xs, wq, c, ArrayGeometry::batched()).to_vector());
  for (int64_t g = 0; g < sz.G; ++g)
    REQUIRE(group(out, g).to_vector() == array_product(group(xs, g), group(wq, g), c).to_vector());
  c.enabled = false;
  const Tensor exact = array_product(xs, wq, c, ArrayGeometry::batched());
  for (int64_t g = 0; g < sz.G; ++g) REQUIRE(group(exact, g).to_vector() == plain_product(group(xs, g), group(wq, g)).to_vector());
}

TEST_CASE("array_product (batched): at ba 16 with k = 49 the ADC returns the exact tile sums", "[imc]") {
  // D = 2 rows 7 7 / (2^16 49) = rows / 2^15, a power of two, so D floor(y / D) = y for every whole
  // y, and the range [-2^15 D, (2^15 - 1) D] = [-rows, rows) holds every sum below.
  AdcConfig c;
  c.ba = 16, c.k = 49;
  SECTION("one tile of 512 rows, every code: |y| <= 8 * 8 * 7 = 448 < 512") {
    REQUIRE(adc_step(c) == 1.0f / 64);
    const Tensor xs = input_codes({3, 7, 8}, c, 1), wq = weight_codes({3, 5, 8}, 4, 2);
    const Tensor out = array_product(xs, wq, c, ArrayGeometry::batched());
    for (int64_t g = 0; g < 3; ++g) REQUIRE(group(out, g).to_vector() == plain_product(group(xs, g), group(wq, g)).to_vector());
  }
  SECTION("three tiles of 64 rows, codes in [-1, 1]: |y| <= 64 per tile") {
    c.rows = 64;
    REQUIRE(adc_step(c) == 1.0f / 512);
    const Tensor xs = random_codes({4, 6, 150}, -1, 1, 3), wq = random_codes({4, 9, 150}, -1, 1, 4);
    const Tensor out = array_product(xs, wq, c, ArrayGeometry::batched());
    for (int64_t g = 0; g < 4; ++g) REQUIRE(group(out, g).to_vector() == plain_product(group(xs, g), group(wq, g)).to_vector());
  }
}

TEST_CASE("array_product (batched): with the ADC off, forward and gradients are ops::matmul(xs, wq^T)'s bit for bit", "[imc]") {
  // Real-valued upstream gradients, so the sums in the backward round: equality needs the same GEMMs.
  // Sizes: tiny groups (one thread), big groups (each GEMM split over threads), K over two tiles.
  const Size sz = GENERATE(Size{1, 1, 1, 1}, Size{6, 5, 8, 5}, Size{4, 33, 64, 33}, Size{2, 300, 64, 300}, Size{3, 20, 600, 17});
  CAPTURE(sz.G, sz.M, sz.K, sz.N);
  AdcConfig c;
  c.enabled = false;
  const Tensor xs = input_codes({sz.G, sz.M, sz.K}, c, 5).set_requires_grad(true);
  const Tensor wq = weight_codes({sz.G, sz.N, sz.K}, 4, 6).set_requires_grad(true);
  const Tensor xs2 = xs.detach().clone().set_requires_grad(true), wq2 = wq.detach().clone().set_requires_grad(true);
  const Tensor dout = testing::uniform({sz.G, sz.M, sz.N}, -1.0f, 1.0f, 7, false);
  const Tensor a = array_product(xs, wq, c, ArrayGeometry::batched());
  const Tensor b = ops::matmul(xs2, ops::transpose(wq2, 1, 2));
  REQUIRE(a.to_vector() == b.to_vector());
  testing::backward_with(a, dout.to_vector());
  testing::backward_with(b, dout.to_vector());
  REQUIRE(xs.grad().to_vector() == xs2.grad().to_vector());
  REQUIRE(wq.grad().to_vector() == wq2.grad().to_vector());
}

TEST_CASE("array_product (batched): straight-through backward pinned against each group's per-tile masks", "[imc]") {
  // rows = 2, K = 5: tiles {0,1}, {2,3}, {4}. ba = 3, k = 1: D = 24.5, y/D in [-4, 3]. Whole-number
  // upstream gradients: every sum is exact, whatever its order.
  AdcConfig c;
  c.rows = 2, c.ba = 3, c.k = 1;
  const float D = adc_step(c);
  const int64_t G = 3, M = 2, K = 5, N = 2;
  const Tensor xs = Tensor::from_vector({7, 7, 7, 7, 1, -8, -8, 3, -2, 5, 1, 2, -1, 0, 6, 7, 7, -8, -8, 7,
                                         -3, 2, 1, 1, 0, 4, 4, 4, 4, 4},
                                        {G, M, K}).set_requires_grad(true);
  const Tensor wq = Tensor::from_vector({7, 7, -7, -7, 2, 1, 1, 3, -4, 7, 7, 7, 7, 7, 7, -7, -7, 6, 6, -1,
                                         1, -1, 2, -2, 3, 7, 7, 7, 7, 7},
                                        {G, N, K}).set_requires_grad(true);
  const Tensor out = array_product(xs, wq, c, ArrayGeometry::batched());
  REQUIRE(out.to_vector() == array_product_reference(xs.detach(), wq.detach(), c, ArrayGeometry::batched()).to_vector());
  const std::vector<float> g = {1, -2, 3, 1, -1, 2, 2, 1, -3, 1, 1, 4};
  testing::backward_with(out, g);
  std::vector<float> dx(size_t(G * M * K), 0), dw(size_t(G * N * K), 0);
  int clipped = 0;
  for (int64_t b = 0; b < G; ++b)
    for (int64_t m = 0; m < M; ++m)
      for (int64_t n = 0; n < N; ++n)
        for (int64_t t = 0; t < 3; ++t) {
          const auto x_at = [&](int64_t k) { return size_t((b * M + m) * K + k); };
          const auto w_at = [&](int64_t k) { return size_t((b * N + n) * K + k); };
          float y = 0;
          for (int64_t k = 2 * t; k < std::min<int64_t>(5, 2 * t + 2); ++k) y += xs.data()[x_at(k)] * wq.data()[w_at(k)];
          const bool inside = !adc_clipped(y, D, -4, 3);
          clipped += !inside;
          const float gv = g[size_t((b * M + m) * N + n)];
          for (int64_t k = 2 * t; k < std::min<int64_t>(5, 2 * t + 2); ++k) {
            dx[x_at(k)] += inside ? gv * wq.data()[w_at(k)] : 0;
            dw[w_at(k)] += inside ? gv * xs.data()[x_at(k)] : 0;
          }
        }
  REQUIRE(clipped == 4);  // two in group 0 and two in group 1 (the masked path), none in group 2 (the GEMM path)
  CHECK(xs.grad().to_vector() == dx);
  CHECK(wq.grad().to_vector() == dw);
}

TEST_CASE("array_product (batched): shapes and codes the array does not accept are errors", "[imc]") {
  const AdcConfig c;
  const auto batched = ArrayGeometry::batched();
  REQUIRE_THROWS_WITH(array_product(Tensor::zeros({2, 3, 4}), Tensor::zeros({3, 3, 4}), c, batched),
                      Catch::Contains("expected xs (G, M, K) and wq (G, N, K) with the same G and K"));
  REQUIRE_THROWS_WITH(array_product(Tensor::zeros({2, 3, 4}), Tensor::zeros({2, 3, 5}), c, batched),
                      Catch::Contains("with the same G and K"));
  REQUIRE_THROWS_WITH(array_product(Tensor::zeros({2, 4}), Tensor::zeros({2, 4}), c, batched),
                      Catch::Contains("expected xs (G, M, K)"));
  Tensor xs = Tensor::zeros({2, 3, 4}), wq = Tensor::zeros({2, 1, 4});
  wq.data()[6] = -8;  // the stored operand is in the weight range: -7 .. 7
  REQUIRE_THROWS_WITH(array_product(xs, wq, c, batched), Catch::Contains("weight code -8 at flat index 6"));
  wq.data()[6] = 0;
  xs.data()[13] = 8;
  REQUIRE_THROWS_WITH(array_product(xs, wq, c, batched), Catch::Contains("input code 8 at flat index 13"));
}

TEST_CASE("array_product (batched): analog noise is reproducible and does not depend on the thread count", "[imc]") {
  AdcConfig c;
  c.output_noise = 0.5f, c.weight_noise = 0.1f;
  const Tensor xs = input_codes({6, 40, 64}, c, 8), wq = weight_codes({6, 40, 64}, 4, 9);
  const Tensor a = testing::noisy_product_at_any_thread_count(xs, wq, c, ArrayGeometry::batched());
  c.output_noise = c.weight_noise = 0;
  REQUIRE(a.to_vector() != array_product(xs, wq, c, ArrayGeometry::batched()).to_vector());
}

RAOQ_GRADCHECK_CASE("array_product", "batched, floor skipped, 3 tiles, two sums clipped", "[imc]") {
  // The matrix case's operands split into two groups (group g: row g of xs against the same three
  // weight columns): every tile sum stays at least 0.15 D from a clip bound and two are clipped
  // (checked in the matrix case), so no finite difference crosses a kink.
  AdcConfig c;
  c.rows = 4, c.ba = 3, c.k = 2;  // D = 24.5; y/D in [-4, 3]
  const std::vector<float> x = {6, 6, 6, 6, 6, -5, 3, -2, 1, -6, -6, -6, -6, 1, 4, 5, 1, -2, 3, 0};
  const std::vector<float> w = {6, 6, 6, 6, 1, 2, -3, 4, 2, 1, -5, 3, 2, -1, 6, -6, 1, 1, -2, 3,
                                1, 2, 3, 4, 5, 6, -6, -5, -4, 3};
  std::vector<float> w2 = w;
  w2.insert(w2.end(), w.begin(), w.end());
  const Tensor xs = Tensor::from_vector(x, {2, 1, 10}).set_requires_grad(true);
  const Tensor wq = Tensor::from_vector(w2, {2, 3, 10}).set_requires_grad(true);
  ArrayProductOptions opt;
  opt.rounding = Rounding::skip;
  RAOQ_REQUIRE_GRADCHECK(
      "array_product",
      [c, opt](const std::vector<Tensor>& in) { return array_product(in[0], in[1], c, ArrayGeometry::batched(), opt); },
      {xs, wq});
}
