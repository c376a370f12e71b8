// tests/layers/test_activations.cpp — ReLU, GELU, SiLU: values and gradient checks.
#include <cmath>

#include "layers/gelu.h"
#include "layers/relu.h"
#include "layers/silu.h"
#include "tests/layers/layer_check.h"

using namespace raoq;
using Catch::Detail::Approx;

TEST_CASE("activations: values", "[layers]") {
  const Tensor x = Tensor::from_vector({-2, -0.5f, 0, 1.5f}, {2, 2});
  REQUIRE(ReLU().forward(x).to_vector() == std::vector<float>{0, 0, 0, 1.5f});
  const auto g = GELU().forward(x).to_vector();
  const auto s = SiLU().forward(x).to_vector();
  REQUIRE(GELU().forward(x).shape() == Shape{2, 2});
  for (size_t i = 0; i < 4; ++i) {
    const double v = x.data()[i];
    CHECK(g[i] == Approx(0.5 * v * (1.0 + std::erf(v / std::sqrt(2.0)))).margin(1e-6));
    CHECK(s[i] == Approx(v / (1.0 + std::exp(-v))).margin(1e-6));
  }
}

TEST_CASE("activations: gradient checks", "[layers][gradcheck]") {
  ReLU relu;
  RAOQ_REQUIRE_LAYER_GRADCHECK(relu, testing::uniform_away_from_zero({3, 5}, 2.0f, 0.1f, 71));  // off the kink
  GELU gelu;
  RAOQ_REQUIRE_LAYER_GRADCHECK(gelu, testing::uniform({3, 5}, -3, 3, 72));
  SiLU silu;
  RAOQ_REQUIRE_LAYER_GRADCHECK(silu, testing::uniform({3, 5}, -3, 3, 73));
}
