// tests/quant/test_ashift.cpp — A-shift maps, the exact digital correction for both number
// representations, pinned and checked gradients, and the second-moment gain of RAOQ Fig. 3a.
#include <cmath>

#include "core/rng.h"
#include "quant/ashift.h"
#include "quant/lsq.h"
#include "tests/quant/backward_with.h"
#include "tests/support/testing.h"

using namespace raoq;
using namespace raoq::quant;
using raoq::testing::random_codes;

TEST_CASE("a_shift_map: C = 2^(bx-1) for 0/1, 2 xq - (2^bx - 1) for -1/1", "[quant]") {
  CHECK(a_shift_map(4, Representation::zero_one).gain == 1);
  CHECK(a_shift_map(4, Representation::zero_one).shift == 8);
  CHECK(a_shift_map(4, Representation::minus_one_one).gain == 2);
  CHECK(a_shift_map(4, Representation::minus_one_one).shift == 15);
  CHECK(a_shift_map(8, Representation::zero_one).shift == 128);
  CHECK(representation_from_string("-1/1") == Representation::minus_one_one);
  REQUIRE_THROWS_WITH(representation_from_string("ternary"), Catch::Contains("got \"ternary\""));
}

TEST_CASE("a_shift: unsigned codes move to the signed range (Eq. 4) and to odd -1/1 values (Eq. 15)", "[quant]") {
  const Tensor xq = Tensor::arange(0, 16);
  const auto zo = a_shift(xq, a_shift_map(4, Representation::zero_one)).to_vector();
  const auto pm = a_shift(xq, a_shift_map(4, Representation::minus_one_one)).to_vector();
  for (int v = 0; v < 16; ++v) {
    CHECK(zo[size_t(v)] == float(v - 8));
    CHECK(pm[size_t(v)] == float(2 * v - 15));
  }
}

TEST_CASE("ashift_correct: the shifted product plus its digital offset is the plain product exactly", "[quant]") {
  const auto rep = GENERATE(Representation::zero_one, Representation::minus_one_one);
  const int bx = GENERATE(4, 8);
  CAPTURE(to_string(rep), bx);
  const Tensor xq = random_codes({5, 37}, 0, std::ldexp(1.0f, bx) - 1, 7);
  const Tensor wq = random_codes({4, 37}, -7, 7, 8);
  const ShiftMap map = a_shift_map(bx, rep);
  const Tensor y = ashift_correct(testing::plain_product(a_shift(xq, map), wq), wq, map);
  REQUIRE(y.to_vector() == testing::plain_product(xq, wq).to_vector());
}

TEST_CASE("ashift_correct: backward pinned (dy / gain, and (shift / gain) * column sums into wq)", "[quant]") {
  const Tensor y = Tensor::from_vector({1, 2, 3, 4, 5, 6}, {3, 2}).set_requires_grad(true);
  const Tensor wq = Tensor::from_vector({1, -1, 2, 0, 3, -2}, {2, 3}).set_requires_grad(true);
  const Tensor out = ashift_correct(y, wq, {2.0f, 15.0f});
  // rowsum(wq) = {2, 1}: out = (y + 15 * {2, 1}) / 2
  REQUIRE(out.to_vector() == std::vector<float>{15.5f, 8.5f, 16.5f, 9.5f, 17.5f, 10.5f});
  testing::backward_with(out, {1, 2, 3, 4, 5, 6});
  CHECK(y.grad().to_vector() == std::vector<float>{0.5f, 1, 1.5f, 2, 2.5f, 3});
  // column sums of dout: {9, 12} -> 7.5 * 9 = 67.5, 7.5 * 12 = 90 on every k of row n
  CHECK(wq.grad().to_vector() == std::vector<float>{67.5f, 67.5f, 67.5f, 90, 90, 90});
}

RAOQ_GRADCHECK_CASE("a_shift", "-1/1 map (gain 2)", "[quant]") {
  const Tensor xq = testing::uniform({3, 5}, 0.0f, 15.0f, 31);
  RAOQ_REQUIRE_GRADCHECK(
      "a_shift", [](const std::vector<Tensor>& in) { return a_shift(in[0], a_shift_map(4, Representation::minus_one_one)); },
      {xq});
}

TEST_CASE("lsq_codes with an A-shift map: the same numbers as a_shift(lsq_codes), forward and every gradient", "[quant]") {
  // The IMC layers quantize straight to the array's input codes in one pass; this pins that the
  // fused pass changes no bit of the codes or of dx, ds, dbeta against the two-op form.
  const auto rep = GENERATE(Representation::zero_one, Representation::minus_one_one);
  CAPTURE(to_string(rep));
  const ShiftMap map = a_shift_map(4, rep);
  const Shape shape{3, 4, 9, 9};
  const Tensor dy = testing::uniform(shape, -1.0f, 1.0f, 41, /*requires_grad=*/false);
  const std::vector<float> dyv = dy.to_vector();
  auto run = [&](bool fused) {
    Tensor x = testing::uniform(shape, -0.3f, 2.5f, 40);  // some codes clip at each end
    Tensor s = Tensor::scalar(0.15f).set_requires_grad(true), beta = Tensor::scalar(0.05f).set_requires_grad(true);
    const Tensor xs = fused ? lsq_codes(x, s, beta, unsigned_codes(4), Rounding::apply, map.gain, map.shift)
                            : a_shift(lsq_codes(x, s, beta, unsigned_codes(4)), map);
    testing::backward_with(xs, dyv);
    return std::vector<std::vector<float>>{xs.to_vector(), x.grad().to_vector(), s.grad().to_vector(),
                                           beta.grad().to_vector()};
  };
  const auto fused = run(true), split = run(false);
  REQUIRE(fused[0] == split[0]);
  REQUIRE(fused[1] == split[1]);
  REQUIRE(fused[2] == split[2]);
  REQUIRE(fused[3] == split[3]);
  REQUIRE_THROWS_WITH(lsq_codes(Tensor::ones({2}), Tensor::scalar(1.0f), Tensor(), unsigned_codes(4), Rounding::apply, 3.0f),
                      Catch::Contains("gain must be 1 or 2"));
}

RAOQ_GRADCHECK_CASE("lsq_codes", "-1/1 A-shift map (gain 2, shift 15), rounding skipped", "[quant]") {
  const Tensor x = testing::uniform({3, 5}, 0.2f, 2.0f, 42);  // (x - beta)/s inside [0, 15], away from the bounds
  const Tensor s = Tensor::scalar(0.15f).set_requires_grad(true), beta = Tensor::scalar(0.05f).set_requires_grad(true);
  RAOQ_REQUIRE_GRADCHECK(
      "lsq_codes",
      [](const std::vector<Tensor>& in) {
        return lsq_codes(in[0], in[1], in[2], unsigned_codes(4), Rounding::skip, 2.0f, 15.0f);
      },
      {x, s, beta});
}

RAOQ_GRADCHECK_CASE("ashift_correct", "gain 2, shift 15", "[quant]") {
  const Tensor y = testing::uniform({4, 3}, -5.0f, 5.0f, 32);
  const Tensor wq = testing::uniform({3, 6}, -1.0f, 1.0f, 33);
  RAOQ_REQUIRE_GRADCHECK(
      "ashift_correct", [](const std::vector<Tensor>& in) { return ashift_correct(in[0], in[1], {2.0f, 15.0f}); },
      {y, wq});
}

// RAOQ Fig. 3a: quantizing GELU outputs as unsigned codes and shifting them gives a second moment
// of 57.9 against 3.89 for signed quantization. Here: GELU of N(-0.5, 1) pre-activations (the
// mass piles up just below and above 0, as in the figure), 4-bit codes, each quantizer initialised
// by the LSQ+ MSE search of lsq.h.
TEST_CASE("A-shift: E[xs^2] of 4-bit GELU activations is at least 10x that of signed quantization", "[quant]") {
  Generator gen(2024);
  const int64_t n = 1 << 15;
  Tensor x = Tensor::empty({n});
  for (int64_t i = 0; i < n; ++i) {
    const float z = gen.normal() - 0.5f;
    x.data()[i] = 0.5f * z * (1.0f + std::erf(z / std::sqrt(2.0f)));
  }
  const ScaleOffset u = lsq_plus_activation_init(x, unsigned_codes(4));
  const Tensor xq = lsq_codes(x, Tensor::scalar(u.scale), Tensor::scalar(u.offset), unsigned_codes(4));
  const double shifted = second_moment(a_shift(xq, a_shift_map(4, Representation::zero_one)));
  const ScaleOffset sgn = lsq_plus_activation_init(x, signed_codes(4), /*learn_offset=*/false);
  const double signed_q = second_moment(lsq_codes(x, Tensor::scalar(sgn.scale), Tensor(), signed_codes(4)));
  CAPTURE(u.scale, u.offset, sgn.scale, shifted, signed_q);
  CHECK(shifted > 40.0);
  CHECK(shifted >= 10.0 * signed_q);
}
