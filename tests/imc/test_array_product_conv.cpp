// tests/imc/test_array_product_conv.cpp — the array product, patches geometry (a convolution): op ==
// plain-loop reference exactly on codes (padding, stride, dilation, bit slicing), the gradient
// check, the backward against the matrix geometry's on the patches, and the Winograd path.
#include <cmath>

#include "core/ops.h"
#include "core/rng.h"
#include "imc/array_product.h"
#include "imc/input_map.h"
#include "quant/ashift.h"
#include "tests/imc/imc_testing.h"
#include "tests/quant/backward_with.h"
#include "tests/support/testing.h"

using namespace raoq;
using namespace raoq::imc;
using raoq::testing::input_codes;
using raoq::testing::random_codes;
using raoq::testing::weight_codes;

TEST_CASE("array_product (patches): op == plain-loop reference exactly, and == the plain convolution with the ADC off", "[imc]") {
  const int variant = GENERATE(0, 1, 2, 3, 4);
  const ops::Conv2dOptions o = GENERATE(ops::Conv2dOptions{.stride = 1, .padding = 1},
                                        ops::Conv2dOptions{.stride = 2, .padding = 0},
                                        ops::Conv2dOptions{.stride = 1, .padding = 2, .dilation = 2});
  AdcConfig c;
  c.rows = 8;  // K = 3*3*3 = 27: four row tiles
  c.ba = 5;
  if (variant == 1) c.signed_input = false;
  if (variant == 2) c.representation = Representation::minus_one_one;
  if (variant == 3) c.rows = 512;
  if (variant == 4) c.bx = c.bw = 8, c.mapping = Mapping::bit_sliced;
  CAPTURE(variant, o.stride, o.padding, o.dilation);
  const Tensor xs = input_codes({2, 3, 6, 5}, c, 11 + variant);
  const Tensor wq = weight_codes({4, 3, 3, 3}, c.bw, 12 + variant);
  const ArrayGeometry geometry = ArrayGeometry::patches(o);
  const Tensor fast = array_product(xs, wq, c, geometry);
  REQUIRE(fast.to_vector() == array_product_reference(xs, wq, c, geometry).to_vector());
  c.enabled = false;
  const Tensor plain = ops::conv2d_reference(xs, wq, Tensor(), o);
  REQUIRE(array_product(xs, wq, c, geometry).to_vector() == plain.to_vector());
}

TEST_CASE("array_product (patches): only groups == 1, and codes are validated", "[imc]") {
  const AdcConfig c;
  REQUIRE_THROWS_WITH(array_product(Tensor::zeros({1, 4, 3, 3}), Tensor::zeros({4, 1, 3, 3}), c, ArrayGeometry::patches({.groups = 4})),
                      Catch::Contains("only groups == 1"));
  Tensor xs = Tensor::zeros({1, 1, 3, 3});
  xs.data()[4] = 9;
  REQUIRE_THROWS_WITH(array_product(xs, Tensor::zeros({1, 1, 3, 3}), c, ArrayGeometry::patches({})), Catch::Contains("input code 9"));
}

RAOQ_GRADCHECK_CASE("array_product", "patches, floor skipped, 2 tiles, padding 1", "[imc]") {
  // K = 2*3*3 = 18 over rows = 9: two tiles. ba = 8, k = 1: D = 2*9*7*7/256 = 3.4453125 and the range
  // is y/D in [-128, 127], beyond any |y| <= 9*7*6: nothing clips and no stencil step crosses a kink.
  AdcConfig c;
  c.rows = 9, c.ba = 8, c.k = 1;
  const Tensor xs = testing::uniform({1, 2, 3, 3}, -6.5f, 6.5f, 41);
  const Tensor wq = testing::uniform({2, 2, 3, 3}, -6.0f, 6.0f, 42);
  ArrayProductOptions opt;
  opt.rounding = Rounding::skip;
  RAOQ_REQUIRE_GRADCHECK(
      "array_product",
      [c, opt](const std::vector<Tensor>& in) {
        return array_product(in[0], in[1], c, ArrayGeometry::patches({.padding = 1}), opt);
      },
      {xs, wq});
}

TEST_CASE("array_product (patches): straight-through backward equals the matrix geometry's on the patches", "[imc]") {
  // With stride = kernel and no padding the patches do not overlap: the conv backward must match
  // the matrix product's on the (P, K) patch matrix, masks included (ba = 3 clips many sums).
  AdcConfig c;
  c.rows = 4, c.ba = 3, c.k = 1;
  const Tensor xs = random_codes({1, 2, 4, 4}, -8, 7, 51).set_requires_grad(true);
  const Tensor wq = random_codes({3, 2, 2, 2}, -7, 7, 52).set_requires_grad(true);
  const Tensor y = array_product(xs, wq, c, ArrayGeometry::patches({.stride = 2}));  // (1, 3, 2, 2)
  std::vector<float> g(12);
  for (int i = 0; i < 12; ++i) g[size_t(i)] = float(i % 5) - 2;
  testing::backward_with(y, g);
  // The same product as a matrix: patches (P = 4, K = 8) in (c, i, j) order.
  Tensor patches = Tensor::empty({4, 8});
  for (int p = 0; p < 4; ++p)
    for (int ch = 0; ch < 2; ++ch)
      for (int i = 0; i < 2; ++i)
        for (int j = 0; j < 2; ++j)
          patches.data()[p * 8 + ch * 4 + i * 2 + j] = xs.data()[ch * 16 + ((p / 2) * 2 + i) * 4 + (p % 2) * 2 + j];
  patches.set_requires_grad(true);
  const Tensor w2 = wq.detach().view_as_shape({3, 8}).clone().set_requires_grad(true);
  const Tensor ym = array_product(patches, w2, c);  // (P, N)
  std::vector<float> gm(12);
  for (int p = 0; p < 4; ++p)
    for (int n = 0; n < 3; ++n) gm[size_t(p * 3 + n)] = g[size_t(n * 4 + p)];
  testing::backward_with(ym, gm);
  REQUIRE(wq.grad().to_vector() == w2.grad().to_vector());
  for (int p = 0; p < 4; ++p)
    for (int ch = 0; ch < 2; ++ch)
      for (int i = 0; i < 2; ++i)
        for (int j = 0; j < 2; ++j)
          REQUIRE(xs.grad().data()[ch * 16 + ((p / 2) * 2 + i) * 4 + (p % 2) * 2 + j] ==
                  patches.grad().data()[p * 8 + ch * 4 + i * 2 + j]);
}

TEST_CASE("array_product (patches): with the ADC off, forward and backward equal the plain convolution's (3x3 and pointwise)", "[imc]") {
  const int64_t k = GENERATE(1, 3);
  const ops::Conv2dOptions o{.stride = 1, .padding = k / 2};
  AdcConfig c;
  c.enabled = false;
  c.rows = 8;  // several tiles
  const Tensor xs = random_codes({2, 9, 5, 4}, -8, 7, 61).set_requires_grad(true);
  const Tensor wq = random_codes({3, 9, k, k}, -7, 7, 62).set_requires_grad(true);
  const Tensor xf = xs.detach().clone().set_requires_grad(true), wf = wq.detach().clone().set_requires_grad(true);
  const Tensor y = array_product(xs, wq, c, ArrayGeometry::patches(o)), yf = ops::conv2d(xf, wf, Tensor(), o);
  REQUIRE(y.to_vector() == yf.to_vector());
  std::vector<float> g(size_t(y.numel()));
  for (size_t i = 0; i < g.size(); ++i) g[i] = float(int(i % 7) - 3);  // integers: every sum is exact
  testing::backward_with(y, g);
  testing::backward_with(yf, g);
  REQUIRE(xs.grad().to_vector() == xf.grad().to_vector());
  REQUIRE(wq.grad().to_vector() == wf.grad().to_vector());
  c.enabled = true;
  REQUIRE(array_product(xs.detach(), wq.detach(), c, ArrayGeometry::patches(o)).to_vector() ==
          array_product_reference(xs.detach(), wq.detach(), c, ArrayGeometry::patches(o)).to_vector());
}

// ---- The Winograd path (3x3, stride 1, >= 16 channels in and out): tile sums as partial Winograd
// convolutions, exact on integer codes, and the plain convolution's backward for unclipped images.
namespace {
struct CountingObserver : TileObserver {  // any observer sends the patches product down the per-tile loop
  int64_t views = 0;
  void observe(const TileView&) override { ++views; }
};

// The (B*P, K) patch matrix of xs in (c, i, j) order for a 3x3 kernel with padding p, stride 1.
Tensor patch_matrix(const Tensor& xs, int64_t p) {
  const int64_t B = xs.size(0), C = xs.size(1), H = xs.size(2), W = xs.size(3);
  const int64_t Ho = H + 2 * p - 2, Wo = W + 2 * p - 2, K = C * 9;
  Tensor m = Tensor::zeros({B * Ho * Wo, K});
  for (int64_t b = 0; b < B; ++b)
    for (int64_t q = 0; q < Ho * Wo; ++q)
      for (int64_t k = 0; k < K; ++k) {
        const int64_t c = k / 9, ih = q / Wo - p + (k / 3) % 3, iw = q % Wo - p + k % 3;
        if (ih >= 0 && ih < H && iw >= 0 && iw < W) m.data()[(b * Ho * Wo + q) * K + k] = xs.data()[((b * C + c) * H + ih) * W + iw];
      }
  return m;
}
}  // namespace

TEST_CASE("array_product (patches): the Winograd tile sums equal the plain-loop reference and the per-tile product exactly", "[imc]") {
  const int variant = GENERATE(0, 1, 2, 3, 4, 5, 6);
  const int64_t pad = GENERATE(0, 1);
  AdcConfig c;
  c.ba = 6;
  c.k = 16;  // clips at |y| > rows * 7 * 7 / 16: many conversions clip (except with 512 rows)
  if (variant == 1) c.rows = 64;   // K = 16*9 = 144: tiles cut channels 7 and 14 between them
  if (variant == 2) c.rows = 5;    // tiles smaller than one channel's nine taps
  if (variant == 3) c.rows = 40, c.signed_input = false;
  if (variant == 4) c.rows = 64, c.representation = Representation::minus_one_one;
  if (variant == 5) c.rows = 64, c.enabled = false;
  if (variant == 6) c.rows = 64, c.bw = 5;  // 5-bit weights: float GEMMs (9 * 15 > 127), still exact
  CAPTURE(variant, pad);
  const Tensor xs = input_codes({2, 16, 7, 6}, c, 81 + variant);
  const Tensor wq = random_codes({16, 16, 3, 3}, -7, 7, 82 + variant);
  const ops::Conv2dOptions o{.stride = 1, .padding = pad};
  const ArrayGeometry geometry = ArrayGeometry::patches(o);
  const Tensor fast = array_product(xs, wq, c, geometry);
  CountingObserver observer;
  ArrayProductOptions per_tile;
  per_tile.observer = &observer;
  REQUIRE(fast.to_vector() == array_product(xs, wq, c, geometry, per_tile).to_vector());
  REQUIRE(observer.views > 0);
  REQUIRE(fast.to_vector() == array_product_reference(xs, wq, c, geometry).to_vector());
}

TEST_CASE("array_product (patches): the Winograd backward equals the matrix geometry's on the patches, with and without clipped images", "[imc]") {
  // Integer codes and gradients: every path's sums are exact, so the gradients must be equal.
  const int variant = GENERATE(0, 1, 2);
  AdcConfig c;
  c.rows = 64;  // three tiles over K = 144, boundaries inside channels
  // An ADC clips at |y| > rows * xr * 7 / k = 3136 / k: k = 1 clips nothing (these column sums stay
  // far below), k = 16 many sums.
  c.k = variant == 0 ? 1 : 16;
  CAPTURE(variant);
  Tensor xs = input_codes({4, 16, 6, 5}, c, 91 + variant);
  if (variant == 1)  // images 1..3 all zero codes: only image 0 clips (the mixed path)
    for (int64_t i = xs.numel() / 4; i < xs.numel(); ++i) xs.data()[i] = 0.0f;
  xs.set_requires_grad(true);
  const Tensor wq = random_codes({16, 16, 3, 3}, -7, 7, 92 + variant).set_requires_grad(true);
  const Tensor y = array_product(xs, wq, c, ArrayGeometry::patches({.stride = 1, .padding = 1}));  // (4, 16, 6, 5)
  const int64_t B = 4, N = 16, P = 30, K = 144;
  std::vector<float> g(size_t(y.numel()));
  for (size_t i = 0; i < g.size(); ++i) g[i] = float(int(i * 7 % 9) - 4);
  testing::backward_with(y, g);

  const Tensor patches = patch_matrix(xs.detach(), 1).set_requires_grad(true);
  const Tensor w2 = wq.detach().view_as_shape({N, K}).clone().set_requires_grad(true);
  const Tensor ym = array_product(patches, w2, c);  // (B*P, N)
  std::vector<float> gm(g.size());
  const quant::CodeRange r = adc_codes(c.ba);
  int64_t clipped_images = 0;
  for (int64_t b = 0; b < B; ++b) {
    bool clipped = false;
    for (int64_t n = 0; n < N; ++n)
      for (int64_t p = 0; p < P; ++p) {
        gm[size_t((b * P + p) * N + n)] = g[size_t((b * N + n) * P + p)];
        REQUIRE(ym.data()[(b * P + p) * N + n] == y.data()[(b * N + n) * P + p]);
        for (int64_t k0 = 0; k0 < K; k0 += c.rows) {  // does this tile's conversion clip?
          float s = 0;
          for (int64_t k = k0; k < std::min(K, k0 + c.rows); ++k) s += patches.data()[(b * P + p) * K + k] * w2.data()[n * K + k];
          clipped |= adc_clipped(s, adc_step(c), r.lo, r.hi);
        }
      }
    clipped_images += clipped;
  }
  if (variant == 0) CHECK(clipped_images == 0);
  if (variant == 1) CHECK(clipped_images == 1);
  if (variant == 2) CHECK(clipped_images > 2);
  testing::backward_with(ym, gm);
  REQUIRE(wq.grad().to_vector() == w2.grad().to_vector());
  // dx: the patch gradients added back to the positions they were read from.
  std::vector<float> dx(size_t(xs.numel()), 0.0f);
  for (int64_t b = 0; b < B; ++b)
    for (int64_t q = 0; q < P; ++q)
      for (int64_t k = 0; k < K; ++k) {
        const int64_t ch = k / 9, ih = q / 5 - 1 + (k / 3) % 3, iw = q % 5 - 1 + k % 3;
        if (ih >= 0 && ih < 6 && iw >= 0 && iw < 5)
          dx[size_t(((b * 16 + ch) * 6 + ih) * 5 + iw)] += patches.grad().data()[(b * P + q) * K + k];
      }
  REQUIRE(xs.grad().to_vector() == dx);
}
