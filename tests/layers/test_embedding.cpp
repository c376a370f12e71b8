// tests/layers/test_embedding.cpp — Embedding: lookup, shapes, errors, gradient check.
#include "layers/embedding.h"
#include "tests/layers/layer_check.h"

using namespace raoq;

TEST_CASE("Embedding: rows by index, in the index shape", "[layers]") {
  Embedding emb(5, 3);
  REQUIRE(emb.weight.shape() == Shape{5, 3});
  const Tensor y = emb.forward(Tensor::from_vector({4, 0, 4, 2}, {2, 2}));
  REQUIRE(y.shape() == Shape{2, 2, 3});
  for (int64_t d = 0; d < 3; ++d) {
    CHECK(y.at({0, 0, d}) == emb.weight.at({4, d}));
    CHECK(y.at({0, 1, d}) == emb.weight.at({0, d}));
    CHECK(y.at({1, 1, d}) == emb.weight.at({2, d}));
  }
  REQUIRE(emb.forward({1, 2, 3}, {3}).shape() == Shape{3, 3});
  REQUIRE_THROWS_WITH(emb.forward(Tensor::from_vector({5}, {1})), Catch::Contains("index 5 at flat position 0 is outside [0, 5)"));
  REQUIRE_THROWS_WITH(emb.forward(Tensor::from_vector({1.5f}, {1})), Catch::Contains("id 1.5 at flat position 0 is not a whole number"));
  REQUIRE_THROWS_WITH(emb.forward({1, 2}, {3}), Catch::Contains("2 indices do not fill index shape [3]"));
}

TEST_CASE("Embedding: gradient check of the table (repeated ids accumulate)", "[layers][gradcheck]") {
  Embedding emb(6, 4);
  const std::vector<int64_t> ids{1, 3, 1, 5, 0, 1};
  const auto r = gradcheck([&](const std::vector<Tensor>&) { return emb.forward(ids, {2, 3}); }, {emb.weight});
  INFO(r.report());
  REQUIRE(r.ok);
  REQUIRE(r.checked == 24);
}
