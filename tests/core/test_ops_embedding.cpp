// tests/core/test_ops_embedding.cpp — embedding: gathered rows, accumulation of repeated
// indices in the backward, finite differences and the index checks.
#include "core/autograd.h"
#include "core/error.h"
#include "core/ops.h"
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

TEST_CASE("embedding: rows gathered by index, laid out as index_shape", "[core][embedding]") {
  const Tensor w = Tensor::arange(0, 15).view_as_shape({5, 3}).set_requires_grad(true);  // row v = {3v, 3v+1, 3v+2}
  const Tensor y = ops::embedding(w, {4, 0, 4, 2}, {2, 2});
  REQUIRE(y.shape() == Shape{2, 2, 3});
  REQUIRE(y.to_vector() == std::vector<float>{12, 13, 14, 0, 1, 2, 12, 13, 14, 6, 7, 8});
  // dweight: row 4 collects positions 0 and 2, rows 0 and 2 one position each, rows 1 and 3 nothing.
  project(y, Tensor::from_vector({1, 2, 3, 10, 20, 30, 4, 5, 6, 7, 8, 9}, {2, 2, 3})).backward();
  REQUIRE(w.grad().to_vector() == std::vector<float>{10, 20, 30, 0, 0, 0, 7, 8, 9, 0, 0, 0, 5, 7, 9});
  REQUIRE(ops::embedding(w, {}, {0}).shape() == Shape{0, 3});
}

RAOQ_GRADCHECK_CASE("embedding", "repeated indices", "[core][embedding]") {
  auto w = testing::uniform({6, 4}, -1, 1, 1);
  auto f = [](const std::vector<Tensor>& in) { return ops::embedding(in[0], {1, 5, 1, 0, 3, 1}, {2, 3}); };
  RAOQ_REQUIRE_GRADCHECK("embedding", f, {w});
}

TEST_CASE("embedding: an index out of range is an error naming it and its position", "[core][embedding]") {
  const Tensor w = Tensor::zeros({5, 3});
  REQUIRE_THROWS_WITH(ops::embedding(w, {1, 2, 5}, {3}),
                      Catch::Contains("embedding: index 5 at position 2 is out of range for a table of 5 rows"));
  REQUIRE_THROWS_WITH(ops::embedding(w, {-1}, {1}), Catch::Contains("index -1 at position 0 is out of range"));
  REQUIRE_THROWS_WITH(ops::embedding(w, {1, 2, 3}, {2, 2}),
                      Catch::Contains("expected index_shape with as many elements as indices (3), given index_shape [2, 2]"));
  REQUIRE_THROWS_WITH(ops::embedding(Tensor::zeros({5}), {1}, {1}),
                      Catch::Contains("embedding: expected weight of shape (V, D), given [5]"));
}
