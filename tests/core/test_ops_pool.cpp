// tests/core/test_ops_pool.cpp — max / average / global average pooling: forward against the
// naive references, hand-computed backward values (ties, padding), finite differences, errors.
#include <algorithm>
#include <cmath>
#include <numeric>

#include "core/autograd.h"
#include "core/error.h"
#include "core/ops.h"
#include "core/rng.h"
#include "tests/support/testing.h"

using namespace raoq;

namespace {
// The average sums at most k^2 <= 16 floats in another order than the double reference.
constexpr float kAvgPoolTol = 1e-6f;

// L = sum(y * r) through a local op, so these tests depend on no other op of core/ops.
Tensor project(const Tensor& y, const Tensor& r) {
  double acc = 0;
  for (int64_t i = 0; i < y.numel(); ++i) acc += double(y.data()[i]) * r.data()[i];
  return autograd::record("test_projection", {y}, Tensor::scalar(static_cast<float>(acc)), {"r"},
                          [r](BackwardContext& ctx) { ctx.dinput(0) += ctx.dout()(0) * r.flat(); });
}

// Distinct values 0.1 apart in shuffled order: max pooling has no ties within a finite-difference
// step (2e-2) anywhere, so its gradient is smooth at these points.
Tensor distinct_values(const Shape& shape, uint64_t seed) {
  Tensor t = Tensor::empty(shape);
  std::vector<int64_t> order(static_cast<size_t>(t.numel()));
  std::iota(order.begin(), order.end(), 0);
  Generator gen(seed);
  for (size_t i = order.size(); i > 1; --i) std::swap(order[i - 1], order[gen.below(i)]);
  for (int64_t i = 0; i < t.numel(); ++i) t.data()[i] = 0.1f * static_cast<float>(order[size_t(i)]) - 2.0f;
  t.set_requires_grad(true);
  return t;
}

struct PoolCase {
  int64_t kernel, stride, padding;
};
const PoolCase kPoolCases[] = {{2, 2, 0}, {2, 1, 0}, {3, 2, 1}, {3, 1, 1}, {3, 3, 0}, {4, 2, 2}, {1, 1, 0}, {3, 0, 0}};
}  // namespace

TEST_CASE("max_pool2d and avg_pool2d: forward matches the references", "[core][pool]") {
  const Tensor x = testing::uniform({2, 3, 7, 9}, -2, 2, 41, false);
  for (const PoolCase& c : kPoolCases) {
    INFO("kernel " << c.kernel << " stride " << c.stride << " padding " << c.padding);
    const Tensor mx = ops::max_pool2d(x, c.kernel, c.stride, c.padding);
    const Tensor mref = ops::max_pool2d_reference(x, c.kernel, c.stride, c.padding);
    REQUIRE(mx.shape() == mref.shape());
    REQUIRE(mx.to_vector() == mref.to_vector());  // a maximum is exact
    const Tensor av = ops::avg_pool2d(x, c.kernel, c.stride, c.padding);
    const Tensor aref = ops::avg_pool2d_reference(x, c.kernel, c.stride, c.padding);
    REQUIRE(av.shape() == aref.shape());
    for (int64_t i = 0; i < av.numel(); ++i) REQUIRE(std::abs(av.data()[i] - aref.data()[i]) <= kAvgPoolTol);
  }
  REQUIRE(ops::max_pool2d(x, 3, 2, 1).shape() == Shape{2, 3, 4, 5});
  REQUIRE(ops::avg_pool2d(x, 2).shape() == Shape{2, 3, 3, 4});  // stride 0 means stride = kernel
}

TEST_CASE("max_pool2d: the gradient goes to the first maximum of each window", "[core][pool]") {
  // Windows (2x2, stride 2): {1, 3 | 2, 3} has its first 3 at (0, 1); {3, 0 | 1, 5} its 5 at (1, 3).
  const Tensor x = Tensor::from_vector({1, 3, 3, 0, 2, 3, 1, 5}, {1, 1, 2, 4}).set_requires_grad(true);
  const Tensor y = ops::max_pool2d(x, 2);
  REQUIRE(y.to_vector() == std::vector<float>{3, 5});
  project(y, Tensor::from_vector({10, 20}, {1, 1, 1, 2})).backward();
  REQUIRE(x.grad().to_vector() == std::vector<float>{0, 10, 0, 0, 0, 0, 0, 20});
  // Padding never wins, even against negative values; overlapping windows accumulate.
  const Tensor z = Tensor::from_vector({-1, -2, -3, -4}, {1, 1, 2, 2}).set_requires_grad(true);
  const Tensor yz = ops::max_pool2d(z, 2, 1, 1);  // 2x2 windows over the padded 4x4: 3x3 outputs
  REQUIRE(yz.to_vector() == std::vector<float>{-1, -1, -2, -1, -1, -2, -3, -3, -4});
  project(yz, Tensor::ones({1, 1, 3, 3})).backward();
  REQUIRE(z.grad().to_vector() == std::vector<float>{4, 2, 2, 1});
  // A NaN is the maximum of its window.
  const Tensor nan = Tensor::from_vector({1, std::nanf(""), 2, 0}, {1, 1, 2, 2});
  REQUIRE(std::isnan(ops::max_pool2d(nan, 2).item()));
}

TEST_CASE("max_pool2d: 2x2 stride 2 on odd sizes with ties and NaN, against the window rule", "[core][pool]") {
  // Values from {0, 1, 2} make many ties; two NaNs; H, W odd leave a last row and column in no window.
  Generator gen(5);
  Tensor x = Tensor::empty({2, 3, 7, 9});
  for (int64_t i = 0; i < x.numel(); ++i) x.data()[i] = float(gen.below(3));
  x.data()[10] = x.data()[200] = std::nanf("");
  x.set_requires_grad(true);
  const Tensor y = ops::max_pool2d(x, 2);
  const Tensor r = testing::uniform(y.shape(), -1, 1, 6, false);
  project(y, r).backward();
  std::vector<float> dx(size_t(x.numel()), 0.0f);
  for (int64_t p = 0; p < 6; ++p)
    for (int64_t oh = 0; oh < 3; ++oh)
      for (int64_t ow = 0; ow < 4; ++ow) {
        int64_t best = -1;  // the first maximum in row-major order, a NaN beating any number
        for (int64_t t = 0; t < 4; ++t) {
          const int64_t at = p * 63 + (2 * oh + t / 2) * 9 + 2 * ow + t % 2;
          const float v = x.data()[at];
          if (best < 0 || v > x.data()[best] || (std::isnan(v) && !std::isnan(x.data()[best]))) best = at;
        }
        const float yv = y.data()[(p * 3 + oh) * 4 + ow], xv = x.data()[best];
        REQUIRE((yv == xv || (std::isnan(yv) && std::isnan(xv))));
        dx[size_t(best)] += r.data()[(p * 3 + oh) * 4 + ow];
      }
  REQUIRE(x.grad().to_vector() == dx);
}

TEST_CASE("avg_pool2d: padding is counted in the divisor", "[core][pool]") {
  const Tensor x = Tensor::from_vector({4, 8, 12, 16}, {1, 1, 2, 2}).set_requires_grad(true);
  const Tensor y = ops::avg_pool2d(x, 2, 1, 1);  // 3x3 outputs, every window divided by 4
  REQUIRE(y.to_vector() == std::vector<float>{1, 3, 2, 4, 10, 6, 3, 7, 4});
  project(y, Tensor::ones({1, 1, 3, 3})).backward();
  REQUIRE(x.grad().to_vector() == std::vector<float>{1, 1, 1, 1});  // each input sits in 4 windows, 1/4 each
}

TEST_CASE("global_avg_pool: plane means and an evenly spread gradient", "[core][pool]") {
  const Tensor x = Tensor::from_vector({1, 2, 3, 4, 10, 20, 30, 40}, {1, 2, 2, 2}).set_requires_grad(true);
  const Tensor y = ops::global_avg_pool(x);
  REQUIRE(y.shape() == Shape{1, 2});
  REQUIRE(y.to_vector() == std::vector<float>{2.5f, 25.0f});
  project(y, Tensor::from_vector({4, -8}, {1, 2})).backward();
  REQUIRE(x.grad().to_vector() == std::vector<float>{1, 1, 1, 1, -2, -2, -2, -2});
}

RAOQ_GRADCHECK_CASE("max_pool2d", "2x2 stride 2", "[core][pool]") {
  auto x = distinct_values({2, 2, 4, 4}, 1);
  auto f = [](const std::vector<Tensor>& in) { return ops::max_pool2d(in[0], 2); };
  RAOQ_REQUIRE_GRADCHECK("max_pool2d", f, {x});
}

RAOQ_GRADCHECK_CASE("max_pool2d", "3x3 stride 2 padding 1 (overlapping windows)", "[core][pool]") {
  auto x = distinct_values({1, 2, 5, 5}, 2);
  auto f = [](const std::vector<Tensor>& in) { return ops::max_pool2d(in[0], 3, 2, 1); };
  RAOQ_REQUIRE_GRADCHECK("max_pool2d", f, {x});
}

RAOQ_GRADCHECK_CASE("avg_pool2d", "2x2 stride 2", "[core][pool]") {
  auto x = testing::uniform({2, 2, 4, 4}, -1, 1, 3);
  auto f = [](const std::vector<Tensor>& in) { return ops::avg_pool2d(in[0], 2); };
  RAOQ_REQUIRE_GRADCHECK("avg_pool2d", f, {x});
}

RAOQ_GRADCHECK_CASE("avg_pool2d", "3x3 stride 2 padding 1", "[core][pool]") {
  auto x = testing::uniform({1, 2, 5, 5}, -1, 1, 4);
  auto f = [](const std::vector<Tensor>& in) { return ops::avg_pool2d(in[0], 3, 2, 1); };
  RAOQ_REQUIRE_GRADCHECK("avg_pool2d", f, {x});
}

RAOQ_GRADCHECK_CASE("global_avg_pool", "3x5 planes", "[core][pool]") {
  auto x = testing::uniform({2, 3, 3, 5}, -1, 1, 5);
  auto f = [](const std::vector<Tensor>& in) { return ops::global_avg_pool(in[0]); };
  RAOQ_REQUIRE_GRADCHECK("global_avg_pool", f, {x});
}

TEST_CASE("pooling: contract errors name the op, what was expected and what was given", "[core][pool]") {
  const Tensor x = Tensor::zeros({1, 2, 4, 4});
  REQUIRE_THROWS_WITH(ops::max_pool2d(Tensor::zeros({2, 4, 4}), 2),
                      Catch::Contains("max_pool2d: expected x of shape (N, C, H, W), given [2, 4, 4]"));
  REQUIRE_THROWS_WITH(ops::max_pool2d(x, 2, 2, 2), Catch::Contains("expected padding <= kernel/2, given padding 2"));
  REQUIRE_THROWS_WITH(ops::avg_pool2d(x, 5), Catch::Contains("avg_pool2d: expected the kernel 5 to fit"));
  REQUIRE_THROWS_WITH(ops::avg_pool2d(x, 0), Catch::Contains("expected kernel >= 1"));
  REQUIRE_THROWS_WITH(ops::global_avg_pool(Tensor::zeros({2, 3})),
                      Catch::Contains("global_avg_pool: expected x of shape (N, C, H, W), given [2, 3]"));
  REQUIRE_THROWS_AS(ops::max_pool2d_reference(x, 2, 2, 2), Error);
}
