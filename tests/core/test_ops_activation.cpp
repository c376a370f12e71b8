// tests/core/test_ops_activation.cpp — relu, gelu, silu, tanh, sigmoid: values pinned against
// closed forms, extreme inputs, the parallel path, and gradient checks.
#include <cmath>

#include "core/autograd.h"
#include "core/error.h"
#include "core/ops.h"
#include "core/parallel.h"
#include "tests/support/testing.h"

using namespace raoq;

namespace {


void require_values(const Tensor& t, const std::vector<float>& expected, float tol = 1e-6f) {
  REQUIRE(t.numel() == static_cast<int64_t>(expected.size()));
  for (size_t i = 0; i < expected.size(); ++i) {
    INFO("element " << i);
    REQUIRE(t.data()[i] == Approx(expected[i]).margin(tol));
  }
}

}  // namespace

TEST_CASE("activations: values at hand-computed points", "[core]") {
  Tensor x = Tensor::from_vector({-2, -1, 0, 1, 2}, {5});
  require_values(ops::relu(x), {0, 0, 0, 1, 2});
  // gelu(x) = x Phi(x); Phi(1) = 0.8413447461, Phi(2) = 0.9772498681 (standard normal CDF).
  require_values(ops::gelu(x), {-2 * (1 - 0.9772498681f), -(1 - 0.8413447461f), 0, 0.8413447461f, 2 * 0.9772498681f},
                 2e-6f);
  // silu(x) = x / (1 + e^-x); sigmoid(1) = 0.7310585786, sigmoid(2) = 0.8807970780.
  require_values(ops::silu(x), {-2 * (1 - 0.8807970780f), -(1 - 0.7310585786f), 0, 0.7310585786f, 2 * 0.8807970780f},
                 2e-6f);
  require_values(ops::sigmoid(x), {1 - 0.8807970780f, 1 - 0.7310585786f, 0.5f, 0.7310585786f, 0.8807970780f});
  require_values(ops::tanh(x), {-0.9640275801f, -0.7615941560f, 0, 0.7615941560f, 0.9640275801f});
}

TEST_CASE("activations: extreme inputs stay finite", "[core]") {
  Tensor x = Tensor::from_vector({-300, -30, 30, 300}, {4});
  require_values(ops::sigmoid(x), {0, 0, 1, 1});
  require_values(ops::tanh(x), {-1, -1, 1, 1});
  require_values(ops::relu(x), {0, 0, 30, 300});
  require_values(ops::gelu(x), {0, 0, 30, 300});
  require_values(ops::silu(x), {0, 0, 30, 300}, 1e-5f);
  Tensor y = Tensor::from_vector({-300, 300}, {2}).set_requires_grad(true);
  ops::sum(ops::silu(y)).backward();
  require_values(y.grad(), {0, 1});
  y.zero_grad();
  ops::sum(ops::gelu(y)).backward();
  require_values(y.grad(), {0, 1});
}

TEST_CASE("relu: the gradient at exactly 0 is 0", "[core]") {
  Tensor x = Tensor::from_vector({-1, 0, 1}, {3}).set_requires_grad(true);
  ops::sum(ops::relu(x)).backward();
  require_values(x.grad(), {0, 0, 1});
}

TEST_CASE("activations: parallel chunks equal the element-by-element formula", "[core]") {
  const testing::ThreadCountGuard restore;
  set_num_threads(2);
  Tensor x = testing::uniform({300000}, -4, 4, 7);  // several chunks of the elementwise grain
  Tensor y = ops::gelu(x);
  ops::sum(y).backward();
  for (int64_t i = 0; i < x.numel(); i += 997) {
    const double v = x.data()[i];
    const double phi_cdf = 0.5 * (1 + std::erf(v / std::sqrt(2.0)));
    const double pdf = std::exp(-0.5 * v * v) / std::sqrt(2 * M_PI);
    INFO("element " << i << " x " << v);
    REQUIRE(y.data()[i] == Approx(v * phi_cdf).margin(1e-5));
    REQUIRE(x.grad().data()[i] == Approx(phi_cdf + v * pdf).margin(1e-5));
  }
}

RAOQ_GRADCHECK_CASE("relu", "away from 0", "[core]") {
  RAOQ_REQUIRE_GRADCHECK("relu", [](const auto& in) { return ops::relu(in[0]); },
                         {testing::uniform_away_from_zero({4, 5}, 2, 0.1f, 1)});
}
RAOQ_GRADCHECK_CASE("gelu", "range [-3, 3]", "[core]") {
  RAOQ_REQUIRE_GRADCHECK("gelu", [](const auto& in) { return ops::gelu(in[0]); }, {testing::uniform({4, 5}, -3, 3, 2)});
}
RAOQ_GRADCHECK_CASE("silu", "range [-4, 4]", "[core]") {
  RAOQ_REQUIRE_GRADCHECK("silu", [](const auto& in) { return ops::silu(in[0]); }, {testing::uniform({4, 5}, -4, 4, 3)});
}
RAOQ_GRADCHECK_CASE("tanh", "range [-2, 2] and a scalar []", "[core]") {
  RAOQ_REQUIRE_GRADCHECK("tanh", [](const auto& in) { return ops::tanh(in[0]); }, {testing::uniform({3, 5}, -2, 2, 4)});
  RAOQ_REQUIRE_GRADCHECK("tanh", [](const auto& in) { return ops::tanh(in[0]); }, {testing::uniform({}, -2, 2, 5)});
}
RAOQ_GRADCHECK_CASE("sigmoid", "range [-4, 4]", "[core]") {
  RAOQ_REQUIRE_GRADCHECK("sigmoid", [](const auto& in) { return ops::sigmoid(in[0]); },
                         {testing::uniform({4, 5}, -4, 4, 6)});
}
