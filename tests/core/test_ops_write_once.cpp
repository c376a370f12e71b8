// tests/core/test_ops_write_once.cpp — ops whose backward writes its gradient buffer once
// (BackwardContext::dinput_uninit, or dinput_sum's fresh buffer) instead of zero-filling it and
// adding, or adds its terms into the sum other nodes already made (dinput_sum): every element
// must be written, and gradients must still add up across uses of an input and across backward()
// calls, to the bits each node's own buffer gave (the engine's sums, which TraceScope keeps).
//
// An unwritten element would hold whatever the buffer held before: each case first leaves
// NaN-filled buffers of its gradients' sizes in the buffer cache (testing::leave_nan_buffers).
#include <algorithm>
#include <cmath>
#include <functional>
#include <sstream>
#include <string>
#include <vector>

#include "core/autograd.h"
#include "core/ops.h"
#include "core/rng.h"
#include "tests/support/testing.h"

using namespace raoq;

namespace {

using Fn = std::function<Tensor(const std::vector<Tensor>&)>;

struct Case {
  std::string name;
  Fn f;
  std::vector<Shape> shapes;  // the inputs, all requiring grad
  // Each input element gets one term of f's gradient, so two uses give exactly 2g. Cases that
  // combine ops (a residual) sum several terms, and a second use regroups them.
  bool one_term = true;
};

// Under TraceScope every node keeps a buffer of its own, which the engine adds (no dinput_sum).
std::vector<std::vector<float>> traced(const std::function<std::vector<std::vector<float>>()>& run) {
  std::ostringstream trace;
  const autograd::TraceScope scope(trace);
  return run();
}

// L = sum over `uses` calls of sum(f(x) * r): the gradient of every input, as flat vectors.
std::vector<std::vector<float>> gradients(const Case& c, const std::vector<Tensor>& in, const Tensor& r, int uses) {
  Tensor loss;
  for (int u = 0; u < uses; ++u) {
    const Tensor term = ops::sum(ops::mul(c.f(in), r));
    loss = u == 0 ? term : ops::add(loss, term);
  }
  loss.backward();
  std::vector<std::vector<float>> g;
  for (const Tensor& t : in) g.push_back(t.grad().to_vector());
  return g;
}

void clear(std::vector<Tensor>& in) {
  for (Tensor& t : in) t.set_grad(Tensor());
}

std::vector<Case> cases() {
  using ops::Conv2dOptions;
  auto conv = [](Conv2dOptions o) {
    return [o](const std::vector<Tensor>& in) { return ops::conv2d(in[0], in[1], Tensor(), o); };
  };
  return {
      {"relu", [](const auto& in) { return ops::relu(in[0]); }, {{4, 8, 32, 32}}},
      {"gelu", [](const auto& in) { return ops::gelu(in[0]); }, {{4, 8, 32, 32}}},
      {"silu", [](const auto& in) { return ops::silu(in[0]); }, {{4, 8, 32, 32}}},
      {"tanh", [](const auto& in) { return ops::tanh(in[0]); }, {{4, 8, 32, 32}}},
      {"sigmoid", [](const auto& in) { return ops::sigmoid(in[0]); }, {{4, 8, 32, 32}}},
      {"batch_norm training",
       [](const auto& in) { return ops::batch_norm(in[0], in[1], in[2], Tensor(), Tensor(), true, 0.1f, 1e-5f); },
       {{4, 8, 32, 32}, {8}, {8}}},
      {"batch_norm eval",
       [](const auto& in) {
         return ops::batch_norm(in[0], in[1], in[2], Tensor::zeros({8}), Tensor::ones({8}), false, 0.1f, 1e-5f);
       },
       {{4, 8, 32, 32}, {8}, {8}}},
      {"conv2d winograd", conv({.stride = 1, .padding = 1}), {{2, 16, 32, 32}, {16, 16, 3, 3}}},
      {"conv2d im2col + col2im", conv({.stride = 2, .padding = 1}), {{2, 8, 32, 32}, {4, 8, 3, 3}}},
      {"conv2d dx as a convolution", conv({.stride = 1, .padding = 1}), {{2, 8, 32, 32}, {4, 8, 3, 3}}},
      {"conv2d pointwise", conv({}), {{2, 8, 32, 32}, {4, 8, 1, 1}}},
      {"conv2d depthwise x2", conv({.stride = 1, .padding = 1, .groups = 8}), {{2, 8, 32, 32}, {16, 1, 3, 3}}},
      {"max_pool2d 2x2", [](const auto& in) { return ops::max_pool2d(in[0], 2); }, {{4, 8, 32, 32}}},
      {"max_pool2d 3x3 stride 2 padding 1", [](const auto& in) { return ops::max_pool2d(in[0], 3, 2, 1); },
       {{4, 8, 33, 31}}},
      {"avg_pool2d", [](const auto& in) { return ops::avg_pool2d(in[0], 3, 2, 1); }, {{4, 8, 32, 32}}},
      {"global_avg_pool", [](const auto& in) { return ops::global_avg_pool(in[0]); }, {{4, 8, 32, 32}}},
      {"linear", [](const auto& in) { return ops::linear(in[0], in[1], in[2]); }, {{256, 96}, {200, 96}, {200}}},
      {"matmul", [](const auto& in) { return ops::matmul(in[0], in[1]); }, {{256, 96}, {96, 200}}},
      {"matmul batched", [](const auto& in) { return ops::matmul(in[0], in[1]); }, {{4, 64, 96}, {4, 96, 80}}},
      {"reshape", [](const auto& in) { return ops::reshape(in[0], {32, -1}); }, {{4, 8, 32, 32}}},
      {"permute", [](const auto& in) { return ops::permute(in[0], {2, 0, 3, 1}); }, {{4, 8, 32, 32}}},
      {"concat", [](const auto& in) { return ops::concat({in[0], in[1]}, 1); }, {{4, 8, 32, 32}, {4, 6, 32, 32}}},
      {"dropout",
       [](const auto& in) {
         Generator gen(7);  // the same mask at every use
         return ops::dropout(in[0], 0.3f, true, gen);
       },
       {{4, 8, 32, 32}}},
      {"sum", [](const auto& in) { return ops::sum(in[0]); }, {{4, 8, 32, 32}}},
      {"mean", [](const auto& in) { return ops::mean(in[0]); }, {{4, 8, 32, 32}}},
      // dinput_sum: the first node to run writes the gradient, the later ones add into it.
      {"slice x3 (q, k, v of one fused projection)",
       [](const auto& in) {
         return ops::add(ops::mul(ops::slice(in[0], 1, 0, 32), ops::slice(in[0], 1, 32, 64)), ops::slice(in[0], 1, 64, 96));
       },
       {{256, 96}}},
      {"layer_norm of a residual stream",
       [](const auto& in) { return ops::add(in[0], ops::layer_norm(in[0], in[1], in[2], 1e-5f)); },
       {{256, 96}, {96}, {96}}, false},
      {"softmax beside a residual", [](const auto& in) { return ops::add(in[0], ops::softmax(in[0], -1)); }, {{256, 96}},
       false},
      {"add and mul of one input", [](const auto& in) { return ops::mul(in[0], ops::add(in[0], in[1])); },
       {{256, 96}, {256, 96}}, false},
      {"sub and div", [](const auto& in) { return ops::div(ops::sub(in[0], in[1]), ops::exp(in[1])); },
       {{256, 96}, {256, 96}}, false},
  };
}

}  // namespace

TEST_CASE("write-once backward: every gradient element is written, and gradients still accumulate", "[core]") {
  uint64_t seed = 100;
  for (const Case& c : cases()) {
    INFO("case: " << c.name);
    std::vector<Tensor> in;
    for (const Shape& s : c.shapes) in.push_back(testing::uniform(s, -2.0f, 2.0f, ++seed));
    const Tensor r = testing::uniform(c.f(in).shape(), -1.0f, 1.0f, ++seed, /*requires_grad=*/false);
    std::vector<Shape> grad_shapes = c.shapes;
    grad_shapes.push_back(r.shape());

    const auto once = gradients(c, in, r, 1);
    clear(in);
    REQUIRE(traced([&] { return gradients(c, in, r, 1); }) == once);
    clear(in);
    testing::leave_nan_buffers(grad_shapes);
    const auto poisoned = gradients(c, in, r, 1);
    for (size_t i = 0; i < in.size(); ++i) {
      INFO("input " << i);
      REQUIRE(std::all_of(poisoned[i].begin(), poisoned[i].end(), [](float v) { return std::isfinite(v); }));
      REQUIRE(poisoned[i] == once[i]);
    }

    // Two uses of each input in one graph, then one more backward() on a new graph: the engine's
    // sums, and for one term per element 2g, then 3g.
    clear(in);
    testing::leave_nan_buffers(grad_shapes);
    const auto twice = gradients(c, in, r, 2);
    const auto thrice = gradients(c, in, r, 1);
    clear(in);
    REQUIRE(traced([&] { return gradients(c, in, r, 2); }) == twice);
    REQUIRE(traced([&] { return gradients(c, in, r, 1); }) == thrice);
    for (size_t i = 0; c.one_term && i < in.size(); ++i) {
      INFO("input " << i);
      std::vector<float> two(once[i].size()), three(once[i].size());
      for (size_t j = 0; j < once[i].size(); ++j) two[j] = 2.0f * once[i][j], three[j] = two[j] + once[i][j];
      REQUIRE(twice[i] == two);
      REQUIRE(thrice[i] == three);
    }
    clear(in);
  }
}
