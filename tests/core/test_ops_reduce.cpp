// tests/core/test_ops_reduce.cpp — sum, mean and max: values, shapes with keepdim and negative
// axes, tie-breaking of max's gradient, errors, gradient checks.
#include "core/autograd.h"
#include "core/error.h"
#include "core/ops.h"
#include "core/parallel.h"
#include "tests/support/testing.h"

using namespace raoq;
using Catch::Contains;

namespace {

// Restores the thread count when a test ends, even through a failed REQUIRE.
struct ThreadCountGuard {
  int saved = num_threads();
  ~ThreadCountGuard() { set_num_threads(saved); }
};

void require_values(const Tensor& t, const std::vector<float>& expected, float tol = 1e-6f) {
  REQUIRE(t.numel() == static_cast<int64_t>(expected.size()));
  for (size_t i = 0; i < expected.size(); ++i) {
    INFO("element " << i);
    REQUIRE(t.data()[i] == Approx(expected[i]).margin(tol));
  }
}

// Distinct values at least 0.1 apart in a scrambled order (max's gradcheck needs no near-ties).
Tensor distinct_values(const Shape& shape) {
  Tensor t = Tensor::empty(shape);
  const int64_t n = t.numel();
  for (int64_t i = 0; i < n; ++i) t.data()[i] = 0.1f * static_cast<float>((i * 7) % n) - 0.05f * n;
  return t.set_requires_grad(true);
}

}  // namespace

TEST_CASE("sum and mean: values, keepdim and negative axes", "[core]") {
  Tensor x = Tensor::from_vector({1, 2, 3, 4, 5, 6}, {2, 3});
  Tensor all = ops::sum(x);
  REQUIRE(all.shape() == Shape{});
  REQUIRE(all.item() == 21.0f);
  REQUIRE(ops::mean(x).item() == 3.5f);
  Tensor rows = ops::sum(x, 1);
  REQUIRE(rows.shape() == Shape{2});
  require_values(rows, {6, 15});
  Tensor cols = ops::sum(x, -2, /*keepdim=*/true);
  REQUIRE(cols.shape() == Shape{1, 3});
  require_values(cols, {5, 7, 9});
  Tensor m = ops::mean(x, -1, true);
  REQUIRE(m.shape() == Shape{2, 1});
  require_values(m, {2, 5});
  // The middle axis of a 3-D tensor (outer 2, n 2, inner 2).
  Tensor y = Tensor::from_vector({1, 2, 3, 4, 5, 6, 7, 8}, {2, 2, 2});
  require_values(ops::sum(y, 1), {4, 6, 12, 14});
  require_values(ops::mean(y, 0), {3, 4, 5, 6});
  // A 0-d tensor reduces over everything; sum over an empty axis is 0.
  REQUIRE(ops::sum(Tensor::scalar(2.5f)).item() == 2.5f);
  require_values(ops::sum(Tensor::zeros({3, 0}), 1), {0, 0, 0});
}

TEST_CASE("max: values, and the gradient goes to the first maximum", "[core]") {
  Tensor x = Tensor::from_vector({1, 5, 5, 2, 7, 0}, {2, 3}).set_requires_grad(true);
  Tensor rows = ops::max(x, 1);
  require_values(rows, {5, 7});
  ops::sum(rows).backward();
  require_values(x.grad(), {0, 1, 0, 0, 1, 0});  // the tie 5, 5: only the first
  x.zero_grad();
  Tensor cols = ops::max(x, 0, /*keepdim=*/true);
  REQUIRE(cols.shape() == Shape{1, 3});
  require_values(cols, {2, 7, 5});
  ops::sum(cols).backward();
  require_values(x.grad(), {0, 0, 1, 1, 1, 0});
}

TEST_CASE("reductions: large inputs take the parallel path and match the serial one", "[core]") {
  Tensor x = testing::uniform({64, 300, 9}, -1, 1, 5, false);
  const ThreadCountGuard restore;
  set_num_threads(2);
  const auto s1 = ops::sum(x, 1).to_vector(), m1 = ops::max(x, 2).to_vector(), t1 = ops::sum(x, -1).to_vector();
  set_num_threads(1);
  REQUIRE(s1 == ops::sum(x, 1).to_vector());  // same chunk-independent order, bit for bit
  REQUIRE(m1 == ops::max(x, 2).to_vector());
  REQUIRE(t1 == ops::sum(x, -1).to_vector());
  double expect = 0;
  for (int64_t k = 0; k < 300; ++k) expect += x.data()[k * 9 + 4];
  REQUIRE(s1[4] == Approx(expect).margin(1e-4));
}

TEST_CASE("reduction errors name the op, the axis and the shape", "[core]") {
  Tensor x = Tensor::zeros({2, 3});
  REQUIRE_THROWS_WITH(ops::sum(x, 2), Contains("sum: axis 2 out of range for shape [2, 3] (expected -2 to 1)"));
  REQUIRE_THROWS_WITH(ops::max(x, -3), Contains("max: axis -3 out of range"));
  REQUIRE_THROWS_WITH(ops::mean(Tensor::zeros({2, 0}), 1), Contains("mean: cannot average over axis 1 of size 0"));
  REQUIRE_THROWS_WITH(ops::mean(Tensor::zeros({0})), Contains("mean: cannot average an empty tensor"));
  REQUIRE_THROWS_WITH(ops::max(Tensor::zeros({0, 2}), 0), Contains("max: axis 0 of shape [0, 2] is empty"));
  REQUIRE_THROWS_WITH(ops::sum(Tensor::scalar(1), 0), Contains("of a 0-d tensor"));
}

RAOQ_GRADCHECK_CASE("sum", "all elements, (3,4) and scalar []", "[core]") {
  RAOQ_REQUIRE_GRADCHECK("sum", [](const auto& in) { return ops::sum(in[0]); }, {testing::uniform({3, 4}, -1, 1, 1)});
  RAOQ_REQUIRE_GRADCHECK("sum", [](const auto& in) { return ops::sum(in[0]); }, {testing::uniform({}, -1, 1, 2)});
}
RAOQ_GRADCHECK_CASE("sum", "axis, keepdim false and true, negative axes", "[core]") {
  RAOQ_REQUIRE_GRADCHECK("sum", [](const auto& in) { return ops::sum(in[0], 1); }, {testing::uniform({3, 4}, -1, 1, 3)});
  RAOQ_REQUIRE_GRADCHECK("sum", [](const auto& in) { return ops::sum(in[0], -1, true); },
                         {testing::uniform({2, 3, 4}, -1, 1, 4)});
  RAOQ_REQUIRE_GRADCHECK("sum", [](const auto& in) { return ops::sum(in[0], -3, false); },
                         {testing::uniform({2, 3, 4}, -1, 1, 5)});
  RAOQ_REQUIRE_GRADCHECK("sum", [](const auto& in) { return ops::sum(in[0], 1, true); },
                         {testing::uniform({2, 3, 4}, -1, 1, 6)});
}
RAOQ_GRADCHECK_CASE("mean", "all elements and scalar []", "[core]") {
  RAOQ_REQUIRE_GRADCHECK("mean", [](const auto& in) { return ops::mean(in[0]); }, {testing::uniform({3, 4}, -1, 1, 7)});
  RAOQ_REQUIRE_GRADCHECK("mean", [](const auto& in) { return ops::mean(in[0]); }, {testing::uniform({}, -1, 1, 8)});
}
RAOQ_GRADCHECK_CASE("mean", "axis, keepdim false and true, negative axes", "[core]") {
  RAOQ_REQUIRE_GRADCHECK("mean", [](const auto& in) { return ops::mean(in[0], 0); }, {testing::uniform({3, 4}, -1, 1, 9)});
  RAOQ_REQUIRE_GRADCHECK("mean", [](const auto& in) { return ops::mean(in[0], -2, true); },
                         {testing::uniform({2, 3, 4}, -1, 1, 10)});
}
RAOQ_GRADCHECK_CASE("max", "distinct values, last and middle axes, keepdim", "[core]") {
  RAOQ_REQUIRE_GRADCHECK("max", [](const auto& in) { return ops::max(in[0], -1); }, {distinct_values({3, 5})});
  RAOQ_REQUIRE_GRADCHECK("max", [](const auto& in) { return ops::max(in[0], 1, true); }, {distinct_values({2, 4, 3})});
}
