// tests/layers/test_batch_norm2d.cpp — BatchNorm2d: batch statistics, running statistics,
// eval mode, (N, C) input, gradient checks.
#include <cmath>

#include "layers/batch_norm2d.h"
#include "tests/layers/layer_check.h"

using namespace raoq;
using Catch::Detail::Approx;

TEST_CASE("BatchNorm2d: training normalises per channel and updates running statistics", "[layers]") {
  BatchNorm2d bn(2);
  // Channel 0 holds 1, 2, 3, 4 (mean 2.5, biased var 1.25, unbiased 5/3); channel 1 holds 10 everywhere.
  const Tensor x = Tensor::from_vector({1, 2, 10, 10, 3, 4, 10, 10}, {2, 2, 2, 1});
  const Tensor y = bn.forward(x);
  const float r = 1.0f / std::sqrt(1.25f + 1e-5f);
  CHECK(y.at({0, 0, 0, 0}) == Approx(-1.5f * r));
  CHECK(y.at({1, 0, 1, 0}) == Approx(1.5f * r));
  CHECK(y.at({0, 1, 0, 0}) == Approx(0.0f).margin(1e-6));
  // r = 0.9 r + 0.1 stat
  CHECK(bn.running_mean.data()[0] == Approx(0.25f));
  CHECK(bn.running_mean.data()[1] == Approx(1.0f));
  CHECK(bn.running_var.data()[0] == Approx(0.9f + 0.1f * 5.0f / 3.0f));
  CHECK(bn.running_var.data()[1] == Approx(0.9f));

  bn.eval();  // now (x - running_mean) / sqrt(running_var + eps)
  const Tensor e = bn.forward(x);
  CHECK(e.at({0, 0, 0, 0}) == Approx((1.0f - 0.25f) / std::sqrt(0.9f + 0.5f / 3.0f + 1e-5f)));
  CHECK(bn.running_mean.data()[0] == Approx(0.25f));  // eval does not update
}

TEST_CASE("BatchNorm2d: accepts (N, C) and rejects other shapes", "[layers]") {
  BatchNorm2d bn(3);
  REQUIRE(bn.forward(testing::uniform({4, 3}, -1, 1, 1, false)).shape() == Shape{4, 3});
  REQUIRE(bn.forward(testing::uniform({2, 3, 2, 2}, -1, 1, 2, false)).shape() == Shape{2, 3, 2, 2});
  REQUIRE_THROWS_WITH(bn.forward(Tensor::zeros({2, 4, 2, 2})),
                      Catch::Contains("expected input (N, 3, H, W) or (N, 3), got [2, 4, 2, 2]"));
  REQUIRE(bn.named_buffers().size() == 2);
}

TEST_CASE("BatchNorm2d: gradient check in training mode", "[layers][gradcheck]") {
  BatchNorm2d bn(3);
  bn.weight.copy_from(Tensor::from_vector({1.5f, -0.5f, 0.8f}, {3}));
  bn.bias.copy_from(Tensor::from_vector({0.1f, 0.2f, -0.3f}, {3}));
  RAOQ_REQUIRE_LAYER_GRADCHECK(bn, testing::randn({2, 3, 2, 2}, 31));
  RAOQ_REQUIRE_LAYER_GRADCHECK(bn, testing::randn({6, 3}, 32));
}

TEST_CASE("BatchNorm2d: gradient check in eval mode", "[layers][gradcheck]") {
  BatchNorm2d bn(3);
  bn.running_mean.copy_from(Tensor::from_vector({0.2f, -0.1f, 0.0f}, {3}));
  bn.running_var.copy_from(Tensor::from_vector({0.5f, 1.5f, 2.0f}, {3}));
  bn.eval();
  RAOQ_REQUIRE_LAYER_GRADCHECK(bn, testing::randn({2, 3, 2, 2}, 33));
}
