// tests/core/test_autograd.cpp — the graph engine itself, with ops written inline through
// autograd::record so these tests do not depend on the op set.
#include <cmath>
#include <limits>
#include <sstream>

#include "core/autograd.h"
#include "core/error.h"
#include "core/ops.h"
#include "tests/support/testing.h"

using namespace raoq;

namespace {
// y = a * b elementwise (same shape).      da += dy * b, db += dy * a
Tensor tmul(const Tensor& a, const Tensor& b) {
  Tensor y = Tensor::empty(a.shape());
  y.flat() = a.flat() * b.flat();
  return autograd::record("tmul", {a, b}, y, {"a", "b"}, [a = a.detach(), b = b.detach()](BackwardContext& ctx) {
    if (ctx.needs(0)) ctx.dinput(0) += ctx.dout() * b.flat();
    if (ctx.needs(1)) ctx.dinput(1) += ctx.dout() * a.flat();
  });
}
// y = sum(x)                                dx += dy
Tensor tsum(const Tensor& x) {
  Tensor y = Tensor::scalar(x.flat().sum());
  return autograd::record("tsum", {x}, y, {}, [](BackwardContext& ctx) { ctx.dinput(0) += ctx.dout()(0); });
}
}  // namespace

TEST_CASE("autograd: product rule and accumulation across two uses", "[core]") {
  Tensor x = Tensor::from_vector({1, 2, 3}, {3}).set_requires_grad(true);
  Tensor w = Tensor::from_vector({4, 5, 6}, {3}).set_requires_grad(true);
  Tensor loss = tsum(tmul(tmul(x, w), x));  // sum(x^2 w): dx = 2 x w, dw = x^2
  loss.backward();
  REQUIRE(x.grad().to_vector() == std::vector<float>{8, 20, 36});
  REQUIRE(w.grad().to_vector() == std::vector<float>{1, 4, 9});
  // A second backward accumulates (+=).
  tsum(tmul(x, w)).backward();
  REQUIRE(x.grad().to_vector() == std::vector<float>{12, 25, 42});
  x.zero_grad();
  REQUIRE(x.grad().to_vector() == std::vector<float>{0, 0, 0});
}

TEST_CASE("autograd: freed graph, retain_graph, NoGradGuard, detach", "[core]") {
  Tensor x = Tensor::from_vector({1, 2}, {2}).set_requires_grad(true);
  Tensor loss = tsum(tmul(x, x));
  loss.backward(/*retain_graph=*/true);
  loss.backward();
  REQUIRE(x.grad().to_vector() == std::vector<float>{4, 8});
  REQUIRE_THROWS_WITH(loss.backward(), Catch::Contains("already freed"));
  {
    autograd::NoGradGuard ng;
    REQUIRE_FALSE(tmul(x, x).requires_grad());
  }
  REQUIRE_FALSE(tmul(x.detach(), x.detach()).requires_grad());
  REQUIRE_THROWS_WITH(tmul(x, x).backward(), Catch::Contains("one-element"));
}

TEST_CASE("autograd: retain_grad and hooks see the complete gradient", "[core]") {
  Tensor x = Tensor::from_vector({1, 2}, {2}).set_requires_grad(true);
  Tensor h = tmul(x, x);
  h.retain_grad();
  std::vector<float> seen;
  h.register_grad_hook([&](Tensor& g) { seen = g.to_vector(); });
  x.register_grad_hook([](Tensor& g) { g.flat() *= 10.0f; });  // hooks may rewrite the gradient
  Tensor loss = tsum(tmul(h, Tensor::from_vector({3, 5}, {2})));
  loss.backward();
  REQUIRE(seen == std::vector<float>{3, 5});
  REQUIRE(h.grad().to_vector() == std::vector<float>{3, 5});
  REQUIRE(x.grad().to_vector() == std::vector<float>{60, 200});  // 10 * 2x * [3,5]
}

TEST_CASE("autograd: deep graphs do not recurse", "[core]") {
  Tensor x = Tensor::from_vector({1}, {1}).set_requires_grad(true);
  Tensor one = Tensor::from_vector({1}, {1});
  Tensor y = x;
  for (int i = 0; i < 100000; ++i) y = tmul(y, one);
  tsum(y).backward();
  REQUIRE(x.grad().item() == 1.0f);
}

TEST_CASE("autograd: print_graph lists op, name, shape, inputs and saved", "[core]") {
  Tensor x = Tensor::from_vector({1, 2}, {2}).set_requires_grad(true).set_name("x");
  Tensor loss = tsum(tmul(x, x).set_name("xx"));
  std::ostringstream os;
  autograd::print_graph(loss, os);
  const std::string s = os.str();
  REQUIRE_THAT(s, Catch::Contains("tsum -> 'tsum' []"));
  REQUIRE_THAT(s, Catch::Contains("tmul -> 'xx' [2]  inputs: 'x' [2], 'x' [2]  saved: {a, b}"));
  REQUIRE(autograd::graph_nodes(loss).size() == 2);
}

TEST_CASE("tensor: factories, views and checks", "[core]") {
  REQUIRE(Tensor::arange(0, 5).to_vector() == std::vector<float>{0, 1, 2, 3, 4});
  Tensor t = Tensor::from_vector({1, 2, 3, 4, 5, 6}, {2, 3});
  REQUIRE(t.as_matrix(2, 3)(1, 0) == 4.0f);
  REQUIRE(t.at({1, 2}) == 6.0f);
  REQUIRE(t.size(-1) == 3);
  REQUIRE_THROWS_WITH(t.at({2, 0}), Catch::Contains("out of range"));
  REQUIRE_THROWS_AS(Tensor::from_vector({1, 2}, {3}), Error);
  REQUIRE_THROWS_WITH(shape_numel({1LL << 40, 1LL << 40}), Catch::Contains("overflows"));
  Tensor c = t.clone();
  c.data()[0] = 9;
  REQUIRE(t.data()[0] == 1.0f);
  Tensor v = t.view_as_shape({3, 2});
  v.data()[0] = 7;
  REQUIRE(t.data()[0] == 7.0f);  // shared storage
}

TEST_CASE("autograd: dinput_uninit is written once, leaf gradients stay private", "[core]") {
  Tensor x = Tensor::from_vector({1, 2}, {2}).set_requires_grad(true);
  auto twice = [](const Tensor& in) {
    Tensor y = Tensor::empty(in.shape());
    y.flat() = 2.0f * in.flat();
    return autograd::record("ttwice", {in}, y, {}, [](BackwardContext& ctx) {
      ctx.dinput_uninit(0).flat() = 2.0f * ctx.dout();
      REQUIRE_THROWS_WITH(ctx.dinput_uninit(0), Catch::Contains("already created"));
    });
  };
  tsum(twice(x)).backward();
  Tensor g1 = x.grad();
  tsum(twice(x)).backward();
  REQUIRE(x.grad().to_vector() == std::vector<float>{4, 4});
  REQUIRE(g1.is_same(x.grad()));  // accumulated in place, not replaced
}

namespace {
// y = log(x)                                dx += dy / x
Tensor tlog(const Tensor& x) {
  Tensor y = Tensor::empty(x.shape());
  y.flat() = x.flat().log();
  return autograd::record("tlog", {x}, y, {"x"}, [x = x.detach()](BackwardContext& ctx) { ctx.dinput(0) += ctx.dout() / x.flat(); });
}
// y = sqrt(x)                               dx += dy / (2 y)
Tensor tsqrt(const Tensor& x) {
  Tensor y = Tensor::empty(x.shape());
  y.flat() = x.flat().sqrt();
  return autograd::record("tsqrt", {x}, y, {"y"}, [y = y.detach()](BackwardContext& ctx) {
    ctx.dinput(0) += ctx.dout() / (2.0f * y.flat());
  });
}
// y = a + b, y = exp(x) (forward only: these cases never reach backward)
Tensor tadd(const Tensor& a, const Tensor& b) {
  Tensor y = Tensor::empty(a.shape());
  y.flat() = a.flat() + b.flat();
  return autograd::record("tadd", {a, b}, y, {}, [](BackwardContext&) {});
}
Tensor texp(const Tensor& x) {
  Tensor y = Tensor::empty(x.shape());
  y.flat() = x.flat().exp();
  return autograd::record("texp", {x}, y, {}, [](BackwardContext&) {});
}
Tensor named_leaf(const std::vector<float>& v) {
  Tensor t = Tensor::from_vector(v, {static_cast<int64_t>(v.size())});
  t.set_name("x");
  t.set_requires_grad(true);
  return t;
}
}  // namespace

TEST_CASE("autograd: AnomalyScope names the first op that made a NaN or infinity, forward and backward", "[core]") {
  using Catch::Equals;
  const float inf = std::numeric_limits<float>::infinity();
  SECTION("forward: an op that makes -inf from finite inputs") {
    const Tensor x = named_leaf({1.0f, 0.0f, 2.0f});
    CHECK_NOTHROW(tlog(x));  // off: IEEE arithmetic as usual
    autograd::AnomalyScope anomaly;
    CHECK_THROWS_AS(tlog(x), autograd::AnomalyError);
    CHECK_THROWS_WITH(tlog(x), Equals("detect-anomaly: forward: op 'tlog' made -inf at element 1 of its output "
                                      "'tlog' [3] from finite inputs 'x' [3]"));
  }
  SECTION("forward: NaN that came in with a leaf is named as the origin") {
    autograd::AnomalyScope anomaly;
    const Tensor x = named_leaf({1.0f, std::nanf(""), 2.0f});
    CHECK_THROWS_WITH(texp(x), Equals("detect-anomaly: forward: op 'texp' received nan at element 1 of its input "
                                      "'x' [3], which no checked op made (a parameter, the data, or a tensor "
                                      "computed before detection started)"));
  }
  SECTION("forward: an infinity an input brought in may pass (a causal mask), NaN may not") {
    autograd::AnomalyScope anomaly;
    const Tensor scores = named_leaf({0.5f, 1.5f});
    const Tensor mask = Tensor::from_vector({0.0f, -inf}, {2});
    const Tensor masked = tadd(scores, mask);
    CHECK(std::isinf(masked.data()[1]));
    CHECK(texp(masked).data()[1] == 0.0f);
    CHECK_THROWS_WITH(tadd(masked, Tensor::from_vector({0.0f, inf}, {2})),
                      Catch::Contains("op 'tadd' made nan at element 1 of its output"));
  }
  SECTION("backward: a gradient that becomes infinite") {
    const Tensor x = named_leaf({0.0f, 4.0f});
    const Tensor loss = tsum(tsqrt(x));  // d sqrt(x)/dx = 1 / (2 sqrt(x)): infinite at 0
    autograd::AnomalyScope anomaly;
    CHECK_THROWS_WITH(loss.backward(), Equals("detect-anomaly: backward: op 'tsqrt' made inf at element 0 of the "
                                              "gradient of its input 'x' [2] (output 'tsqrt')"));
  }
  CHECK_FALSE(autograd::anomaly_detection_enabled());
}

TEST_CASE("autograd: reshape passes its gradient on without a copy, but never a tensor a hook handed in", "[core]") {
  // z = x * x is recorded before y = reshape(x), so reshape's backward runs first and x's gradient
  // starts as what reshape passes on; mul's backward then adds 2x into that same buffer.
  for (bool hook : {false, true}) {
    INFO("hook on y: " << hook);
    Tensor x = testing::uniform({4, 6}, -1, 1, 1);
    const Tensor z = ops::mul(x, x);
    Tensor y = ops::reshape(x, {24});
    const Tensor kept = Tensor::full({24}, 1.0f);  // the caller's tensor, handed in as y's gradient
    if (hook) y.register_grad_hook([&](Tensor& g) { g = kept; });
    ops::add(ops::sum(y), ops::sum(z)).backward();
    REQUIRE(kept.to_vector() == std::vector<float>(24, 1.0f));  // not summed into
    const std::vector<float> xv = x.to_vector(), g = x.grad().to_vector();
    for (size_t i = 0; i < xv.size(); ++i) REQUIRE(g[i] == (1.0f + xv[i]) + xv[i]);  // in the order the nodes ran
  }
}
