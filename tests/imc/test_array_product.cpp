// tests/imc/test_array_product.cpp — the array product, matrix geometry: per-tile conversion, op ==
// plain-loop reference exactly on codes over sizes and configurations, A-shift exactness with the
// ADC off, bit slicing, code validation, noise, and the straight-through backward.
#include <cmath>

#include "core/error.h"
#include "core/parallel.h"
#include "core/rng.h"
#include "imc/array_product.h"
#include "imc/detail/bit_slice.h"
#include "imc/input_map.h"
#include "quant/ashift.h"
#include "tests/imc/imc_testing.h"
#include "tests/quant/backward_with.h"
#include "tests/support/testing.h"

using namespace raoq;
using namespace raoq::imc;
using raoq::testing::input_codes;
using raoq::testing::plain_product;
using raoq::testing::random_codes;
using raoq::testing::weight_codes;

TEST_CASE("array_product (matrix): K = 1152 uses 3 tiles, each converted on its own", "[imc]") {
  // Each tile's column sum is 48 (< D = 49): every tile converts to 0, so the product is 0.
  // Converting the digital sum 144 instead would give floor(144/49) * 49 = 98.
  AdcConfig c;
  const int64_t K = 1152;
  REQUIRE(row_tiles(c, K) == 3);
  Tensor xs = Tensor::zeros({1, K}), wq = Tensor::zeros({1, K});
  for (int64_t t = 0; t < 3; ++t)
    for (int64_t i = 0; i < 6; ++i) xs.data()[t * 512 + i] = -8, wq.data()[t * 512 + i] = -1;  // 6 * 8 = 48
  CHECK(array_product(xs, wq, c).item() == 0.0f);
  CHECK(array_product_reference(xs, wq, c).item() == 0.0f);
  c.enabled = false;
  CHECK(array_product(xs, wq, c).item() == 144.0f);
  c.rows = 2048;  // one tile holding all of K: floor(144 / 196) with D = 196
  c.enabled = true;
  CHECK(adc_step(c) == 196.0f);
  CHECK(array_product(xs, wq, c).item() == 0.0f);
}

TEST_CASE("array_product (matrix): column sums {0, 48, 49, -50, 25046} map to codes {0, 0, 1, -2, 127} (D = 49)", "[imc]") {
  // One tile (K = 512), one weight column: w[0] = 1, w[k >= 1] = 7, so row m sums to
  // xs[m,0] + 7 * sum_{k>=1} xs[m,k].
  const AdcConfig c;
  Tensor xs = Tensor::zeros({5, 512}), wq = Tensor::full({1, 512}, 7.0f);
  wq.data()[0] = 1;
  auto row = [&](int64_t m, float first, float rest, int64_t count) {
    xs.data()[m * 512] = first;
    for (int64_t k = 1; k <= count; ++k) xs.data()[m * 512 + k] = rest;
  };
  row(1, 6, 1, 6);     // 6 + 42 = 48
  row(2, 0, 1, 7);     // 49
  row(3, -8, -1, 6);   // -8 - 42 = -50
  row(4, 7, 7, 511);   // 7 + 7 * 7 * 511 = 25046: clipped
  c.validate();
  CHECK(array_product(xs, wq, AdcConfig{.enabled = false}).to_vector() == std::vector<float>{0, 48, 49, -50, 25046});
  CHECK(array_product(xs, wq, c).to_vector() == std::vector<float>{0, 0, 49, -2 * 49, 127 * 49});
}

TEST_CASE("array_product (matrix): fast == naive reference exactly on codes", "[imc]") {
  struct Size {
    int64_t M, K, N;
  };
  const Size sz = GENERATE(Size{1, 1, 1}, Size{3, 5, 2}, Size{7, 512, 5}, Size{5, 513, 3}, Size{9, 1152, 4},
                           Size{130, 1500, 7}, Size{2, 2600, 3});
  const int variant = GENERATE(0, 1, 2, 3, 4);
  AdcConfig c;
  if (variant == 1) c.signed_input = false;
  if (variant == 2) c.representation = Representation::minus_one_one;
  if (variant == 3) c.ba = 4, c.rows = 64;  // coarse ADC and short tiles: plenty of clipping
  if (variant == 4) c.k = 3;                // a D that is not an integer
  CAPTURE(sz.M, sz.K, sz.N, c);
  const Tensor xs = input_codes({sz.M, sz.K}, c, uint64_t(sz.K + variant));
  const Tensor wq = weight_codes({sz.N, sz.K}, c.bw, uint64_t(sz.M + 100 * variant));
  REQUIRE(array_product(xs, wq, c).to_vector() == array_product_reference(xs, wq, c).to_vector());
  c.enabled = false;
  REQUIRE(array_product(xs, wq, c).to_vector() == plain_product(xs, wq).to_vector());
}

TEST_CASE("array_product (matrix): with the ADC off, A-shifted product + digital offset == plain product", "[imc]") {
  const auto rep = GENERATE(Representation::zero_one, Representation::minus_one_one);
  AdcConfig c;
  c.representation = rep;
  c.enabled = false;
  const Tensor xq = random_codes({6, 1300}, 0, 15, 3);  // unsigned 4-bit activation codes
  const Tensor wq = weight_codes({5, 1300}, 4, 4);
  const quant::ShiftMap map = quant::a_shift_map(4, rep);
  const Tensor y = quant::ashift_correct(array_product(quant::a_shift(xq, map), wq, c), wq, map);
  REQUIRE(y.to_vector() == plain_product(xq, wq).to_vector());
}

TEST_CASE("bit slicing: slices recombine exactly and bit_sliced == direct with the ADC off", "[imc]") {
  const int variant = GENERATE(0, 1, 2);
  AdcConfig c;
  c.bx = c.bw = 8;
  c.rows = 256;
  if (variant == 1) c.signed_input = false;
  if (variant == 2) c.representation = Representation::minus_one_one;
  CAPTURE(c);
  const Tensor xs = input_codes({11, 700}, c, 5), wq = weight_codes({6, 700}, 8, 6);
  AdcConfig sliced = c;
  sliced.mapping = Mapping::bit_sliced;
  const imc::detail::Slices sx = imc::detail::slice_inputs(xs, sliced), sw = imc::detail::slice_weights(wq, sliced);
  CHECK(sx.parts.size() == 2);
  CHECK(sw.parts.size() == 3);
  for (int64_t e = 0; e < xs.numel(); e += 37) {
    float v = sx.offset, w = 0;
    for (size_t i = 0; i < sx.parts.size(); ++i) v += sx.factors[i] * sx.parts[i].data()[e];
    REQUIRE(v == xs.data()[e]);
    if (e < wq.numel()) {
      for (size_t j = 0; j < sw.parts.size(); ++j) w += sw.factors[j] * sw.parts[j].data()[e];
      REQUIRE(w == wq.data()[e]);
    }
  }
  AdcConfig native = sliced;
  native.bx = native.bw = 4;
  for (const Tensor& p : sx.parts) REQUIRE_NOTHROW(check_array_codes("test", p, sw.parts[0], native));
  c.enabled = sliced.enabled = false;
  REQUIRE(array_product(xs, wq, sliced).to_vector() == array_product(xs, wq, c).to_vector());
  sliced.enabled = true;
  REQUIRE(array_product(xs, wq, sliced).to_vector() == array_product_reference(xs, wq, sliced).to_vector());
}

TEST_CASE("array_product (matrix): codes the array does not accept are errors", "[imc]") {
  AdcConfig c;
  Tensor xs = Tensor::zeros({2, 3}), wq = Tensor::zeros({1, 3});
  xs.data()[4] = 8;  // signed 4-bit inputs stop at 7
  REQUIRE_THROWS_WITH(array_product(xs, wq, c), Catch::Contains("input code 8 at flat index 4"));
  xs.data()[4] = 0.5f;
  REQUIRE_THROWS_WITH(array_product(xs, wq, c), Catch::Contains("input code 0.5"));
  xs.data()[4] = 0;
  wq.data()[1] = -8;  // symmetric weights stop at -7
  REQUIRE_THROWS_WITH(array_product(xs, wq, c), Catch::Contains("weight code -8 at flat index 1"));
  wq.data()[1] = 0;
  c.representation = Representation::minus_one_one;  // -1/1 inputs are odd
  REQUIRE_THROWS_WITH(array_product(xs, wq, c), Catch::Contains("odd integers in [-15, 15]"));
  REQUIRE_THROWS_WITH(array_product(Tensor::zeros({2, 3}), Tensor::zeros({1, 4}), AdcConfig{}),
                      Catch::Contains("expected xs (M, K) and wq (N, K) with the same K"));
}

TEST_CASE("array_product (matrix): straight-through backward pinned against per-tile masks", "[imc]") {
  // rows = 2, K = 5: tiles {0,1}, {2,3}, {4}. ba = 3, k = 1: D = 2*2*7*7/8 = 24.5, range y/D in [-4, 3].
  AdcConfig c;
  c.rows = 2, c.ba = 3, c.k = 1;
  const float D = adc_step(c);
  REQUIRE(D == 24.5f);
  const Tensor xs = Tensor::from_vector({7, 7, 7, 7, 1, -8, -8, 3, -2, 5, 1, 2, -1, 0, 6}, {3, 5}).set_requires_grad(true);
  const Tensor wq = Tensor::from_vector({7, 7, -7, -7, 2, 1, 1, 3, -4, 7}, {2, 5}).set_requires_grad(true);
  const Tensor out = array_product(xs, wq, c);
  REQUIRE(out.to_vector() == array_product_reference(xs.detach(), wq.detach(), c).to_vector());
  const std::vector<float> g = {1, -2, 3, 0.5f, -1, 2};
  testing::backward_with(out, g);
  std::vector<float> dx(15, 0), dw(10, 0);
  for (int m = 0; m < 3; ++m)
    for (int n = 0; n < 2; ++n)
      for (int t = 0; t < 3; ++t) {
        float y = 0;
        for (int k = 2 * t; k < std::min(5, 2 * t + 2); ++k) y += xs.data()[m * 5 + k] * wq.data()[n * 5 + k];
        const bool inside = !adc_clipped(y, D, -4, 3);
        for (int k = 2 * t; k < std::min(5, 2 * t + 2); ++k) {
          dx[size_t(m * 5 + k)] += inside ? g[size_t(m * 2 + n)] * wq.data()[n * 5 + k] : 0;
          dw[size_t(n * 5 + k)] += inside ? g[size_t(m * 2 + n)] * xs.data()[m * 5 + k] : 0;
        }
      }
  CHECK(xs.grad().to_vector() == dx);
  CHECK(wq.grad().to_vector() == dw);
  // The case clips: row 0 tile 0 is 98 = 4 D in column 0 (outside), so some gradient is masked.
  CHECK(dx[0] == g[1] * 1.0f);
}

TEST_CASE("array_product (matrix): the straight-through backward split over two threads matches per-tile masks", "[imc]") {
  // M = 300 rows: two 256-row blocks of dx. K = 150 over 64-row tiles (64, 64, 22), a coarse ADC so
  // that some tiles clip and spans of one and of several tiles both occur. N = 200 > every span
  // width splits dw over its rows, N = 40 over its columns wherever a span is wider than 40.
  const int64_t N = GENERATE(int64_t(200), int64_t(40));
  const int64_t M = 300, K = 150, rows = 64;
  AdcConfig c;
  c.ba = 3, c.rows = rows, c.k = 8;  // D = 2 * 64 * 7 * 7 / (8 * 8) = 98: y/D in [-4, 3], about 2 sd
  const float D = adc_step(c);
  REQUIRE(D == 98.0f);
  const quant::CodeRange r = adc_codes(c.ba);
  const Tensor xs = input_codes({M, K}, c, 5).set_requires_grad(true);
  const Tensor wq = weight_codes({N, K}, c.bw, 6).set_requires_grad(true);
  const std::vector<float> g = raoq::testing::random_codes({M, N}, -4, 4, 7).to_vector();
  {
    const raoq::testing::ThreadCountGuard restore;
    set_num_threads(2);
    const Tensor out = array_product(xs, wq, c);
    raoq::testing::leave_nan_buffers({{M, K}, {N, K}});  // dx and dw are written, not cleared first
    testing::backward_with(out, g);
  }
  // The per-tile masks in double: dx[m, k] = sum_n g[m, n] w[n, k], dw[n, k] = sum_m g[m, n] x[m, k],
  // over the (m, n) whose tile sum of k's tile stayed inside the ADC range.
  const float *x = xs.data(), *w = wq.data();
  std::vector<double> dx(size_t(M * K), 0.0), dw(size_t(N * K), 0.0);
  int64_t clipped = 0;
  for (int64_t m = 0; m < M; ++m)
    for (int64_t n = 0; n < N; ++n)
      for (int64_t k0 = 0; k0 < K; k0 += rows) {
        const int64_t k1 = std::min(K, k0 + rows);
        float y = 0;
        for (int64_t k = k0; k < k1; ++k) y += x[m * K + k] * w[n * K + k];
        if (adc_clipped(y, D, r.lo, r.hi)) {
          ++clipped;
          continue;
        }
        for (int64_t k = k0; k < k1; ++k) {
          dx[size_t(m * K + k)] += double(g[size_t(m * N + n)]) * w[n * K + k];
          dw[size_t(n * K + k)] += double(g[size_t(m * N + n)]) * x[m * K + k];
        }
      }
  CAPTURE(N, clipped);
  REQUIRE(clipped > M * N * 3 / 100);  // at least 1% of the tile sums clip
  REQUIRE(clipped < M * N * 3 / 2);
  // The float sums run over at most 300 products of integers below 2^7 and gradients of at most 4:
  // exact until the partial sums pass 2^24, far above these. So equality, not a tolerance.
  const std::vector<float> gx = xs.grad().to_vector(), gw = wq.grad().to_vector();
  for (size_t i = 0; i < dx.size(); ++i) REQUIRE(double(gx[i]) == dx[i]);
  for (size_t i = 0; i < dw.size(); ++i) REQUIRE(double(gw[i]) == dw[i]);
}

RAOQ_GRADCHECK_CASE("array_product", "matrix, floor skipped, 3 tiles, two sums clipped", "[imc]") {
  AdcConfig c;
  c.rows = 4, c.ba = 3, c.k = 2;  // D = 2*4*7*7/(8*2) = 24.5; y/D in [-4, 3]
  const Tensor xs = Tensor::from_vector({6, 6, 6, 6, 6, -5, 3, -2, 1, -6, -6, -6, -6, 1, 4, 5, 1, -2, 3, 0},
                                        {2, 10}).set_requires_grad(true);
  const Tensor wq = Tensor::from_vector({6, 6, 6, 6, 1, 2, -3, 4, 2, 1, -5, 3, 2, -1, 6, -6, 1, 1, -2, 3, 1, 2, 3, 4, 5, 6,
                                         -6, -5, -4, 3},
                                        {3, 10}).set_requires_grad(true);
  // Codes stay inside their ranges under the stencil (|d| <= 0.02), and every tile sum stays at
  // least 0.15 D from a clip bound (checked here): a perturbation moves y/D by at most
  // 0.02 * 7 / 24.5 < 0.006, so no finite difference crosses a kink. Two sums (5.88, -4.16) are
  // clipped, so the zero part of the mask is checked too.
  int clipped = 0;
  for (int m = 0; m < 2; ++m)
    for (int n = 0; n < 3; ++n)
      for (int t = 0; t < 3; ++t) {
        float y = 0;
        for (int k = 4 * t; k < std::min(10, 4 * t + 4); ++k) y += xs.data()[m * 10 + k] * wq.data()[n * 10 + k];
        INFO("m " << m << " n " << n << " tile " << t << " y/D " << y / 24.5f);
        REQUIRE((std::fabs(y / 24.5f + 4) > 0.15f && std::fabs(y / 24.5f - 3) > 0.15f));
        clipped += adc_clipped(y, 24.5f, -4, 3);
      }
  REQUIRE(clipped == 2);
  ArrayProductOptions opt;
  opt.rounding = Rounding::skip;
  RAOQ_REQUIRE_GRADCHECK(
      "array_product",
      [c, opt](const std::vector<Tensor>& in) { return array_product(in[0], in[1], c, ArrayGeometry::matrix(), opt); },
      {xs, wq});
}

TEST_CASE("array_product (matrix): analog noise is reproducible from the generator and sized in code / D units", "[imc]") {
  AdcConfig c;
  c.enabled = false;
  c.output_noise = 0.5f;  // std 0.5 D per tile
  const Tensor xs = input_codes({256, 1024}, c, 8), wq = weight_codes({16, 1024}, 4, 9);
  const Tensor a = testing::noisy_product_at_any_thread_count(xs, wq, c, ArrayGeometry::matrix());
  const Tensor exact = plain_product(xs, wq);
  double var = 0;
  for (int64_t i = 0; i < a.numel(); ++i) var += std::pow(double(a.data()[i]) - exact.data()[i], 2) / double(a.numel());
  // two tiles, each N(0, (0.5 * 49)^2): variance 2 * 600.25
  CHECK(var == Approx(2 * 600.25).epsilon(0.1));
  c.output_noise = 0;
  c.weight_noise = 0.25f;
  Generator g3(5);
  ArrayProductOptions o3;
  o3.noise = &g3;
  const Tensor n3 = array_product(xs, wq, c, ArrayGeometry::matrix(), o3);
  REQUIRE(n3.to_vector() != exact.to_vector());
  REQUIRE_THROWS_WITH(array_product_reference(xs, wq, c), Catch::Contains("no analog noise"));
}
