// tests/layers/test_sequential.cpp — Sequential: order, indexing, output names, gradient check.
#include "core/autograd.h"
#include "core/ops.h"
#include "layers/gelu.h"
#include "layers/linear.h"
#include "layers/sequential.h"
#include "tests/layers/layer_check.h"

using namespace raoq;

TEST_CASE("Sequential: applies children in order under names 0, 1, ...", "[layers]") {
  Sequential seq{std::make_shared<Linear>(3, 4), std::make_shared<GELU>()};
  auto last = seq.push_back(std::make_shared<Linear>(4, 2));
  REQUIRE(seq.size() == 3);
  REQUIRE(seq.at<Linear>(2) == last);
  REQUIRE(seq.named_children()[1].first == "1");
  REQUIRE(seq.named_parameters()[2].first == "2.weight");
  const Tensor x = testing::uniform({5, 3}, -1, 1, 81, false);
  const Tensor y = seq.forward(x);
  const Tensor expected = last->forward(ops::gelu(seq.at<Linear>(0)->forward(x)));
  REQUIRE(y.to_vector() == expected.to_vector());
  REQUIRE_THROWS_WITH(seq[3], Catch::Contains("index 3 out of range for 3 children"));
}

TEST_CASE("Sequential: layer outputs carry the module path", "[layers]") {
  Sequential outer;
  auto inner = outer.push_back(std::make_shared<Sequential>());
  auto fc = inner->push_back(std::make_shared<Linear>(2, 2));
  const Tensor x = testing::uniform({1, 2}, -1, 1, 82);
  const Tensor y = outer.forward(x);
  REQUIRE(y.name() == "0.0:out");
  REQUIRE(fc->weight.name() == "0.0.weight");
  REQUIRE(x.name() != "0.0:out");
}

TEST_CASE("Sequential: gradient check through the chain", "[layers][gradcheck]") {
  Sequential seq{std::make_shared<Linear>(3, 4), std::make_shared<GELU>(), std::make_shared<Linear>(4, 2)};
  RAOQ_REQUIRE_LAYER_GRADCHECK(seq, testing::uniform({3, 3}, -1, 1, 83));
}
