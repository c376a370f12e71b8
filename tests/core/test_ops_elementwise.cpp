// tests/core/test_ops_elementwise.cpp — broadcasting arithmetic and elementwise maps:
// hand-computed values, a naive broadcasting reference, error messages, gradient checks.
#include <cmath>

#include "core/autograd.h"
#include "core/error.h"
#include "core/ops.h"
#include "core/ops/detail/broadcast.h"
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

// Naive numpy broadcasting by full index arithmetic, for comparing with the planned kernels.
Tensor naive_broadcast(const Tensor& a, const Tensor& b, float (*f)(float, float)) {
  const size_t nd = std::max(a.shape().size(), b.shape().size());
  auto aligned = [nd](const Shape& s) {
    Shape r(nd - s.size(), 1);
    r.insert(r.end(), s.begin(), s.end());
    return r;
  };
  const Shape sa = aligned(a.shape()), sb = aligned(b.shape());
  Shape out(nd);
  for (size_t d = 0; d < nd; ++d) out[d] = sa[d] == 1 ? sb[d] : sa[d];  // 1 stretches (also to 0)
  Tensor y = Tensor::empty(out);
  std::vector<int64_t> idx(nd, 0);
  for (int64_t i = 0; i < y.numel(); ++i) {
    int64_t rem = i, ia = 0, ib = 0, stride_a = 1, stride_b = 1;
    for (size_t d = nd; d-- > 0;) {
      idx[d] = rem % out[d];
      rem /= out[d];
    }
    for (size_t d = nd; d-- > 0;) {
      ia += (sa[d] == 1 ? 0 : idx[d]) * stride_a;
      ib += (sb[d] == 1 ? 0 : idx[d]) * stride_b;
      stride_a *= sa[d];
      stride_b *= sb[d];
    }
    y.data()[i] = f(a.data()[ia], b.data()[ib]);
  }
  return y;
}

}  // namespace

TEST_CASE("add/sub/mul/div: values with broadcasting", "[core]") {
  Tensor a = Tensor::from_vector({1, 2, 3, 4, 5, 6}, {2, 3});
  Tensor row = Tensor::from_vector({10, 20, 30}, {3});
  Tensor col = Tensor::from_vector({100, 200}, {2, 1});
  require_values(ops::add(a, row), {11, 22, 33, 14, 25, 36});
  require_values(ops::sub(a, col), {-99, -98, -97, -196, -195, -194});
  require_values(ops::mul(a, Tensor::scalar(2.0f)), {2, 4, 6, 8, 10, 12});
  require_values(ops::div(Tensor::scalar(12.0f), a), {12, 6, 4, 3, 2.4f, 2});
  // (2,1) with (3): both operands stretch.
  Tensor outer = ops::mul(col, row);
  REQUIRE(outer.shape() == Shape{2, 3});
  require_values(outer, {1000, 2000, 3000, 2000, 4000, 6000});
  // Scalar shapes: [] with [] stays [].
  REQUIRE(ops::add(Tensor::scalar(1.0f), Tensor::scalar(2.0f)).shape() == Shape{});
}

TEST_CASE("broadcasting kernels match a naive reference over many shape pairs", "[core]") {
  const std::vector<std::pair<Shape, Shape>> cases = {
      {{4, 3, 5, 6}, {3, 1, 1}},  // per-channel bias over (N, C, H, W)
      {{2, 7, 5}, {5}},           // (D) bias over (N, T, D)
      {{2, 7, 5}, {7, 1}},
      {{3, 1, 4}, {1, 5, 1}},     // both stretch, alternating
      {{1, 6}, {5, 1}},
      {{2, 3}, {2, 3}},
      {{5}, {}},
      {{}, {2, 2}},
      {{2, 1, 3, 1}, {4, 1, 5}},
      {{2, 0, 3}, {3}},           // empty output
  };
  const ThreadCountGuard restore;
  for (int threads : {1, 2}) {
    set_num_threads(threads);
    for (size_t c = 0; c < cases.size(); ++c) {
      INFO("case " << c << " threads " << threads);
      Tensor a = testing::uniform(cases[c].first, -1, 1, 10 + c, false);
      Tensor b = testing::uniform_away_from_zero(cases[c].second, 2, 0.5f, 20 + c, false);
      for (int swap = 0; swap < 2; ++swap) {
        const Tensor& x = swap ? b : a;
        const Tensor& y = swap ? a : b;
        const Tensor got_add = ops::add(x, y), got_mul = ops::mul(x, y), got_div = ops::div(x, y);
        REQUIRE(got_add.to_vector() == naive_broadcast(x, y, [](float u, float v) { return u + v; }).to_vector());
        REQUIRE(got_mul.to_vector() == naive_broadcast(x, y, [](float u, float v) { return u * v; }).to_vector());
        REQUIRE(got_div.to_vector() == naive_broadcast(x, y, [](float u, float v) { return u / v; }).to_vector());
      }
    }
  }
  // A large per-channel broadcast takes the parallel path; it must equal the serial one bit for bit.
  Tensor big = testing::uniform({8, 16, 32, 32}, -1, 1, 3, false), bias = testing::uniform({16, 1, 1}, -1, 1, 4, false);
  set_num_threads(2);
  const auto parallel = ops::mul(big, bias).to_vector();
  set_num_threads(1);
  REQUIRE(parallel == ops::mul(big, bias).to_vector());
}

TEST_CASE("broadcast plans: the fast paths are single runs or whole-row runs", "[core]") {
  using ops::detail::broadcast_plan;
  const auto same = broadcast_plan({4, 3, 5}, {4, 3, 5});  // equal shapes: one contiguous run
  REQUIRE(same.dims == std::vector<int64_t>{60});
  REQUIRE((same.a_contiguous() && same.b_contiguous()));
  const auto scalar = broadcast_plan({4, 3, 5}, {1, 1});  // one-element operand: one run, b a scalar
  REQUIRE(scalar.dims == std::vector<int64_t>{60});
  REQUIRE_FALSE(scalar.b_contiguous());
  const auto channel = broadcast_plan({8, 16, 6, 6}, {16, 1, 1});  // (C,1,1) bias: N*C runs of H*W
  REQUIRE(channel.dims == std::vector<int64_t>{8, 16, 36});
  REQUIRE(channel.b_stride == std::vector<int64_t>{0, 1, 0});
  const auto row = broadcast_plan({8, 10, 32}, {32});  // (D) bias: N*T runs of D
  REQUIRE(row.dims == std::vector<int64_t>{80, 32});
  REQUIRE(row.b_stride == std::vector<int64_t>{0, 1});
  REQUIRE(broadcast_plan({}, {}).dims == std::vector<int64_t>{1});
}

TEST_CASE("broadcast backward sums over stretched dimensions", "[core]") {
  Tensor a = Tensor::from_vector({1, 2, 3, 4, 5, 6}, {2, 3}).set_requires_grad(true);
  Tensor b = Tensor::from_vector({10, 20, 30}, {3}).set_requires_grad(true);
  Tensor c = Tensor::from_vector({2}, {}).set_requires_grad(true);
  ops::sum(ops::mul(ops::sub(a, b), c)).backward();  // L = c * sum(a - b)
  require_values(a.grad(), {2, 2, 2, 2, 2, 2});
  require_values(b.grad(), {-4, -4, -4});
  require_values(c.grad(), {21 - 120});
  Tensor bias = Tensor::from_vector({1, -1}, {2, 1, 1}).set_requires_grad(true);
  Tensor x = Tensor::ones({3, 2, 2, 2});
  ops::sum(ops::mul(ops::add(x, bias), x)).backward();
  require_values(bias.grad(), {12, 12});  // 3 * 2 * 2 elements per channel
}

TEST_CASE("unary elementwise ops: values", "[core]") {
  Tensor x = Tensor::from_vector({-2, -0.5f, 0, 0.5f, 3}, {5});
  require_values(ops::add_scalar(x, 1), {-1, 0.5f, 1, 1.5f, 4});
  require_values(ops::scale(x, -2), {4, 1, 0, -1, -6});
  require_values(ops::neg(x), {2, 0.5f, 0, -0.5f, -3});
  require_values(ops::square(x), {4, 0.25f, 0, 0.25f, 9});
  require_values(ops::pow(x, 3), {-8, -0.125f, 0, 0.125f, 27});
  require_values(ops::abs(x), {2, 0.5f, 0, 0.5f, 3});
  require_values(ops::clamp(x, -1, 1), {-1, -0.5f, 0, 0.5f, 1});
  Tensor p = Tensor::from_vector({0.25f, 1, 4}, {3});
  require_values(ops::sqrt(p), {0.5f, 1, 2});
  require_values(ops::pow(p, 0.5f), {0.5f, 1, 2});
  require_values(ops::pow(p, -1), {4, 1, 0.25f});
  require_values(ops::log(p), {std::log(0.25f), 0, std::log(4.0f)});
  require_values(ops::exp(Tensor::from_vector({0, 1}, {2})), {1, std::exp(1.0f)});
}

TEST_CASE("abs and clamp: declared gradients at the kinks", "[core]") {
  Tensor x = Tensor::from_vector({-1, 0, 1, 2}, {4}).set_requires_grad(true);
  ops::sum(ops::abs(x)).backward();
  require_values(x.grad(), {-1, 0, 1, 1});
  x.zero_grad();
  ops::sum(ops::clamp(x, 0, 1)).backward();  // 0 and 1 are bounds: gradient 0 there
  require_values(x.grad(), {0, 0, 0, 0});
  Tensor y = Tensor::from_vector({0.5f, -3, 3}, {3}).set_requires_grad(true);
  ops::sum(ops::clamp(y, -1, 1)).backward();
  require_values(y.grad(), {1, 0, 0});
}

TEST_CASE("elementwise errors name the op, the expectation and the input", "[core]") {
  Tensor a = Tensor::zeros({2, 3}), b = Tensor::zeros({4});
  REQUIRE_THROWS_WITH(ops::add(a, b), Contains("add: shapes [2, 3] and [4] do not broadcast") && Contains("3 vs 4"));
  REQUIRE_THROWS_WITH(ops::mul(Tensor::zeros({3, 2}), Tensor::zeros({2, 3})), Contains("mul: shapes [3, 2] and [2, 3]"));
  Tensor neg = Tensor::from_vector({1, -0.5f}, {2});
  REQUIRE_THROWS_WITH(ops::sqrt(neg), Contains("sqrt: expects x >= 0") && Contains("holds -0.5"));
  REQUIRE_THROWS_WITH(ops::log(neg), Contains("log: expects x >= 0"));
  REQUIRE_THROWS_WITH(ops::pow(neg, 0.5f), Contains("pow: expects x >= 0 for a non-integer exponent"));
  REQUIRE_NOTHROW(ops::pow(neg, 2));
  REQUIRE_THROWS_WITH(ops::clamp(a, 1, -1), Contains("clamp: expects lo <= hi, given lo 1 and hi -1"));
  REQUIRE_THROWS_WITH(ops::add(Tensor(), a), Contains("add: input 'a' is an undefined tensor"));
}

// ---- gradient checks (inputs <= 64 elements, away from kinks and domain edges)

RAOQ_GRADCHECK_CASE("add", "same shape", "[core]") {
  RAOQ_REQUIRE_GRADCHECK("add", [](const auto& in) { return ops::add(in[0], in[1]); },
                         {testing::uniform({3, 4}, -1, 1, 1), testing::uniform({3, 4}, -1, 1, 2)});
}
RAOQ_GRADCHECK_CASE("add", "per-channel bias (C,1,1) over (N,C,H,W)", "[core]") {
  RAOQ_REQUIRE_GRADCHECK("add", [](const auto& in) { return ops::add(in[0], in[1]); },
                         {testing::uniform({2, 3, 2, 2}, -1, 1, 3), testing::uniform({3, 1, 1}, -1, 1, 4)});
}
RAOQ_GRADCHECK_CASE("add", "scalar [] plus (2,3), and both stretching", "[core]") {
  RAOQ_REQUIRE_GRADCHECK("add", [](const auto& in) { return ops::add(in[0], in[1]); },
                         {testing::uniform({}, -1, 1, 5), testing::uniform({2, 3}, -1, 1, 6)});
  RAOQ_REQUIRE_GRADCHECK("add", [](const auto& in) { return ops::add(in[0], in[1]); },
                         {testing::uniform({2, 1, 3}, -1, 1, 7), testing::uniform({4, 1}, -1, 1, 8)});
}
RAOQ_GRADCHECK_CASE("sub", "(D) over (N,T,D)", "[core]") {
  RAOQ_REQUIRE_GRADCHECK("sub", [](const auto& in) { return ops::sub(in[0], in[1]); },
                         {testing::uniform({2, 3, 4}, -1, 1, 9), testing::uniform({4}, -1, 1, 10)});
  RAOQ_REQUIRE_GRADCHECK("sub", [](const auto& in) { return ops::sub(in[0], in[1]); },
                         {testing::uniform({4}, -1, 1, 11), testing::uniform({2, 3, 4}, -1, 1, 12)});
}
RAOQ_GRADCHECK_CASE("mul", "same shape and (3,1) x (1,4)", "[core]") {
  RAOQ_REQUIRE_GRADCHECK("mul", [](const auto& in) { return ops::mul(in[0], in[1]); },
                         {testing::uniform({3, 4}, -1, 1, 13), testing::uniform({3, 4}, -1, 1, 14)});
  RAOQ_REQUIRE_GRADCHECK("mul", [](const auto& in) { return ops::mul(in[0], in[1]); },
                         {testing::uniform({3, 1}, -1, 1, 15), testing::uniform({1, 4}, -1, 1, 16)});
}
RAOQ_GRADCHECK_CASE("mul", "scalar [] times (2,2,3)", "[core]") {
  RAOQ_REQUIRE_GRADCHECK("mul", [](const auto& in) { return ops::mul(in[0], in[1]); },
                         {testing::uniform({2, 2, 3}, -1, 1, 17), testing::uniform({}, -1, 1, 18)});
}
RAOQ_GRADCHECK_CASE("div", "same shape, divisor away from 0", "[core]") {
  RAOQ_REQUIRE_GRADCHECK("div", [](const auto& in) { return ops::div(in[0], in[1]); },
                         {testing::uniform({3, 4}, -1, 1, 19), testing::uniform_away_from_zero({3, 4}, 2, 0.5f, 20)});
}
RAOQ_GRADCHECK_CASE("div", "broadcast divisor (C,1,1) and broadcast dividend", "[core]") {
  RAOQ_REQUIRE_GRADCHECK("div", [](const auto& in) { return ops::div(in[0], in[1]); },
                         {testing::uniform({2, 3, 2, 2}, -1, 1, 21),
                          testing::uniform_away_from_zero({3, 1, 1}, 2, 0.5f, 22)});
  RAOQ_REQUIRE_GRADCHECK("div", [](const auto& in) { return ops::div(in[0], in[1]); },
                         {testing::uniform({}, -1, 1, 23), testing::uniform_away_from_zero({2, 3}, 2, 0.5f, 24)});
}
RAOQ_GRADCHECK_CASE("add_scalar", "(2,3)", "[core]") {
  RAOQ_REQUIRE_GRADCHECK("add_scalar", [](const auto& in) { return ops::add_scalar(in[0], 0.7f); },
                         {testing::uniform({2, 3}, -1, 1, 25)});
}
RAOQ_GRADCHECK_CASE("scale", "(2,3) and scalar []", "[core]") {
  RAOQ_REQUIRE_GRADCHECK("scale", [](const auto& in) { return ops::scale(in[0], -1.5f); },
                         {testing::uniform({2, 3}, -1, 1, 26)});
  RAOQ_REQUIRE_GRADCHECK("scale", [](const auto& in) { return ops::scale(in[0], 3.0f); },
                         {testing::uniform({}, -1, 1, 27)});
}
RAOQ_GRADCHECK_CASE("neg", "(4)", "[core]") {
  RAOQ_REQUIRE_GRADCHECK("neg", [](const auto& in) { return ops::neg(in[0]); }, {testing::uniform({4}, -1, 1, 28)});
}
RAOQ_GRADCHECK_CASE("pow", "whole p on both signs, fractional p on positives", "[core]") {
  RAOQ_REQUIRE_GRADCHECK("pow", [](const auto& in) { return ops::pow(in[0], 3.0f); },
                         {testing::uniform({2, 4}, -1.5f, 1.5f, 29)});
  RAOQ_REQUIRE_GRADCHECK("pow", [](const auto& in) { return ops::pow(in[0], 0.5f); },
                         {testing::uniform({2, 4}, 0.5f, 2, 30)});
  RAOQ_REQUIRE_GRADCHECK("pow", [](const auto& in) { return ops::pow(in[0], -1.5f); },
                         {testing::uniform({2, 4}, 0.5f, 2, 31)});
}
RAOQ_GRADCHECK_CASE("square", "(3,3)", "[core]") {
  RAOQ_REQUIRE_GRADCHECK("square", [](const auto& in) { return ops::square(in[0]); },
                         {testing::uniform({3, 3}, -2, 2, 32)});
}
RAOQ_GRADCHECK_CASE("sqrt", "positive inputs", "[core]") {
  RAOQ_REQUIRE_GRADCHECK("sqrt", [](const auto& in) { return ops::sqrt(in[0]); },
                         {testing::uniform({3, 3}, 0.3f, 3, 33)});
}
RAOQ_GRADCHECK_CASE("exp", "range [-2, 2]", "[core]") {
  RAOQ_REQUIRE_GRADCHECK("exp", [](const auto& in) { return ops::exp(in[0]); }, {testing::uniform({3, 3}, -2, 2, 34)});
}
RAOQ_GRADCHECK_CASE("log", "positive inputs", "[core]") {
  RAOQ_REQUIRE_GRADCHECK("log", [](const auto& in) { return ops::log(in[0]); }, {testing::uniform({3, 3}, 0.3f, 3, 35)});
}
RAOQ_GRADCHECK_CASE("abs", "away from 0", "[core]") {
  RAOQ_REQUIRE_GRADCHECK("abs", [](const auto& in) { return ops::abs(in[0]); },
                         {testing::uniform_away_from_zero({3, 3}, 2, 0.1f, 36)});
}
RAOQ_GRADCHECK_CASE("clamp", "away from the bounds", "[core]") {
  // Values in [-2, 2] at least 0.1 from the bounds -1 and 1: both sides of each bound are covered.
  Tensor x = Tensor::from_vector({-1.8f, -1.3f, -0.85f, -0.2f, 0.3f, 0.9f, 1.15f, 1.7f}, {2, 4}).set_requires_grad(true);
  RAOQ_REQUIRE_GRADCHECK("clamp", [](const auto& in) { return ops::clamp(in[0], -1, 1); }, {x});
}
