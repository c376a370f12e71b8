// tests/layers/test_layer_norm.cpp — LayerNorm: values, shapes, gradient checks.
#include <cmath>

#include "layers/layer_norm.h"
#include "tests/layers/layer_check.h"

using namespace raoq;
using Catch::Detail::Approx;

TEST_CASE("LayerNorm: normalises the last dimension", "[layers]") {
  LayerNorm ln(4);
  // Row [1, 2, 3, 4]: mean 2.5, biased var 1.25.
  const Tensor y = ln.forward(Tensor::from_vector({1, 2, 3, 4, 5, 5, 5, 5}, {2, 4}));
  const float r = 1.0f / std::sqrt(1.25f + 1e-5f);
  CHECK(y.at({0, 0}) == Approx(-1.5f * r));
  CHECK(y.at({0, 3}) == Approx(1.5f * r));
  CHECK(y.at({1, 2}) == Approx(0.0f).margin(1e-6));
  REQUIRE(ln.forward(Tensor::zeros({2, 3, 4})).shape() == Shape{2, 3, 4});
  REQUIRE_THROWS_WITH(ln.forward(Tensor::zeros({2, 3})), Catch::Contains("expected input (..., 4), got [2, 3]"));
  REQUIRE(LayerNorm(4, 1e-5f, false).named_parameters().empty());
}

TEST_CASE("LayerNorm: gradient check", "[layers][gradcheck]") {
  LayerNorm ln(4);
  ln.weight.copy_from(Tensor::from_vector({1.5f, -0.5f, 0.8f, 1.0f}, {4}));
  ln.bias.copy_from(Tensor::from_vector({0.1f, 0.2f, -0.3f, 0.0f}, {4}));
  RAOQ_REQUIRE_LAYER_GRADCHECK(ln, testing::randn({2, 3, 4}, 41));
  LayerNorm plain(5, 1e-5f, false);
  RAOQ_REQUIRE_LAYER_GRADCHECK(plain, testing::randn({3, 5}, 42));
}
