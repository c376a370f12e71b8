// tests/quant/test_wreshape.cpp — the kurtosis op (values and gradient against the closed form),
// the W-reshape loss weights of Eq. 7 and Eq. 13, and that descending it flattens a distribution.
#include <algorithm>
#include <cmath>
#include <vector>

#include "core/autograd.h"
#include "core/rng.h"
#include "quant/wreshape.h"
#include "tests/quant/backward_with.h"
#include "tests/support/testing.h"

using namespace raoq;
using namespace raoq::quant;

TEST_CASE("kurtosis: values of known distributions", "[quant]") {
  CHECK(kurtosis(Tensor::from_vector({-1, 1, -1, 1}, {4})).item() == Approx(1.0));
  // d = {-1, -1, -1, 3}: m2 = 3, m4 = 21 -> 21/9
  CHECK(kurtosis(Tensor::from_vector({0, 0, 0, 4}, {2, 2})).item() == Approx(21.0 / 9.0));
  // discrete uniform over the 15 symmetric 4-bit codes: E[d^4]/E[d^2]^2 = (2*4676/15) / (2*140/15)^2
  CHECK(kurtosis(Tensor::arange(-7, 8)).item() == Approx((2 * 4676.0 / 15) / std::pow(2 * 140.0 / 15, 2)));
  CHECK(kurtosis(Tensor::full({6}, 3.0f)).item() == 0.0f);  // all equal: 0, not NaN
  REQUIRE_THROWS_WITH(kurtosis(Tensor::scalar(1.0f)), Catch::Contains("at least 2 elements"));
}

TEST_CASE("kurtosis: gradient pinned against the closed form", "[quant]") {
  const std::vector<float> v = {0, 1, 2, 5, -3};
  const Tensor w = Tensor::from_vector(v, {5}).set_requires_grad(true);
  testing::backward_with(kurtosis(w), {1});
  double mu = 0, m2 = 0, m3 = 0, m4 = 0;
  for (float e : v) mu += e / 5.0;
  for (float e : v) {
    const double d = e - mu;
    m2 += d * d / 5, m3 += d * d * d / 5, m4 += d * d * d * d / 5;
  }
  for (int i = 0; i < 5; ++i) {
    const double d = v[size_t(i)] - mu;
    const double expected = 4 / (5 * m2 * m2) * (d * d * d - m3) - 4 * m4 / (5 * m2 * m2 * m2) * d;
    CHECK(w.grad().to_vector()[size_t(i)] == Approx(expected).epsilon(1e-5));
  }
}

RAOQ_GRADCHECK_CASE("kurtosis", "24 normal values", "[quant]") {
  const Tensor w = testing::randn({4, 6}, 41);
  RAOQ_REQUIRE_GRADCHECK("kurtosis", [](const std::vector<Tensor>& in) { return kurtosis(in[0]); }, {w});
}

TEST_CASE("wreshape_loss: lambda sum (Eq. 7) and later layers weighted 4x (Eq. 13)", "[quant]") {
  std::vector<Tensor> k;
  for (float v : {2.0f, 3.0f, 5.0f}) k.push_back(Tensor::scalar(v).set_requires_grad(true));
  CHECK(wreshape_loss(k, 0.5f).item() == Approx(0.5 * 10));
  const Tensor loss = wreshape_loss(k, 0.5f, /*later_from=*/1);
  CHECK(loss.item() == Approx(0.5 * (2 + 4 * 3 + 4 * 5)));
  loss.backward();
  CHECK(k[0].grad().item() == 0.5f);
  CHECK(k[1].grad().item() == 2.0f);
  CHECK(k[2].grad().item() == 2.0f);
  CHECK(wreshape_loss({}, 0.5f).item() == 0.0f);
}

RAOQ_GRADCHECK_CASE("wreshape_loss", "three layers, Eq. 13 weights", "[quant]") {
  const Tensor a = testing::uniform({}, 1.0f, 4.0f, 42), b = testing::uniform({}, 1.0f, 4.0f, 43);
  const Tensor c = testing::uniform({1}, 1.0f, 4.0f, 44);
  RAOQ_REQUIRE_GRADCHECK(
      "wreshape_loss", [](const std::vector<Tensor>& in) { return wreshape_loss(in, 0.01f, 2); }, {a, b, c});
}

// Kurtosis is scale invariant, so what it changes is the shape: a flat distribution fills the code
// range a quantizer must cover (its max |w|), i.e. Var[w] / max|w|^2 grows — the Var[wq] gain of
// RAOQ Fig. 3a at a fixed clipping scale.
TEST_CASE("W-reshape: descending the kurtosis flattens a Gaussian so it fills its range", "[quant]") {
  Generator gen(9);
  std::vector<float> v(512);
  for (auto& e : v) e = gen.normal() * 2.0f;
  Tensor w = Tensor::from_vector(v, {512}).set_requires_grad(true);
  auto fill = [](const Tensor& t) {
    double var = 0, mean = 0, amax = 0;
    for (int64_t i = 0; i < t.numel(); ++i) mean += t.data()[i] / double(t.numel());
    for (int64_t i = 0; i < t.numel(); ++i) {
      var += (t.data()[i] - mean) * (t.data()[i] - mean) / double(t.numel());
      amax = std::max(amax, std::fabs(double(t.data()[i])));
    }
    return var / (amax * amax);
  };
  const double k0 = kurtosis(w.detach()).item(), fill0 = fill(w);
  for (int step = 0; step < 200; ++step) {
    w.zero_grad();
    kurtosis(w).backward();
    autograd::NoGradGuard ng;
    w.flat() -= 20.0f * w.grad().flat();
  }
  const double k1 = kurtosis(w.detach()).item(), fill1 = fill(w);
  CAPTURE(k0, k1, fill0, fill1);
  CHECK(k0 > 2.5);
  CHECK(k1 < 2.0);
  CHECK(fill1 > 3 * fill0);
}
