// tests/layers/test_dropout.cpp — Dropout: eval identity, mask statistics, seeding, gradient check.
#include "layers/dropout.h"
#include "tests/layers/layer_check.h"

using namespace raoq;

TEST_CASE("Dropout: zeroes with probability p, scales the rest, identity in eval", "[layers]") {
  Dropout drop(0.25f);
  drop.seed(3);
  const Tensor x = Tensor::ones({4000});
  const Tensor y = drop.forward(x);
  int64_t zeros = 0;
  for (float v : y.to_vector()) {
    REQUIRE((v == 0.0f || v == Catch::Detail::Approx(1.0f / 0.75f)));
    zeros += v == 0.0f;
  }
  // 4000 Bernoulli(0.25) draws: mean 1000, sd ~27; 150 is over five sd.
  REQUIRE(std::abs(zeros - 1000) < 150);
  drop.eval();
  REQUIRE(drop.forward(x).is_same(x));
  REQUIRE_THROWS_WITH(Dropout(1.0f), Catch::Contains("p must be in [0, 1)"));
}

TEST_CASE("Dropout: the same seed gives the same mask", "[layers]") {
  Dropout a(0.5f), b(0.5f);
  a.seed(9);
  b.seed(9);
  const Tensor x = testing::uniform({64}, 1, 2, 4, false);
  REQUIRE(a.forward(x).to_vector() == b.forward(x).to_vector());
  a.seed(9);
  b.seed(10);
  REQUIRE(a.forward(x).to_vector() != b.forward(x).to_vector());
}

TEST_CASE("Dropout: gradient check with a fixed mask", "[layers][gradcheck]") {
  Dropout drop(0.3f);
  RAOQ_REQUIRE_LAYER_GRADCHECK(drop, testing::uniform({4, 8}, -1, 1, 51), [&] { drop.seed(17); });
}
