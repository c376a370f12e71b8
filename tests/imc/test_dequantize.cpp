// tests/imc/test_dequantize.cpp — the digital side of an IMC layer: window weight sums (the taps
// inside the image), the dequantization formula element by element, and their gradient checks.
#include "imc/dequantize.h"
#include "tests/support/testing.h"

using namespace raoq;
using namespace raoq::imc;

TEST_CASE("window_weight_sums: the taps inside the image, per output position", "[imc]") {
  // 1 output channel, 1 input channel, 3x3 kernel of ones plus a 2 in the centre; 3x3 input, padding 1.
  Tensor wq = Tensor::ones({1, 1, 3, 3});
  wq.data()[4] = 2;
  const Tensor S = window_weight_sums(wq, 3, 3, {.padding = 1});
  // corners see 4 taps (one is the centre), edges 6, the middle all 9: {5, 7, 5, 7, 10, 7, 5, 7, 5}
  REQUIRE(S.to_vector() == std::vector<float>{5, 7, 5, 7, 10, 7, 5, 7, 5});
  REQUIRE(window_weight_sums(Tensor::from_vector({1, 2, 3, -4, 5, 6}, {2, 3}), 1, 1).to_vector() ==
          std::vector<float>{6, 7});
}

RAOQ_GRADCHECK_CASE("window_weight_sums", "3x3 kernel, padding 1, stride 2", "[imc]") {
  const Tensor wq = testing::uniform({2, 2, 3, 3}, -1.0f, 1.0f, 21);
  RAOQ_REQUIRE_GRADCHECK(
      "window_weight_sums",
      [](const std::vector<Tensor>& in) { return window_weight_sums(in[0], 5, 4, {.stride = 2, .padding = 1}); }, {wq});
}

TEST_CASE("imc_dequantize: the DESIGN.md formula, element by element", "[imc]") {
  // acc (2, 2, 3) conv layout, S (2, 3), per-channel s_w.
  const Tensor acc = Tensor::from_vector({1, 2, 3, 4, 5, 6, -1, -2, -3, -4, -5, -6}, {2, 2, 3});
  const Tensor S = Tensor::from_vector({1, 0, 2, -1, 3, 1}, {2, 3});
  const Tensor sx = Tensor::scalar(0.5f), sw = Tensor::from_vector({0.25f, 2.0f}, {2}), beta = Tensor::scalar(-0.5f);
  const Tensor bias = Tensor::from_vector({1, -1}, {2});
  const quant::ShiftMap map{2.0f, 15.0f};
  const Tensor y = imc_dequantize(acc, 1, S, sx, sw, beta, bias, map);
  for (int64_t o = 0; o < 2; ++o)
    for (int64_t n = 0; n < 2; ++n)
      for (int64_t p = 0; p < 3; ++p) {
        const float a = acc.data()[(o * 2 + n) * 3 + p], s = S.data()[n * 3 + p], w = sw.data()[n];
        const float expected = 0.5f * w * (a + 15 * s) / 2 + -0.5f * w * s + bias.data()[n];
        REQUIRE(y.data()[(o * 2 + n) * 3 + p] == Approx(expected).epsilon(1e-6));
      }
}

RAOQ_GRADCHECK_CASE("imc_dequantize", "conv layout, per-channel s_w, offset and bias", "[imc]") {
  const Tensor acc = testing::uniform({2, 3, 4}, -3.0f, 3.0f, 31), S = testing::uniform({3, 4}, -2.0f, 2.0f, 32);
  const Tensor sx = testing::uniform({}, 0.3f, 0.6f, 33), sw = testing::uniform({3}, 0.2f, 0.9f, 34);
  const Tensor beta = testing::uniform({}, -0.5f, 0.5f, 35), bias = testing::uniform({3}, -1.0f, 1.0f, 36);
  RAOQ_REQUIRE_GRADCHECK(
      "imc_dequantize",
      [](const std::vector<Tensor>& in) {
        return imc_dequantize(in[0], 1, in[1], in[2], in[3], in[4], in[5], quant::ShiftMap{1.0f, 8.0f});
      },
      {acc, S, sx, sw, beta, bias});
}

RAOQ_GRADCHECK_CASE("imc_dequantize", "linear layout, per-tensor s_w, S broadcast", "[imc]") {
  const Tensor acc = testing::uniform({5, 3}, -3.0f, 3.0f, 37), S = testing::uniform({3, 1}, -2.0f, 2.0f, 38);
  const Tensor sx = testing::uniform({}, 0.3f, 0.6f, 39), sw = testing::uniform({}, 0.2f, 0.9f, 40);
  RAOQ_REQUIRE_GRADCHECK(
      "imc_dequantize",
      [](const std::vector<Tensor>& in) {
        return imc_dequantize(in[0], -1, in[1], in[2], in[3], Tensor(), Tensor(), quant::ShiftMap{2.0f, -1.0f});
      },
      {acc, S, sx, sw});
}
