// tests/optim/test_adamw.cpp — AdamW steps against values worked out by hand.
#include "optim/adamw.h"
#include "tests/support/testing.h"

using namespace raoq;

namespace {
// float32 holds these values to about 1e-7 relative; the update divides by sqrt(v_hat), which
// can double the relative rounding, so 1e-6 leaves room.
constexpr double kTol = 1e-6;

}  // namespace

TEST_CASE("adamw: two steps with decoupled weight decay and bias correction", "[optim]") {
  Tensor p = Tensor::from_vector({1.0f, -2.0f}, {2}).set_requires_grad(true);
  AdamW opt({{"w", p}}, {.lr = 0.1, .beta1 = 0.9, .beta2 = 0.999, .eps = 1e-8, .weight_decay = 0.1});
  // step 1, g = [0.5, 0.25]:
  //   decay p *= 1 - 0.1*0.1 = 0.99 -> [0.99, -1.98]
  //   m = 0.1 g = [0.05, 0.025];  v = 0.001 g^2 = [2.5e-4, 6.25e-5]
  //   m_hat = m / 0.1 = g;  sqrt(v_hat) = sqrt(v / 0.001) = |g|;  m_hat / sqrt(v_hat) = sign(g) = [1, 1]
  //   p -= 0.1 * [1, 1] -> [0.89, -2.08]   (eps = 1e-8 moves it by 2e-9, below float resolution here)
  p.set_grad(Tensor::from_vector({0.5f, 0.25f}, {2}));
  opt.step();
  testing::require_values(p, {0.89, -2.08}, kTol);
  // step 2, g = [-1, 0.5]:
  //   decay p *= 0.99 -> [0.8811, -2.0592]
  //   m = 0.9 [0.05, 0.025] + 0.1 [-1, 0.5] = [-0.055, 0.0725]
  //   v = 0.999 [2.5e-4, 6.25e-5] + 0.001 [1, 0.25] = [1.24975e-3, 3.124375e-4]
  //   m_hat = m / (1 - 0.81) = [-0.2894737, 0.3815789]
  //   sqrt(v_hat) = sqrt(v / (1 - 0.998001)) = [0.7906881, 0.3953440]
  //   ratio = [-0.3661035, 0.9651820] -> p = [0.8811 + 0.0366104, -2.0592 - 0.0965182] = [0.9177104, -2.1557182]
  p.set_grad(Tensor::from_vector({-1.0f, 0.5f}, {2}));
  opt.step();
  testing::require_values(p, {0.91771035, -2.1557182}, kTol);
  const auto state = opt.state_dict();
  REQUIRE(state[1].first == "w.step");
  REQUIRE(state[1].second.item() == 2.0f);
  REQUIRE(state[2].first == "w.exp_avg");
  testing::require_values(state[2].second, {-0.055, 0.0725}, kTol);
  REQUIRE(state[3].first == "w.exp_avg_sq");
  testing::require_values(state[3].second, {1.24975e-3, 3.124375e-4}, kTol);
}

TEST_CASE("adamw: a parameter without a gradient is skipped and keeps its own step count", "[optim]") {
  Tensor a = Tensor::from_vector({1.0f}, {1}).set_requires_grad(true);
  Tensor b = Tensor::from_vector({1.0f}, {1}).set_requires_grad(true);
  AdamW opt({{"a", a}, {"b", b}}, {.lr = 0.1, .weight_decay = 0.5});
  a.set_grad(Tensor::from_vector({1.0f}, {1}));
  opt.step();  // b has no grad: no decay, no moment update
  REQUIRE(b.item() == 1.0f);
  b.set_grad(Tensor::from_vector({1.0f}, {1}));
  opt.zero_grad();
  REQUIRE_FALSE(a.grad().defined());
  b.set_grad(Tensor::from_vector({1.0f}, {1}));
  opt.step();
  // b's first update uses t = 1 (bias corrections 0.1 and 0.001), exactly like a's first:
  // p = 1 * (1 - 0.05) - 0.1 * 1 = 0.85
  REQUIRE(b.item() == Approx(0.85).epsilon(1e-6));
  const auto state = opt.state_dict();
  REQUIRE(state[0].second.item() == 2.0f);  // step() calls
  REQUIRE(state[1].first == "a.step");
  REQUIRE(state[1].second.item() == 1.0f);
  REQUIRE(state[4].first == "b.step");
  REQUIRE(state[4].second.item() == 1.0f);
}
