// core/gradcheck_cases.cpp — gradient-check cases for core's ops (the registry of
// gradcheck_cases.h), and the runner. The same inputs as the Catch2 cases in tests/core: small
// (at most a few hundred elements), sampled away from kinks, as gradcheck.h requires.
#include "core/gradcheck_cases.h"

#include <algorithm>

#include "core/ops.h"
#include "core/rng.h"

namespace raoq {

GradcheckResult run_gradcheck_case(const GradcheckCase& c) {
  GradcheckResult r = gradcheck(c.fn, c.inputs(), c.options);
  if (std::find(r.ops_seen.begin(), r.ops_seen.end(), c.op) == r.ops_seen.end()) r.ok = false;
  return r;
}

namespace gradcheck_inputs {
Tensor uniform(const Shape& shape, float lo, float hi, uint64_t seed, bool requires_grad) {
  Generator gen(seed);
  Tensor t = Tensor::uniform(shape, gen, lo, hi);
  t.set_requires_grad(requires_grad);
  return t;
}
Tensor randn(const Shape& shape, uint64_t seed) {
  Generator gen(seed);
  Tensor t = Tensor::randn(shape, gen);
  t.set_requires_grad(true);
  return t;
}
Tensor away_from_zero(const Shape& shape, float hi, float gap, uint64_t seed) {
  Generator gen(seed);
  Tensor t = Tensor::uniform(shape, gen, gap, hi);
  for (int64_t i = 0; i < t.numel(); ++i)
    if (gen.uniform01() < 0.5f) t.data()[i] = -t.data()[i];
  t.set_requires_grad(true);
  return t;
}
Tensor values(const std::vector<float>& v, const Shape& shape) {
  return Tensor::from_vector(v, shape).set_requires_grad(true);
}
}  // namespace gradcheck_inputs

namespace {
using gradcheck_inputs::uniform;
using In = std::vector<Tensor>;

// Distinct values 0.1 apart (max and max_pool2d need a unique maximum per window, further from
// the runner-up than the stencil's reach of 2h = 0.02).
Tensor distinct_values(const Shape& shape) {
  Tensor t = Tensor::empty(shape);
  const int64_t n = t.numel();
  for (int64_t i = 0; i < n; ++i) t.data()[i] = 0.1f * static_cast<float>((i * 7) % n) - 0.05f * n;
  return t.set_requires_grad(true);
}

void add_elementwise(GradcheckCases& c) {
  c.push_back({"add", "(C,1,1) bias over (N,C,H,W)", [] { return In{uniform({2, 3, 2, 2}, -1, 1, 3), uniform({3, 1, 1}, -1, 1, 4)}; },
               [](const In& in) { return ops::add(in[0], in[1]); }});
  c.push_back({"sub", "(D) from (N,T,D)", [] { return In{uniform({2, 3, 4}, -1, 1, 9), uniform({4}, -1, 1, 10)}; },
               [](const In& in) { return ops::sub(in[0], in[1]); }});
  c.push_back({"mul", "(3,1) x (1,4)", [] { return In{uniform({3, 1}, -1, 1, 15), uniform({1, 4}, -1, 1, 16)}; },
               [](const In& in) { return ops::mul(in[0], in[1]); }});
  c.push_back({"div", "divisor (C,1,1) away from 0",
               [] { return In{uniform({2, 3, 2, 2}, -1, 1, 21), gradcheck_inputs::away_from_zero({3, 1, 1}, 2, 0.5f, 22)}; },
               [](const In& in) { return ops::div(in[0], in[1]); }});
  c.push_back({"add_scalar", "(2,3)", [] { return In{uniform({2, 3}, -1, 1, 25)}; },
               [](const In& in) { return ops::add_scalar(in[0], 0.7f); }});
  c.push_back({"scale", "(2,3) times -1.5", [] { return In{uniform({2, 3}, -1, 1, 26)}; },
               [](const In& in) { return ops::scale(in[0], -1.5f); }});
  c.push_back({"neg", "(4)", [] { return In{uniform({4}, -1, 1, 28)}; }, [](const In& in) { return ops::neg(in[0]); }});
  c.push_back({"pow", "p = 3 on both signs", [] { return In{uniform({2, 4}, -1.5f, 1.5f, 29)}; },
               [](const In& in) { return ops::pow(in[0], 3.0f); }});
  c.push_back({"pow", "p = -1.5 on positives", [] { return In{uniform({2, 4}, 0.5f, 2, 31)}; },
               [](const In& in) { return ops::pow(in[0], -1.5f); }});
  c.push_back({"square", "(3,3)", [] { return In{uniform({3, 3}, -2, 2, 32)}; },
               [](const In& in) { return ops::square(in[0]); }});
  c.push_back({"sqrt", "positive inputs", [] { return In{uniform({3, 3}, 0.3f, 3, 33)}; },
               [](const In& in) { return ops::sqrt(in[0]); }});
  c.push_back({"exp", "range [-2, 2]", [] { return In{uniform({3, 3}, -2, 2, 34)}; },
               [](const In& in) { return ops::exp(in[0]); }});
  c.push_back({"log", "positive inputs", [] { return In{uniform({3, 3}, 0.3f, 3, 35)}; },
               [](const In& in) { return ops::log(in[0]); }});
  c.push_back({"abs", "away from 0", [] { return In{gradcheck_inputs::away_from_zero({3, 3}, 2, 0.1f, 36)}; },
               [](const In& in) { return ops::abs(in[0]); }});
  // At least 0.1 from the bounds -1 and 1, on both sides of each.
  c.push_back({"clamp", "[-1, 1], inputs away from the bounds",
               [] { return In{gradcheck_inputs::values({-1.8f, -1.3f, -0.85f, -0.2f, 0.3f, 0.9f, 1.15f, 1.7f}, {2, 4})}; },
               [](const In& in) { return ops::clamp(in[0], -1, 1); }});
  c.push_back({"relu", "away from 0", [] { return In{gradcheck_inputs::away_from_zero({4, 5}, 2, 0.1f, 1)}; },
               [](const In& in) { return ops::relu(in[0]); }});
  c.push_back({"gelu", "range [-3, 3]", [] { return In{uniform({4, 5}, -3, 3, 2)}; },
               [](const In& in) { return ops::gelu(in[0]); }});
  c.push_back({"silu", "range [-4, 4]", [] { return In{uniform({4, 5}, -4, 4, 3)}; },
               [](const In& in) { return ops::silu(in[0]); }});
  c.push_back({"tanh", "range [-2, 2]", [] { return In{uniform({3, 5}, -2, 2, 4)}; },
               [](const In& in) { return ops::tanh(in[0]); }});
  c.push_back({"sigmoid", "range [-4, 4]", [] { return In{uniform({4, 5}, -4, 4, 6)}; },
               [](const In& in) { return ops::sigmoid(in[0]); }});
}

void add_reduce_shape(GradcheckCases& c) {
  c.push_back({"sum", "axis -1, keepdim", [] { return In{uniform({2, 3, 4}, -1, 1, 4)}; },
               [](const In& in) { return ops::sum(in[0], -1, true); }});
  c.push_back({"mean", "all elements", [] { return In{uniform({3, 4}, -1, 1, 7)}; },
               [](const In& in) { return ops::mean(in[0]); }});
  c.push_back({"max", "distinct values, axis 1, keepdim", [] { return In{distinct_values({2, 4, 3})}; },
               [](const In& in) { return ops::max(in[0], 1, true); }});
  c.push_back({"reshape", "(2,3,4) -> (4,-1)", [] { return In{uniform({2, 3, 4}, -1, 1, 1)}; },
               [](const In& in) { return ops::reshape(in[0], {4, -1}); }});
  c.push_back({"permute", "(2,0,1)", [] { return In{uniform({2, 3, 4}, -1, 1, 3)}; },
               [](const In& in) { return ops::permute(in[0], {2, 0, 1}); }});
  c.push_back({"slice", "[1, 3) of axis 1", [] { return In{uniform({2, 4, 3}, -1, 1, 5)}; },
               [](const In& in) { return ops::slice(in[0], 1, 1, 3); }});
  c.push_back({"concat", "three inputs, last axis",
               [] { return In{uniform({2, 1, 2}, -1, 1, 7), uniform({2, 1, 3}, -1, 1, 8), uniform({2, 1, 1}, -1, 1, 9)}; },
               [](const In& in) { return ops::concat({in[0], in[1], in[2]}, -1); }});
}

void add_products_losses(GradcheckCases& c) {
  c.push_back({"matmul", "batched (2,3,4) x (2,4,5)", [] { return In{uniform({2, 3, 4}, -1, 1, 3), uniform({2, 4, 5}, -1, 1, 4)}; },
               [](const In& in) { return ops::matmul(in[0], in[1]); }});
  c.push_back({"linear", "3-D x with bias",
               [] { return In{uniform({2, 3, 4}, -1, 1, 9), uniform({5, 4}, -1, 1, 10), uniform({5}, -1, 1, 11)}; },
               [](const In& in) { return ops::linear(in[0], in[1], in[2]); }});
  c.push_back({"softmax", "middle axis", [] { return In{uniform({2, 4, 3}, -2, 2, 2)}; },
               [](const In& in) { return ops::softmax(in[0], 1); }});
  c.push_back({"log_softmax", "last axis", [] { return In{uniform({3, 5}, -2, 2, 3)}; },
               [](const In& in) { return ops::log_softmax(in[0], -1); }});
  c.push_back({"cross_entropy", "label smoothing 0.1", [] { return In{uniform({4, 5}, -2, 2, 6)}; },
               [](const In& in) { return ops::cross_entropy(in[0], {3, 0, 4, 1}, 0.1f); }});
  c.push_back({"mse_loss", "both inputs", [] { return In{uniform({3, 4}, -1, 1, 7), uniform({3, 4}, -1, 1, 8)}; },
               [](const In& in) { return ops::mse_loss(in[0], in[1]); }});
  c.push_back({"scaled_dot_product_attention", "causal",
               [] { return In{uniform({2, 1, 4, 3}, -1, 1, 4), uniform({2, 1, 4, 3}, -1, 1, 5), uniform({2, 1, 4, 3}, -1, 1, 6)}; },
               [](const In& in) { return ops::scaled_dot_product_attention(in[0], in[1], in[2], true); }});
  c.push_back({"embedding", "repeated indices", [] { return In{uniform({6, 4}, -1, 1, 1)}; },
               [](const In& in) { return ops::embedding(in[0], {1, 5, 1, 0, 3, 1}, {2, 3}); }});
  c.push_back({"dropout", "training p = 0.4, fixed mask", [] { return In{uniform({5, 6}, -1, 1, 1)}; },
               [](const In& in) {
                 Generator gen(7);  // the same mask on every evaluation
                 return ops::dropout(in[0], 0.4f, true, gen);
               }});
}

void add_conv_pool_norm(GradcheckCases& c) {
  c.push_back({"conv2d", "3x3 padding 1 with bias",
               [] { return In{uniform({2, 2, 4, 4}, -1, 1, 1), uniform({3, 2, 3, 3}, -1, 1, 2), uniform({3}, -1, 1, 3)}; },
               [](const In& in) { return ops::conv2d(in[0], in[1], in[2], {1, 1, 1, 1}); }});
  c.push_back({"conv2d", "depthwise stride 2, no bias",
               [] { return In{uniform({1, 2, 5, 5}, -1, 1, 15), uniform({2, 1, 3, 3}, -1, 1, 16)}; },
               [](const In& in) { return ops::conv2d(in[0], in[1], Tensor(), {2, 1, 1, 2}); }});
  c.push_back({"max_pool2d", "3x3 stride 2 padding 1", [] { return In{distinct_values({1, 2, 5, 5})}; },
               [](const In& in) { return ops::max_pool2d(in[0], 3, 2, 1); }});
  c.push_back({"avg_pool2d", "2x2 stride 2", [] { return In{uniform({2, 2, 4, 4}, -1, 1, 3)}; },
               [](const In& in) { return ops::avg_pool2d(in[0], 2); }});
  c.push_back({"global_avg_pool", "3x5 planes", [] { return In{uniform({2, 3, 3, 5}, -1, 1, 5)}; },
               [](const In& in) { return ops::global_avg_pool(in[0]); }});
  c.push_back({"batch_norm", "training (N,C,H,W), affine",
               [] { return In{uniform({2, 3, 2, 4}, -2, 2, 1), uniform({3}, 0.5f, 1.5f, 2), uniform({3}, -1, 1, 3)}; },
               [](const In& in) { return ops::batch_norm(in[0], in[1], in[2], Tensor(), Tensor(), true); }});
  c.push_back({"layer_norm", "affine, last axis",
               [] { return In{uniform({2, 3, 6}, -2, 2, 13), uniform({6}, 0.5f, 1.5f, 14), uniform({6}, -1, 1, 15)}; },
               [](const In& in) { return ops::layer_norm(in[0], in[1], in[2]); }});
}
}  // namespace

void add_core_gradcheck_cases(GradcheckCases& cases) {
  add_elementwise(cases);
  add_reduce_shape(cases);
  add_products_losses(cases);
  add_conv_pool_norm(cases);
}

}  // namespace raoq
