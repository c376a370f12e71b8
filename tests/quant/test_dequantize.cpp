// tests/quant/test_dequantize.cpp — the digital side of a product of codes: window weight sums (the taps
// inside the image), the dequantization formula element by element, and their gradient checks.
#include "quant/dequantize.h"
#include "tests/support/testing.h"

using namespace raoq;
using namespace raoq::quant;

TEST_CASE("window_weight_sums: the taps inside the image, per output position", "[quant]") {
  // 1 output channel, 1 input channel, 3x3 kernel of ones plus a 2 in the centre; 3x3 input, padding 1.
  Tensor wq = Tensor::ones({1, 1, 3, 3});
  wq.data()[4] = 2;
  const Tensor S = window_weight_sums(wq, 3, 3, {.padding = 1});
  // corners see 4 taps (one is the centre), edges 6, the middle all 9: {5, 7, 5, 7, 10, 7, 5, 7, 5}
  REQUIRE(S.to_vector() == std::vector<float>{5, 7, 5, 7, 10, 7, 5, 7, 5});
  REQUIRE(window_weight_sums(Tensor::from_vector({1, 2, 3, -4, 5, 6}, {2, 3}), 1, 1).to_vector() ==
          std::vector<float>{6, 7});
}

RAOQ_GRADCHECK_CASE("window_weight_sums", "3x3 kernel, padding 1, stride 2", "[quant]") {
  const Tensor wq = testing::uniform({2, 2, 3, 3}, -1.0f, 1.0f, 21);
  RAOQ_REQUIRE_GRADCHECK(
      "window_weight_sums",
      [](const std::vector<Tensor>& in) { return window_weight_sums(in[0], 5, 4, {.stride = 2, .padding = 1}); }, {wq});
}

TEST_CASE("dequantize_product: the DESIGN.md formula, element by element", "[quant]") {
  // acc (2, 2, 3) conv layout, S (2, 3), per-channel s_w.
  const Tensor acc = Tensor::from_vector({1, 2, 3, 4, 5, 6, -1, -2, -3, -4, -5, -6}, {2, 2, 3});
  const Tensor S = Tensor::from_vector({1, 0, 2, -1, 3, 1}, {2, 3});
  const Tensor sx = Tensor::scalar(0.5f), sw = Tensor::from_vector({0.25f, 2.0f}, {2}), beta = Tensor::scalar(-0.5f);
  const Tensor bias = Tensor::from_vector({1, -1}, {2});
  const quant::ShiftMap map{2.0f, 15.0f};
  const Tensor y = dequantize_product(acc, 1, S, sx, sw, beta, bias, map);
  for (int64_t o = 0; o < 2; ++o)
    for (int64_t n = 0; n < 2; ++n)
      for (int64_t p = 0; p < 3; ++p) {
        const float a = acc.data()[(o * 2 + n) * 3 + p], s = S.data()[n * 3 + p], w = sw.data()[n];
        const float expected = 0.5f * w * (a + 15 * s) / 2 + -0.5f * w * s + bias.data()[n];
        REQUIRE(y.data()[(o * 2 + n) * 3 + p] == Approx(expected).epsilon(1e-6));
      }
}

RAOQ_GRADCHECK_CASE("dequantize_product", "conv layout, per-channel s_w, offset and bias", "[quant]") {
  const Tensor acc = testing::uniform({2, 3, 4}, -3.0f, 3.0f, 31), S = testing::uniform({3, 4}, -2.0f, 2.0f, 32);
  const Tensor sx = testing::uniform({}, 0.3f, 0.6f, 33), sw = testing::uniform({3}, 0.2f, 0.9f, 34);
  const Tensor beta = testing::uniform({}, -0.5f, 0.5f, 35), bias = testing::uniform({3}, -1.0f, 1.0f, 36);
  RAOQ_REQUIRE_GRADCHECK(
      "dequantize_product",
      [](const std::vector<Tensor>& in) {
        return dequantize_product(in[0], 1, in[1], in[2], in[3], in[4], in[5], quant::ShiftMap{1.0f, 8.0f});
      },
      {acc, S, sx, sw, beta, bias});
}

RAOQ_GRADCHECK_CASE("dequantize_product", "linear layout, per-tensor s_w, S broadcast", "[quant]") {
  const Tensor acc = testing::uniform({5, 3}, -3.0f, 3.0f, 37), S = testing::uniform({3, 1}, -2.0f, 2.0f, 38);
  const Tensor sx = testing::uniform({}, 0.3f, 0.6f, 39), sw = testing::uniform({}, 0.2f, 0.9f, 40);
  RAOQ_REQUIRE_GRADCHECK(
      "dequantize_product",
      [](const std::vector<Tensor>& in) {
        return dequantize_product(in[0], -1, in[1], in[2], in[3], Tensor(), Tensor(), quant::ShiftMap{2.0f, -1.0f});
      },
      {acc, S, sx, sw});
}

TEST_CASE("dequantize_product: an exact product of shifted codes gives the bits of the plain codes", "[quant]") {
  // acc0 = sum xq wq (plain codes) and acc = gain acc0 - shift S (the same product of xs = gain xq
  // - shift): the correction (acc + shift S) / gain is exact, so every map gives the same bits.
  const Tensor S = Tensor::from_vector({7, -3, 12, 0, -8, 5}, {3, 2});  // conv layout: N 3, P 2
  const Tensor acc0 = Tensor::from_vector({41, -17, 250, 3, -96, 0, -5, 77, 129, -200, 31, 8}, {2, 3, 2});
  const Tensor sx = Tensor::scalar(0.0371f), sw = Tensor::from_vector({0.013f, 0.0911f, 0.047f}, {3});
  const Tensor beta = Tensor::scalar(-0.219f), bias = Tensor::from_vector({0.31f, -1.7f, 0.05f}, {3});
  const std::vector<float> plain = dequantize_product(acc0, 1, S, sx, sw, beta, bias).to_vector();
  for (const ShiftMap map : {ShiftMap{1.0f, 8.0f}, ShiftMap{2.0f, 15.0f}}) {
    Tensor acc = Tensor::empty(acc0.shape());
    for (int64_t i = 0; i < acc.numel(); ++i) {
      const int64_t n = (i / 2) % 3, p = i % 2;
      acc.data()[i] = map.gain * acc0.data()[i] - map.shift * S.data()[n * 2 + p];
    }
    REQUIRE(dequantize_product(acc, 1, S, sx, sw, beta, bias, map).to_vector() == plain);
  }
  // the linear layout (S broadcast along the row) the same way
  const Tensor S1 = Tensor::from_vector({9, -4, 1}, {3, 1});
  const Tensor rows0 = Tensor::from_vector({12, -30, 7, 0, 44, -1}, {2, 3});
  Tensor rows = Tensor::empty({2, 3});
  for (int64_t i = 0; i < 6; ++i) rows.data()[i] = 2 * rows0.data()[i] - 15 * S1.data()[i % 3];
  REQUIRE(dequantize_product(rows, -1, S1, sx, sw, beta, bias, ShiftMap{2.0f, 15.0f}).to_vector() ==
          dequantize_product(rows0, -1, S1, sx, sw, beta, bias).to_vector());
}

TEST_CASE("dequantize_product: a gain other than 1 or 2 is an error", "[quant]") {
  const Tensor acc = Tensor::zeros({2, 1}), S = Tensor::zeros({1, 1});
  REQUIRE_THROWS_WITH(dequantize_product(acc, -1, S, Tensor::scalar(1.0f), Tensor::scalar(1.0f), Tensor(), Tensor(),
                                         ShiftMap{3.0f, 0.0f}),
                      Catch::Contains("gain must be 1 or 2"));
}
