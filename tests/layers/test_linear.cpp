// tests/layers/test_linear.cpp — Linear: values, shapes, errors, gradient check.
#include "layers/linear.h"
#include "tests/layers/layer_check.h"

using namespace raoq;

TEST_CASE("Linear: y = x W^T + b on a hand-worked case", "[layers]") {
  Linear fc(2, 2);
  fc.weight.copy_from(Tensor::from_vector({1, 2, 3, 4}, {2, 2}));  // rows: [1, 2], [3, 4]
  fc.bias.copy_from(Tensor::from_vector({0.5f, -1}, {2}));
  const Tensor y = fc.forward(Tensor::from_vector({1, -1, 2, 0.5f}, {2, 2}));
  // [1, -1]: [1 - 2 + 0.5, 3 - 4 - 1] = [-0.5, -2];  [2, 0.5]: [2 + 1 + 0.5, 6 + 2 - 1] = [3.5, 7]
  REQUIRE(y.to_vector() == std::vector<float>{-0.5f, -2, 3.5f, 7});
}

TEST_CASE("Linear: shapes, no-bias variant and errors", "[layers]") {
  Linear fc(4, 3);
  REQUIRE(fc.weight.shape() == Shape{3, 4});
  REQUIRE(fc.bias.shape() == Shape{3});
  REQUIRE(fc.forward(Tensor::zeros({5, 4})).shape() == Shape{5, 3});
  REQUIRE(fc.forward(Tensor::zeros({2, 7, 4})).shape() == Shape{2, 7, 3});  // (B, T, in)
  Linear nb(4, 3, false);
  REQUIRE_FALSE(nb.bias.defined());
  REQUIRE(nb.named_parameters().size() == 1);
  REQUIRE(nb.forward(Tensor::ones({1, 4})).shape() == Shape{1, 3});
  REQUIRE_THROWS_WITH(fc.forward(Tensor::zeros({5, 2})),
                      Catch::Contains("Linear (4->3): expected input (..., 4), got [5, 2]"));
  REQUIRE_THROWS_WITH(Linear(0, 3), Catch::Contains("features must be positive"));
}

TEST_CASE("Linear: gradient check over input, weight and bias", "[layers][gradcheck]") {
  Linear fc(4, 3);
  RAOQ_REQUIRE_LAYER_GRADCHECK(fc, testing::uniform({2, 4}, -1, 1, 11));
  RAOQ_REQUIRE_LAYER_GRADCHECK(fc, testing::uniform({2, 3, 4}, -1, 1, 12));
  Linear nb(3, 2, false);
  RAOQ_REQUIRE_LAYER_GRADCHECK(nb, testing::uniform({5, 3}, -1, 1, 13));
}
