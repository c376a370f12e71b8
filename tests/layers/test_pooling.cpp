// tests/layers/test_pooling.cpp — MaxPool2d, AvgPool2d, GlobalAvgPool, Flatten: values, shapes,
// gradient checks.
#include <algorithm>
#include <numeric>

#include "core/rng.h"
#include "layers/avg_pool2d.h"
#include "layers/flatten.h"
#include "layers/global_avg_pool.h"
#include "layers/max_pool2d.h"
#include "tests/layers/layer_check.h"

using namespace raoq;
using Catch::Detail::Approx;

namespace {
// Distinct values 0.1 apart in shuffled order: no two window entries are within the
// gradcheck's +-2 step (0.02), so the arg-max never flips while differencing.
Tensor spaced(const Shape& shape, uint64_t seed) {
  const int64_t n = shape_numel(shape);
  std::vector<float> v(static_cast<size_t>(n));
  std::iota(v.begin(), v.end(), 0.0f);
  Generator gen(seed);
  for (int64_t i = n - 1; i > 0; --i) std::swap(v[i], v[gen.below(static_cast<uint64_t>(i + 1))]);
  for (float& f : v) f = 0.1f * f - 0.05f * static_cast<float>(n);
  return Tensor::from_vector(v, shape).set_requires_grad(true);
}
}  // namespace

TEST_CASE("MaxPool2d and AvgPool2d: values and shapes", "[layers]") {
  const Tensor x = Tensor::arange(0, 16).view_as_shape({1, 1, 4, 4});
  MaxPool2d mp(2);
  REQUIRE(mp.stride == 2);
  REQUIRE(mp.forward(x).to_vector() == std::vector<float>{5, 7, 13, 15});
  AvgPool2d ap(2);
  REQUIRE(ap.forward(x).to_vector() == std::vector<float>{2.5f, 4.5f, 10.5f, 12.5f});
  REQUIRE(MaxPool2d(3, 2, 1).forward(Tensor::zeros({2, 3, 8, 8})).shape() == Shape{2, 3, 4, 4});
  REQUIRE(AvgPool2d(3, 1, 1).forward(Tensor::zeros({2, 3, 5, 5})).shape() == Shape{2, 3, 5, 5});
  REQUIRE_THROWS_WITH(mp.forward(Tensor::zeros({4, 4})), Catch::Contains("expected input (N, C, H, W)"));
}

TEST_CASE("GlobalAvgPool and Flatten: values and shapes", "[layers]") {
  const Tensor x = Tensor::arange(0, 16).view_as_shape({2, 2, 2, 2});
  GlobalAvgPool gap;
  REQUIRE(gap.forward(x).shape() == Shape{2, 2});
  REQUIRE(gap.forward(x).to_vector() == std::vector<float>{1.5f, 5.5f, 9.5f, 13.5f});
  Flatten flat;
  REQUIRE(flat.forward(x).shape() == Shape{2, 8});
  REQUIRE(flat.forward(x).to_vector() == x.to_vector());
  REQUIRE(Flatten(2).forward(x).shape() == Shape{2, 2, 4});
  REQUIRE_THROWS_WITH(Flatten(2).forward(Tensor::zeros({3, 2})), Catch::Contains("start_dim 2 needs an input"));
}

TEST_CASE("pooling layers: gradient checks", "[layers][gradcheck]") {
  MaxPool2d mp(2);
  RAOQ_REQUIRE_LAYER_GRADCHECK(mp, spaced({1, 2, 4, 4}, 61));
  MaxPool2d mp_overlap(3, 2, 1);
  RAOQ_REQUIRE_LAYER_GRADCHECK(mp_overlap, spaced({1, 2, 5, 5}, 62));
  AvgPool2d ap(3, 2, 1);
  RAOQ_REQUIRE_LAYER_GRADCHECK(ap, testing::uniform({1, 2, 5, 5}, -1, 1, 63));
  GlobalAvgPool gap;
  RAOQ_REQUIRE_LAYER_GRADCHECK(gap, testing::uniform({2, 3, 2, 3}, -1, 1, 64));
  Flatten flat;
  RAOQ_REQUIRE_LAYER_GRADCHECK(flat, testing::uniform({2, 3, 2, 2}, -1, 1, 65));
}
