// tests/core/test_autograd.cpp — the graph engine itself, with ops written inline through
// autograd::record so these tests do not depend on the op set.
#include <sstream>

#include "core/autograd.h"
#include "core/error.h"
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
