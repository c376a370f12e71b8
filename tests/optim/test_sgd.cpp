// tests/optim/test_sgd.cpp — SGD steps against values worked out by hand.
#include "optim/sgd.h"
#include "tests/support/testing.h"

using namespace raoq;

namespace {
// float32 holds these values to about 1e-7 relative; 1e-6 leaves room for a few roundings.
constexpr double kTol = 1e-6;

Tensor param(std::vector<float> v) {
  return Tensor::from_vector(v, {static_cast<int64_t>(v.size())}).set_requires_grad(true);
}
void set_grad(const Tensor& p, std::vector<float> g) {
  Tensor(p).set_grad(Tensor::from_vector(g, p.shape()));
}
}  // namespace

TEST_CASE("sgd: plain step is p - lr * g", "[optim]") {
  Tensor p = param({1.0f, -2.0f});
  SGD opt({{"w", p}}, {.lr = 0.1});
  set_grad(p, {0.5f, 0.25f});
  opt.step();
  testing::require_values(p, {0.95, -2.025}, kTol);  // 1 - 0.1*0.5, -2 - 0.1*0.25
  REQUIRE(opt.state_dict().size() == 2);  // "step" and "w.step": no momentum slot without momentum
}

TEST_CASE("sgd: momentum and weight decay, two steps", "[optim]") {
  Tensor p = param({1.0f, -2.0f});
  SGD opt({{"w", p}}, {.lr = 0.1, .momentum = 0.9, .weight_decay = 0.01});
  // step 1, g = [0.5, 0.25]: d = g + 0.01 p = [0.51, 0.23]; b = d; p -= 0.1 b -> [0.949, -2.023]
  set_grad(p, {0.5f, 0.25f});
  opt.step();
  testing::require_values(p, {0.949, -2.023}, kTol);
  // step 2, g = [-1, 0.5]: d = g + 0.01 p = [-0.99051, 0.47977]
  //   b = 0.9 [0.51, 0.23] + d = [-0.53151, 0.68677];  p -= 0.1 b -> [1.002151, -2.091677]
  set_grad(p, {-1.0f, 0.5f});
  opt.step();
  testing::require_values(p, {1.002151, -2.091677}, kTol);
  const auto state = opt.state_dict();
  REQUIRE(state[2].first == "w.momentum");
  testing::require_values(state[2].second, {-0.53151, 0.68677}, kTol);
  REQUIRE(opt.step_count() == 2);
}

TEST_CASE("sgd: nesterov, two steps", "[optim]") {
  Tensor p = param({1.0f, -2.0f});
  SGD opt({{"w", p}}, {.lr = 0.1, .momentum = 0.9, .weight_decay = 0.01, .nesterov = true});
  // step 1: d = [0.51, 0.23]; b = d; update d + 0.9 b = 1.9 d = [0.969, 0.437] -> p = [0.9031, -2.0437]
  set_grad(p, {0.5f, 0.25f});
  opt.step();
  testing::require_values(p, {0.9031, -2.0437}, kTol);
  // step 2: d = [-1, 0.5] + 0.01 p = [-0.990969, 0.479563]; b = 0.9 [0.51, 0.23] + d = [-0.531969, 0.686563]
  //   update d + 0.9 b = [-1.4697411, 1.0974697] -> p = [1.05007411, -2.15344697]
  set_grad(p, {-1.0f, 0.5f});
  opt.step();
  testing::require_values(p, {1.05007411, -2.15344697}, kTol);
}

TEST_CASE("sgd: rejects nesterov without momentum and negative settings", "[optim]") {
  Tensor p = param({1.0f});
  REQUIRE_THROWS_WITH(SGD({{"w", p}}, {.lr = 0.1, .nesterov = true}), Catch::Contains("nesterov needs momentum"));
  REQUIRE_THROWS_WITH(SGD({{"w", p}}, {.lr = -1.0}), Catch::Contains("lr must be >= 0"));
  REQUIRE_THROWS_WITH(SGD({{"w", p}, {"w", p}}, {.lr = 0.1}), Catch::Contains("'w' appears twice"));
}
