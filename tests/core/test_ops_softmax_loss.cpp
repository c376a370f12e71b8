// tests/core/test_ops_softmax_loss.cpp — softmax, log_softmax, cross_entropy (with label
// smoothing) and mse_loss: hand-computed values, stability at large logits, errors, gradients.
#include <cmath>

#include "core/autograd.h"
#include "core/error.h"
#include "core/ops.h"
#include "tests/support/testing.h"

using namespace raoq;
using Catch::Contains;

namespace {

void require_values(const Tensor& t, const std::vector<float>& expected, float tol = 1e-6f) {
  REQUIRE(t.numel() == static_cast<int64_t>(expected.size()));
  for (size_t i = 0; i < expected.size(); ++i) {
    INFO("element " << i);
    REQUIRE(t.data()[i] == Approx(expected[i]).margin(tol));
  }
}

// softmax([1, 2, 3]) = e^k / (e + e^2 + e^3)
constexpr float kP1 = 0.0900305732f, kP2 = 0.2447284711f, kP3 = 0.6652409558f;

}  // namespace

TEST_CASE("softmax and log_softmax: values along the last and a middle axis", "[core]") {
  Tensor x = Tensor::from_vector({1, 2, 3, 1, 1, 1}, {2, 3});
  require_values(ops::softmax(x, -1), {kP1, kP2, kP3, 1 / 3.f, 1 / 3.f, 1 / 3.f});
  require_values(ops::log_softmax(x, 1), {std::log(kP1), std::log(kP2), std::log(kP3), -std::log(3.f),
                                          -std::log(3.f), -std::log(3.f)});
  // Axis 0 of (3, 2): columns [1, 2, 3] and [1, 1, 1] (the inner > 1 path).
  Tensor xt = Tensor::from_vector({1, 1, 2, 1, 3, 1}, {3, 2});
  require_values(ops::softmax(xt, 0), {kP1, 1 / 3.f, kP2, 1 / 3.f, kP3, 1 / 3.f});
  require_values(ops::log_softmax(xt, -2), {std::log(kP1), -std::log(3.f), std::log(kP2), -std::log(3.f),
                                            std::log(kP3), -std::log(3.f)});
}

TEST_CASE("softmax and log_softmax: stable for large logits", "[core]") {
  Tensor x = Tensor::from_vector({1000, 1001, 1002, -1000, -1001, -1002}, {2, 3});
  require_values(ops::softmax(x, -1), {kP1, kP2, kP3, kP3, kP2, kP1});
  require_values(ops::log_softmax(x, -1), {std::log(kP1), std::log(kP2), std::log(kP3), std::log(kP3),
                                           std::log(kP2), std::log(kP1)});
  Tensor l = ops::cross_entropy(Tensor::from_vector({1e4f, 0, -1e4f}, {1, 3}), {2});
  REQUIRE(l.item() == Approx(2e4f));
}

TEST_CASE("cross_entropy: hand-computed loss, label smoothing and gradient", "[core]") {
  Tensor logits = Tensor::from_vector({1, 2, 3, 1, 1, 1}, {2, 3}).set_requires_grad(true);
  // Row losses -log p_target: -log kP3 = 0.4076059644 and log 3 = 1.0986122887.
  Tensor loss = ops::cross_entropy(logits, {2, 0});
  REQUIRE(loss.shape() == Shape{});
  REQUIRE(loss.item() == Approx((0.4076059644 + 1.0986122887) / 2).epsilon(1e-6));
  loss.backward();
  require_values(logits.grad(), {kP1 / 2, kP2 / 2, (kP3 - 1) / 2, (1 / 3.f - 1) / 2, 1 / 6.f, 1 / 6.f});
  // e = 0.1: row 0 = 0.9 * 0.4076059644 + (0.1/3) * (2.4076059644 + 1.4076059644 + 0.4076059644)
  //                = 0.5076059644;  row 1 = log 3 whatever the smoothing.
  logits.zero_grad();
  Tensor smooth = ops::cross_entropy(logits, {2, 0}, 0.1f);
  REQUIRE(smooth.item() == Approx((0.5076059644 + 1.0986122887) / 2).epsilon(1e-6));
  smooth.backward();
  const float u = 0.1f / 3;  // q = 0.9 onehot + 0.1/3
  require_values(logits.grad(), {(kP1 - u) / 2, (kP2 - u) / 2, (kP3 - 0.9f - u) / 2, (1 / 3.f - 0.9f - u) / 2,
                                 (1 / 3.f - u) / 2, (1 / 3.f - u) / 2});
}

TEST_CASE("mse_loss: value and gradient", "[core]") {
  Tensor a = Tensor::from_vector({1, 2, 3, 4}, {2, 2}).set_requires_grad(true);
  Tensor b = Tensor::from_vector({0, 2, 5, 4}, {2, 2}).set_requires_grad(true);
  Tensor l = ops::mse_loss(a, b);
  REQUIRE(l.shape() == Shape{});
  REQUIRE(l.item() == 1.25f);  // (1 + 0 + 4 + 0) / 4
  l.backward();
  require_values(a.grad(), {0.5f, 0, -1, 0});
  require_values(b.grad(), {-0.5f, 0, 1, 0});
}

TEST_CASE("softmax and loss errors name the op and what was given", "[core]") {
  Tensor logits = Tensor::zeros({4, 10});
  REQUIRE_THROWS_WITH(ops::cross_entropy(logits, {0, 1, 12, 3}),
                      Contains("cross_entropy: target 12 at index 2 is out of range [0, 10)"));
  REQUIRE_THROWS_WITH(ops::cross_entropy(logits, {0, -1, 2, 3}), Contains("target -1 at index 1 is out of range"));
  REQUIRE_THROWS_WITH(ops::cross_entropy(logits, {0, 1, 2}), Contains("cross_entropy: 3 targets for 4 rows"));
  REQUIRE_THROWS_WITH(ops::cross_entropy(Tensor::zeros({2, 3, 10}), {0, 1}),
                      Contains("cross_entropy: expects logits (N, C), given [2, 3, 10]"));
  REQUIRE_THROWS_WITH(ops::cross_entropy(logits, {0, 1, 2, 3}, 1.0f),
                      Contains("cross_entropy: label_smoothing must be in [0, 1), given 1"));
  REQUIRE_THROWS_WITH(ops::mse_loss(Tensor::zeros({3, 4}), Tensor::zeros({4})),
                      Contains("mse_loss: a is [3, 4] but b is [4]"));
  REQUIRE_THROWS_WITH(ops::softmax(logits, 2), Contains("softmax: axis 2 out of range for shape [4, 10]"));
  REQUIRE_THROWS_WITH(ops::log_softmax(logits, -3), Contains("log_softmax: axis -3 out of range"));
}

RAOQ_GRADCHECK_CASE("softmax", "last axis and a middle axis", "[core]") {
  RAOQ_REQUIRE_GRADCHECK("softmax", [](const auto& in) { return ops::softmax(in[0], -1); },
                         {testing::uniform({3, 5}, -2, 2, 1)});
  RAOQ_REQUIRE_GRADCHECK("softmax", [](const auto& in) { return ops::softmax(in[0], 1); },
                         {testing::uniform({2, 4, 3}, -2, 2, 2)});
}
RAOQ_GRADCHECK_CASE("log_softmax", "last axis and the first axis", "[core]") {
  RAOQ_REQUIRE_GRADCHECK("log_softmax", [](const auto& in) { return ops::log_softmax(in[0], -1); },
                         {testing::uniform({3, 5}, -2, 2, 3)});
  RAOQ_REQUIRE_GRADCHECK("log_softmax", [](const auto& in) { return ops::log_softmax(in[0], 0); },
                         {testing::uniform({4, 2, 3}, -2, 2, 4)});
}
RAOQ_GRADCHECK_CASE("cross_entropy", "plain and with label smoothing 0.1", "[core]") {
  RAOQ_REQUIRE_GRADCHECK("cross_entropy", [](const auto& in) { return ops::cross_entropy(in[0], {3, 0, 4, 1}); },
                         {testing::uniform({4, 5}, -2, 2, 5)});
  RAOQ_REQUIRE_GRADCHECK("cross_entropy", [](const auto& in) { return ops::cross_entropy(in[0], {3, 0, 4, 1}, 0.1f); },
                         {testing::uniform({4, 5}, -2, 2, 6)});
}
RAOQ_GRADCHECK_CASE("mse_loss", "(3,4) against (3,4), both inputs", "[core]") {
  RAOQ_REQUIRE_GRADCHECK("mse_loss", [](const auto& in) { return ops::mse_loss(in[0], in[1]); },
                         {testing::uniform({3, 4}, -1, 1, 7), testing::uniform({3, 4}, -1, 1, 8)});
}
