// tests/layers/test_conv2d.cpp — Conv2d: shapes for every option, init bounds, gradient checks.
#include <cmath>

#include "layers/conv2d.h"
#include "tests/layers/layer_check.h"

using namespace raoq;

TEST_CASE("Conv2d: output shapes for stride, padding, dilation and groups", "[layers]") {
  // H_out = (H + 2p - d(k-1) - 1)/s + 1
  const Tensor x = Tensor::zeros({2, 4, 9, 9});
  REQUIRE(Conv2d(4, 6, 3).forward(x).shape() == Shape{2, 6, 7, 7});
  REQUIRE(Conv2d(4, 6, 3, {.padding = 1}).forward(x).shape() == Shape{2, 6, 9, 9});
  REQUIRE(Conv2d(4, 6, 3, {.stride = 2, .padding = 1}).forward(x).shape() == Shape{2, 6, 5, 5});
  REQUIRE(Conv2d(4, 6, 3, {.dilation = 2}).forward(x).shape() == Shape{2, 6, 5, 5});
  Conv2d dw(4, 4, 3, {.padding = 1, .groups = 4}, false);
  REQUIRE(dw.weight.shape() == Shape{4, 1, 3, 3});
  REQUIRE_FALSE(dw.bias.defined());
  REQUIRE(dw.forward(x).shape() == Shape{2, 4, 9, 9});
  REQUIRE(Conv2d(4, 2, 1, {.groups = 2}).weight.shape() == Shape{2, 2, 1, 1});
  REQUIRE_THROWS_WITH(Conv2d(4, 6, 3, {.groups = 4}), Catch::Contains("groups 4 must divide"));
  REQUIRE_THROWS_WITH(Conv2d(4, 6, 3).forward(Tensor::zeros({2, 3, 9, 9})),
                      Catch::Contains("expected input (N, 4, H, W), got [2, 3, 9, 9]"));
}

TEST_CASE("Conv2d: PyTorch default init bounds", "[layers]") {
  Conv2d c(4, 8, 3, {.groups = 2});
  const float bound = 1.0f / std::sqrt(2.0f * 9.0f);  // fan_in = C_in/groups * k * k = 18
  REQUIRE(c.weight.flat().abs().maxCoeff() <= bound);
  REQUIRE(c.weight.flat().abs().maxCoeff() > 0.5f * bound);
  REQUIRE(c.bias.flat().abs().maxCoeff() <= bound);
}

TEST_CASE("Conv2d: gradient check over input, weight and bias", "[layers][gradcheck]") {
  SECTION("plain 3x3 with padding") {
    Conv2d c(2, 3, 3, {.padding = 1});  // weight 54, bias 3
    RAOQ_REQUIRE_LAYER_GRADCHECK(c, testing::uniform({1, 2, 4, 4}, -1, 1, 21));
  }
  SECTION("stride 2, no bias") {
    Conv2d c(2, 3, 3, {.stride = 2, .padding = 1}, false);
    RAOQ_REQUIRE_LAYER_GRADCHECK(c, testing::uniform({2, 2, 5, 5}, -1, 1, 22));
  }
  SECTION("dilation 2") {
    Conv2d c(2, 2, 3, {.padding = 2, .dilation = 2});
    RAOQ_REQUIRE_LAYER_GRADCHECK(c, testing::uniform({1, 2, 4, 4}, -1, 1, 23));
  }
  SECTION("depthwise") {
    Conv2d c(4, 4, 3, {.padding = 1, .groups = 4});
    RAOQ_REQUIRE_LAYER_GRADCHECK(c, testing::uniform({1, 4, 4, 4}, -1, 1, 24));
  }
  SECTION("two groups") {
    Conv2d c(4, 2, 3, {.groups = 2});
    RAOQ_REQUIRE_LAYER_GRADCHECK(c, testing::uniform({1, 4, 4, 4}, -1, 1, 25));
  }
}
