// tests/core/test_ops_dropout.cpp — dropout: identity in eval, a deterministic mask from the
// generator, the drop rate and scaling, the gradient through the mask, finite differences.
#include <cmath>

#include "core/autograd.h"
#include "core/error.h"
#include "core/ops.h"
#include "core/rng.h"
#include "tests/support/testing.h"

using namespace raoq;

namespace {
// L = sum(y * r) through a local op, so these tests depend on no other op of core/ops.
Tensor project(const Tensor& y, const Tensor& r) {
  double acc = 0;
  for (int64_t i = 0; i < y.numel(); ++i) acc += double(y.data()[i]) * r.data()[i];
  return autograd::record("test_projection", {y}, Tensor::scalar(static_cast<float>(acc)), {"r"},
                          [r](BackwardContext& ctx) { ctx.dinput(0) += ctx.dout()(0) * r.flat(); });
}
}  // namespace

TEST_CASE("dropout: identity in eval and at p = 0, gradient 1", "[core][dropout]") {
  Generator gen(3);
  Tensor x = testing::uniform({4, 5}, -1, 1, 71);
  for (const bool training : {false, true}) {
    const float p = training ? 0.0f : 0.5f;
    const Tensor y = ops::dropout(x, p, training, gen);
    REQUIRE(y.to_vector() == x.to_vector());
    REQUIRE_FALSE(y.is_same(x));
    x.set_grad(Tensor());
    project(y, Tensor::ones({4, 5})).backward();
    REQUIRE(x.grad().to_vector() == std::vector<float>(20, 1.0f));
  }
}

TEST_CASE("dropout: the mask comes from the generator, drops about p and scales by 1/(1-p)", "[core][dropout]") {
  const float p = 0.3f;
  const Tensor x = testing::uniform({100000}, 0.5f, 1.5f, 72);
  Generator a(9), b(9), c(10);
  const Tensor ya = ops::dropout(x, p, true, a);
  REQUIRE(ops::dropout(x, p, true, b).to_vector() == ya.to_vector());    // same state, same mask
  REQUIRE(ops::dropout(x, p, true, c).to_vector() != ya.to_vector());    // another seed
  REQUIRE(ops::dropout(x, p, true, a).to_vector() != ya.to_vector());    // the generator advanced
  const float keep_scale = 1.0f / (1.0f - p);
  int64_t dropped = 0;
  for (int64_t i = 0; i < x.numel(); ++i) {
    if (ya.data()[i] == 0.0f) {
      ++dropped;
    } else {
      REQUIRE(ya.data()[i] == x.data()[i] * keep_scale);
    }
  }
  // Binomial(1e5, 0.3): standard deviation 145 drops; 6 of them is 870.
  REQUIRE(std::abs(double(dropped) - 30000.0) < 870.0);
  project(ya, Tensor::ones({100000})).backward();
  for (int64_t i = 0; i < x.numel(); ++i) REQUIRE(x.grad().data()[i] == (ya.data()[i] == 0.0f ? 0.0f : keep_scale));
}

TEST_CASE("dropout: p = 1 drops everything without NaN", "[core][dropout]") {
  Generator gen(1);
  const Tensor x = testing::uniform({3, 3}, -1, 1, 73);
  const Tensor y = ops::dropout(x, 1.0f, true, gen);
  REQUIRE(y.to_vector() == std::vector<float>(9, 0.0f));
  project(y, Tensor::ones({3, 3})).backward();
  REQUIRE(x.grad().to_vector() == std::vector<float>(9, 0.0f));
}

RAOQ_GRADCHECK_CASE("dropout", "training p = 0.4 (fixed mask from a fixed seed)", "[core][dropout]") {
  auto x = testing::uniform({5, 6}, -1, 1, 1);
  auto f = [](const std::vector<Tensor>& in) {
    Generator gen(7);  // the same mask on every evaluation
    return ops::dropout(in[0], 0.4f, true, gen);
  };
  RAOQ_REQUIRE_GRADCHECK("dropout", f, {x});
}

RAOQ_GRADCHECK_CASE("dropout", "eval", "[core][dropout]") {
  auto x = testing::uniform({3, 4}, -1, 1, 2);
  auto f = [](const std::vector<Tensor>& in) {
    Generator gen(7);
    return ops::dropout(in[0], 0.4f, false, gen);
  };
  RAOQ_REQUIRE_GRADCHECK("dropout", f, {x});
}

TEST_CASE("dropout: p outside [0, 1] is an error", "[core][dropout]") {
  Generator gen(1);
  REQUIRE_THROWS_WITH(ops::dropout(Tensor::zeros({2}), 1.5f, true, gen),
                      Catch::Contains("dropout: expected a drop probability p in [0, 1], given 1.5"));
  REQUIRE_THROWS_WITH(ops::dropout(Tensor::zeros({2}), -0.1f, false, gen), Catch::Contains("given -0.1"));
}
