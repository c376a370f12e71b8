// tests/quant/test_lsq.cpp — LSQ/LSQ+ codes and fake quantization: exact codes, the declared
// surrogate gradients pinned element by element against their closed forms, gradient checks of
// the un-rounded expressions, scale floor, gradient scale and LSQ+ initialisation.
#include <algorithm>
#include <cmath>
#include <limits>

#include "core/error.h"
#include "core/rng.h"
#include "quant/gradcheck_cases.h"
#include "quant/lsq.h"
#include "quant/rounding.h"
#include "tests/quant/backward_with.h"
#include "tests/support/testing.h"

using namespace raoq;
using namespace raoq::quant;

namespace {
Tensor param(std::vector<float> v, Shape shape) { return Tensor::from_vector(v, shape).set_requires_grad(true); }
Tensor scalar_param(float v) { return Tensor::scalar(v).set_requires_grad(true); }

}  // namespace

TEST_CASE("code ranges: unsigned, signed, symmetric", "[quant]") {
  CHECK(unsigned_codes(4).lo == 0);
  CHECK(unsigned_codes(4).hi == 15);
  CHECK(signed_codes(4).lo == -8);
  CHECK(signed_codes(4).hi == 7);
  CHECK(symmetric_codes(4).lo == -7);
  CHECK(symmetric_codes(4).hi == 7);
  CHECK(symmetric_codes(8).hi == 127);
  CHECK(unsigned_codes(8).levels() == 256);
  REQUIRE_THROWS_WITH(symmetric_codes(1), Catch::Contains("bit width must be in [2, 16]"));
}

TEST_CASE("lsq_codes: exact codes, round half to even, clip bounds", "[quant]") {
  // s = 0.5, beta = 0.25: v = (x - 0.25) / 0.5, all exact in float.
  const Tensor x = param({-0.25f, 0.5f, 1.0f, 1.5f, 7.75f, 8.0f, 3.0f}, {7});
  const Tensor s = scalar_param(0.5f), beta = scalar_param(0.25f);
  // v =                     -1     0.5   1.5   2.5   15     15.5   5.5
  const Tensor c = lsq_codes(x, s, beta, unsigned_codes(4));
  REQUIRE(c.to_vector() == std::vector<float>{0, 0, 2, 2, 15, 15, 6});
  testing::backward_with(c, {1, 1, 1, 1, 1, 1, 1});
  // inside: dx = 1/s = 2, ds = -v/s, dbeta = -1/s; outside (v = -1 and v = 15.5): 0.
  CHECK(x.grad().to_vector() == std::vector<float>{0, 2, 2, 2, 2, 0, 2});
  CHECK(s.grad().item() == Approx(-(0.5f + 1.5f + 2.5f + 15.0f + 5.5f) / 0.5f).epsilon(1e-6));
  CHECK(beta.grad().item() == Approx(-5 * 2.0f).epsilon(1e-6));
}

TEST_CASE("lsq_fake_quant: LSQ/LSQ+ gradients pinned element by element", "[quant]") {
  const Tensor x = param({-0.25f, 0.5f, 1.0f, 1.5f, 7.75f, 8.0f, 3.0f}, {7});
  const Tensor s = scalar_param(0.5f), beta = scalar_param(0.25f);
  const Tensor y = lsq_fake_quant(x, s, beta, unsigned_codes(4));
  REQUIRE(y.to_vector() == std::vector<float>{0.25f, 0.25f, 1.25f, 1.25f, 7.75f, 7.75f, 3.25f});
  for (int e = 0; e < 7; ++e) {
    // One element at a time so each d/ds, d/dbeta is that element's own closed form.
    const Tensor xe = param({x.data()[e]}, {1});
    const Tensor se = scalar_param(0.5f), be = scalar_param(0.25f);
    testing::backward_with(lsq_fake_quant(xe, se, be, unsigned_codes(4)), {1});
    const float v = (x.data()[e] - 0.25f) / 0.5f;
    const bool inside = v >= 0 && v <= 15;
    INFO("element " << e << " v " << v);
    CHECK(xe.grad().item() == (inside ? 1.0f : 0.0f));
    CHECK(se.grad().item() == (inside ? std::nearbyint(v) - v : (v < 0 ? 0.0f : 15.0f)));
    CHECK(be.grad().item() == (inside ? 0.0f : 1.0f));
    // The code surrogate is chosen so that s*codes + beta has these gradients (product rule).
    const Tensor xc = param({x.data()[e]}, {1});
    const Tensor sc = scalar_param(0.5f), bc = scalar_param(0.25f);
    const Tensor c = lsq_codes(xc, sc, bc, unsigned_codes(4));
    testing::backward_with(c, {1});
    CHECK(c.item() + 0.5f * sc.grad().item() == Approx(se.grad().item()).margin(1e-6));
    CHECK(1.0f + 0.5f * bc.grad().item() == Approx(be.grad().item()).margin(1e-6));
    CHECK(0.5f * xc.grad().item() == Approx(xe.grad().item()).margin(1e-6));
  }
}

TEST_CASE("lsq_fake_quant: ds inside the range is round(v) - v, by hand", "[quant]") {
  // The gradient checks skip rounding, where this LSQ term is identically 0 (gradcheck_cases.cpp):
  // it is pinned here instead. s = 0.5, signed 4-bit codes [-8, 7], v = x / s:
  //   x      1.15   2.4    -0.6   4.5      -5
  //   v      2.3    4.8    -1.2   9 (>7)   -10 (<-8)
  //   ds     -0.3   0.2    0.2    7 (Qp)   -8 (-Qn)
  const std::vector<float> xs = {1.15f, 2.4f, -0.6f, 4.5f, -5.0f};
  const std::vector<float> ds = {-0.3f, 0.2f, 0.2f, 7.0f, -8.0f};
  float total = 0;
  for (size_t e = 0; e < xs.size(); ++e) {
    INFO("x " << xs[e]);
    const Tensor x = param({xs[e]}, {1});
    const Tensor s = scalar_param(0.5f);
    testing::backward_with(lsq_fake_quant(x, s, Tensor(), signed_codes(4)), {1});
    CHECK(s.grad().item() == Approx(ds[e]).margin(1e-6));
    total += ds[e];
  }
  // Per tensor, the elements' terms add up: -0.3 + 0.2 + 0.2 + 7 - 8 = -0.9.
  const Tensor x = param(xs, {5});
  const Tensor s = scalar_param(0.5f);
  testing::backward_with(lsq_fake_quant(x, s, Tensor(), signed_codes(4)), {1, 1, 1, 1, 1});
  CHECK(s.grad().item() == Approx(-0.9f).margin(1e-5));
  CHECK(total == Approx(-0.9f).margin(1e-5));
}

TEST_CASE("lsq_codes: per-channel scales and offsets reduce per channel", "[quant]") {
  // w: (2, 3), s: [2], beta: [2]; symmetric 4-bit codes [-7, 7].
  const Tensor w = param({0.2f, -0.4f, 5.0f, 0.1f, 0.3f, -0.25f}, {2, 3});
  const Tensor s = param({0.1f, 0.05f}, {2}), beta = param({0.0f, 0.05f}, {2});
  const Tensor c = lsq_codes(w, s, beta, symmetric_codes(4));
  REQUIRE(c.to_vector() == std::vector<float>{2, -4, 7, 1, 5, -6});
  testing::backward_with(c, {1, 2, 3, 4, 5, 6});
  // channel 0: v = {2, -4, 50}; third element clipped.  channel 1: v = {1, 5, -6}.
  const auto dw = w.grad().to_vector();
  CHECK(dw[0] == Approx(1 / 0.1f));
  CHECK(dw[1] == Approx(2 / 0.1f));
  CHECK(dw[2] == 0.0f);
  CHECK(dw[3] == Approx(4 / 0.05f));
  CHECK(s.grad().to_vector()[0] == Approx(-(1 * 2.0f + 2 * -4.0f) / 0.1f).epsilon(1e-5));
  CHECK(s.grad().to_vector()[1] == Approx(-(4 * 1.0f + 5 * 5.0f + 6 * -6.0f) / 0.05f).epsilon(1e-5));
  CHECK(beta.grad().to_vector()[0] == Approx(-(1 + 2) / 0.1f).epsilon(1e-5));
  CHECK(beta.grad().to_vector()[1] == Approx(-(4 + 5 + 6) / 0.05f).epsilon(1e-5));
}

TEST_CASE("lsq ops: dx is written in full and still accumulates over uses and backward calls", "[quant]") {
  // The backward writes dx once into a fresh buffer. Buffers of 64 KiB or more come back from the
  // tensor buffer cache by size: NaN-filled ones left there first make any unwritten element show.
  const Shape shape{4, 8, 32, 32};  // per-channel over dim 0: two blocks of 16384 per channel
  Tensor x = testing::uniform(shape, -0.5f, 2.0f, 71);
  const Tensor s = param({0.1f, 0.05f, 0.2f, 0.08f}, {4}), beta = param({0.0f, 0.05f, -0.1f, 0.02f}, {4});
  const Tensor r = testing::uniform(shape, -1.0f, 1.0f, 72, /*requires_grad=*/false);
  for (const bool codes : {true, false}) {
    INFO((codes ? "lsq_codes" : "lsq_fake_quant"));
    auto grad_of = [&](int uses) {
      x.set_grad(Tensor());
      {
        std::vector<Tensor> junk;
        for (int i = 0; i < 6; ++i) junk.push_back(Tensor::full(shape, std::numeric_limits<float>::quiet_NaN()));
      }
      std::vector<float> dy(size_t(x.numel()));
      for (size_t i = 0; i < dy.size(); ++i) dy[i] = r.data()[i];
      for (int u = 0; u < uses; ++u) {
        const Tensor y = codes ? lsq_codes(x, s, beta, unsigned_codes(4)) : lsq_fake_quant(x, s, beta, unsigned_codes(4));
        testing::backward_with(y, dy);
      }
      return x.grad().to_vector();
    };
    const auto once = grad_of(1), twice = grad_of(2);
    int64_t zeros = 0;
    for (size_t i = 0; i < once.size(); ++i) {
      REQUIRE(std::isfinite(once[i]));
      REQUIRE(twice[i] == 2.0f * once[i]);
      zeros += once[i] == 0.0f;
    }
    CHECK(zeros > 0);                         // some elements clip (their dx is written as 0) ...
    CHECK(zeros < int64_t(once.size()) / 2);  // ... most do not
  }
}

TEST_CASE("lsq ops: shape and scale errors name the op and the fix", "[quant]") {
  const Tensor x = Tensor::ones({2, 3});
  REQUIRE_THROWS_WITH(lsq_codes(x, Tensor::scalar(0.0f), Tensor(), unsigned_codes(4)),
                      Catch::Contains("lsq_codes: scale 0 is 0") && Catch::Contains("scale_floor"));
  REQUIRE_THROWS_WITH(lsq_fake_quant(x, Tensor::ones({3}), Tensor(), unsigned_codes(4)),
                      Catch::Contains("lsq_fake_quant: s must have shape [] (per tensor) or [C]"));
  REQUIRE_THROWS_WITH(lsq_codes(x, Tensor::ones({2}), Tensor::ones({3}), unsigned_codes(4)),
                      Catch::Contains("beta must have shape [] or [2]"));
}

TEST_CASE("scale_floor and grad_scale: forward values and pinned backward", "[quant]") {
  const Tensor s = param({0.5f, 0.0f, -1.0f, std::numeric_limits<float>::quiet_NaN()}, {4});
  const Tensor f = scale_floor(s);
  REQUIRE(f.to_vector() == std::vector<float>{0.5f, kScaleFloor, kScaleFloor, kScaleFloor});
  testing::backward_with(f, {1, 2, 3, 4});
  CHECK(s.grad().to_vector() == std::vector<float>{1, 2, 3, 4});  // straight through, everywhere

  const Tensor x = param({1.5f, -2.0f}, {2});
  const Tensor y = grad_scale(x, 0.25f);
  REQUIRE(y.to_vector() == std::vector<float>{1.5f, -2.0f});
  testing::backward_with(y, {4, 8});
  CHECK(x.grad().to_vector() == std::vector<float>{1, 2});
  CHECK(lsq_grad_scale(64, 7) == Approx(1.0 / std::sqrt(64.0 * 7.0)));
}

RAOQ_GRADCHECK_CASE("lsq_codes", "per tensor, rounding skipped (the declared surrogate is the exact gradient)", "[quant]") {
  const CodeRange r = signed_codes(3);  // [-4, 3]
  const float s0 = 0.8f, b0 = 0.3f;
  std::vector<float> xv;
  for (float v : codes_away_from_bounds(24, r, 0.4f, 11)) xv.push_back(b0 + s0 * v);
  const Tensor x = param(xv, {4, 6}), s = scalar_param(s0), beta = scalar_param(b0);
  auto f = [r](const std::vector<Tensor>& in) { return lsq_codes(in[0], in[1], in[2], r, Rounding::skip); };
  RAOQ_REQUIRE_GRADCHECK("lsq_codes", f, {x, s, beta});
}

RAOQ_GRADCHECK_CASE("lsq_codes", "per channel, rounding skipped", "[quant]") {
  const CodeRange r = symmetric_codes(3);  // [-3, 3]
  const std::vector<float> sv = {0.6f, 0.8f, 1.1f};
  const auto v = codes_away_from_bounds(24, r, 0.4f, 12);
  std::vector<float> xv(24);
  for (int i = 0; i < 24; ++i) xv[size_t(i)] = sv[size_t(i / 8)] * v[size_t(i)];
  const Tensor x = param(xv, {3, 8}), s = param(sv, {3});
  auto f = [r](const std::vector<Tensor>& in) { return lsq_codes(in[0], in[1], Tensor(), r, Rounding::skip); };
  RAOQ_REQUIRE_GRADCHECK("lsq_codes", f, {x, s});
}

RAOQ_GRADCHECK_CASE("lsq_fake_quant", "per tensor with offset, rounding skipped", "[quant]") {
  const CodeRange r = unsigned_codes(3);  // [0, 7]
  const float s0 = 0.7f, b0 = -0.2f;
  std::vector<float> xv;
  for (float v : codes_away_from_bounds(24, r, 0.4f, 13)) xv.push_back(b0 + s0 * v);
  const Tensor x = param(xv, {24}), s = scalar_param(s0), beta = scalar_param(b0);
  auto f = [r](const std::vector<Tensor>& in) { return lsq_fake_quant(in[0], in[1], in[2], r, Rounding::skip); };
  RAOQ_REQUIRE_GRADCHECK("lsq_fake_quant", f, {x, s, beta});
}

RAOQ_GRADCHECK_CASE("lsq_fake_quant", "per channel, no offset, rounding skipped", "[quant]") {
  const CodeRange r = symmetric_codes(3);
  const std::vector<float> sv = {0.9f, 0.5f};
  const auto v = codes_away_from_bounds(20, r, 0.4f, 14);
  std::vector<float> xv(20);
  for (int i = 0; i < 20; ++i) xv[size_t(i)] = sv[size_t(i / 10)] * v[size_t(i)];
  const Tensor x = param(xv, {2, 10}), s = param(sv, {2});
  auto f = [r](const std::vector<Tensor>& in) { return lsq_fake_quant(in[0], in[1], Tensor(), r, Rounding::skip); };
  RAOQ_REQUIRE_GRADCHECK("lsq_fake_quant", f, {x, s});
}

RAOQ_GRADCHECK_CASE("scale_floor", "scales above the floor", "[quant]") {
  const Tensor s = testing::uniform({5}, 0.2f, 2.0f, 21);
  RAOQ_REQUIRE_GRADCHECK("scale_floor", [](const std::vector<Tensor>& in) { return scale_floor(in[0]); }, {s});
}

RAOQ_GRADCHECK_CASE("grad_scale", "g = 1 (identity)", "[quant]") {
  // With g = 1 the op is the identity in both directions; g != 1 deliberately differs from finite
  // differences (that is its purpose) and is pinned in the test above.
  const Tensor x = testing::uniform({3, 4}, -2.0f, 2.0f, 22);
  RAOQ_REQUIRE_GRADCHECK("grad_scale", [](const std::vector<Tensor>& in) { return grad_scale(in[0], 1.0f); }, {x});
}

TEST_CASE("lsq_plus_weight_scale: max(|mu - 3 sigma|, |mu + 3 sigma|) / 2^(b-1)", "[quant]") {
  const Tensor w = Tensor::from_vector({1, -1, 1, -1, 2, 2, 2, 6}, {2, 4});
  // per tensor: mu = 1.5, sigma = sqrt(mean((w-1.5)^2)) = sqrt(37/8 - ... ) computed below
  double mu = 0, sq = 0;
  for (float v : w.to_vector()) mu += v;
  mu /= 8;
  for (float v : w.to_vector()) sq += (v - mu) * (v - mu);
  const double sigma = std::sqrt(sq / 8);
  CHECK(lsq_plus_weight_scale(w, 4, false).item() == Approx(std::max(std::fabs(mu - 3 * sigma), mu + 3 * sigma) / 8));
  const Tensor pc = lsq_plus_weight_scale(w, 4, true);
  REQUIRE(pc.shape() == Shape{2});
  CHECK(pc.to_vector()[0] == Approx(3.0 / 8));  // mu 0, sigma 1
  CHECK(pc.to_vector()[1] == Approx((3 + 3 * std::sqrt(3.0)) / 8));  // mu 3, sigma sqrt(3)
  CHECK(lsq_plus_weight_scale(Tensor::full({4}, 0.7f), 4, false).item() == Approx(0.1));  // zero variance: max|w|/7
}

TEST_CASE("lsq_plus_activation_init: no worse than min-max, offset near the minimum", "[quant]") {
  Generator gen(5);
  std::vector<float> v(4096);
  for (auto& e : v) e = std::max(-0.1f, gen.normal()) + 0.05f * gen.normal();  // a ReLU-like batch
  const Tensor x = Tensor::from_vector(v, {4096});
  const CodeRange r = unsigned_codes(4);
  auto mse = [&](float s, float b) {
    double e = 0;
    for (float xv : v) {
      const float q = s * std::nearbyint(std::clamp((xv - b) / s, r.lo, r.hi)) + b;
      e += (q - xv) * (q - xv);
    }
    return e;
  };
  const auto [mn, mx] = std::minmax_element(v.begin(), v.end());
  const ScaleOffset init = lsq_plus_activation_init(x, r);
  CHECK(init.scale > 0);
  CHECK(mse(init.scale, init.offset) <= mse((*mx - *mn) / 15, *mn));  // min-max is one of the candidates
  CHECK(init.offset >= *mn - 1e-6f);
  CHECK(init.offset < *mn + 0.3f * (*mx - *mn));
  const ScaleOffset sym = lsq_plus_activation_init(x, signed_codes(4), false);
  CHECK(sym.offset == 0.0f);
  CHECK(sym.scale <= std::max(std::fabs(*mn), std::fabs(*mx)) / 7 + 1e-6f);
}

TEST_CASE("rounding helpers equal std::floor and std::nearbyint on code-sized values", "[quant]") {
  Generator gen(3);
  for (int i = 0; i < 20000; ++i) {
    // quarter steps hit the ties exactly; the random values cover everything between
    const float z = i < 4000 ? -500.0f + 0.25f * float(i) : (gen.uniform01() - 0.5f) * 70000.0f;
    INFO("z = " << z);
    REQUIRE(quant::detail::floor_code(z) == std::floor(z));
    REQUIRE(quant::detail::round_even_code(z) == std::nearbyint(z));
  }
}
