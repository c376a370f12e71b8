// tests/core/test_ops_norm.cpp — batch_norm and layer_norm: forward against the double
// references, running statistics pinned on a hand-computed case, eval mode, finite differences,
// reproducibility and contract errors.
#include <cmath>

#include "core/autograd.h"
#include "core/error.h"
#include "core/ops.h"
#include "core/parallel.h"
#include "tests/support/testing.h"

using namespace raoq;

namespace {
// Normalised outputs are O(1); float statistics over <= 200 values differ from the double
// reference by a few ulps of the inputs, i.e. ~1e-6 relative.
constexpr float kNormForwardTol = 2e-5f;
// Inputs of magnitude 1000 with unit spread: the ulp of x (6e-5) divided by the spread bounds the
// error of xhat; a one-pass E[x^2] - mean^2 in float would lose the variance entirely here.
constexpr float kLargeOffsetTol = 5e-4f;

// L = sum(y * r) through a local op, so these tests depend on no other op of core/ops.
Tensor project(const Tensor& y, const Tensor& r) {
  double acc = 0;
  for (int64_t i = 0; i < y.numel(); ++i) acc += double(y.data()[i]) * r.data()[i];
  return autograd::record("test_projection", {y}, Tensor::scalar(static_cast<float>(acc)), {"r"},
                          [r](BackwardContext& ctx) { ctx.dinput(0) += ctx.dout()(0) * r.flat(); });
}

void require_close(const Tensor& a, const Tensor& b, float tol) {
  REQUIRE(a.shape() == b.shape());
  for (int64_t i = 0; i < a.numel(); ++i) {
    CAPTURE(i, a.data()[i], b.data()[i]);
    REQUIRE(std::abs(a.data()[i] - b.data()[i]) <= tol * (1.0f + std::abs(b.data()[i])));
  }
}

class ThreadCount {
 public:
  explicit ThreadCount(int n) : previous_(num_threads()) { set_num_threads(n); }
  ~ThreadCount() { set_num_threads(previous_); }

 private:
  int previous_;
};
}  // namespace

TEST_CASE("batch_norm: training forward matches the reference for (N, C, H, W) and (N, C)", "[core][norm]") {
  for (const Shape& shape : {Shape{4, 3, 5, 6}, Shape{7, 5}}) {
    INFO("x " << shape_str(shape));
    const Tensor x = testing::uniform(shape, -3, 2, 51, false);
    const Tensor w = testing::uniform({shape[1]}, 0.5f, 2, 52, false), b = testing::uniform({shape[1]}, -1, 1, 53, false);
    require_close(ops::batch_norm(x, w, b, Tensor(), Tensor(), true), ops::batch_norm_reference(x, w, b), kNormForwardTol);
    require_close(ops::batch_norm(x, Tensor(), Tensor(), Tensor(), Tensor(), true),
                  ops::batch_norm_reference(x, Tensor(), Tensor()), kNormForwardTol);
  }
  Tensor big = testing::uniform({8, 2, 4, 4}, -1, 1, 54, false);
  big.flat() += 1000.0f;
  require_close(ops::batch_norm(big, Tensor(), Tensor(), Tensor(), Tensor(), true),
                ops::batch_norm_reference(big, Tensor(), Tensor()), kLargeOffsetTol);
}

TEST_CASE("batch_norm: running statistics and outputs on a hand-computed case", "[core][norm]") {
  // Channel 0 holds {1, 3, 5, 7}: mean 4, biased var 5, unbiased var 20/3.
  // Channel 1 holds {2, 2, 4, 4}: mean 3, biased var 1, unbiased var 4/3.
  const Tensor x = Tensor::from_vector({1, 3, 2, 2, 5, 7, 4, 4}, {2, 2, 1, 2});
  Tensor rm = Tensor::from_vector({0, 10}, {2}), rv = Tensor::from_vector({1, 1}, {2});
  const Tensor y = ops::batch_norm(x, Tensor(), Tensor(), rm, rv, true, 0.5f, 1e-5f);
  REQUIRE(rm.to_vector() == std::vector<float>{2.0f, 6.5f});  // 0.5*0 + 0.5*4, 0.5*10 + 0.5*3
  REQUIRE(rv.at({0}) == Approx(0.5 + 0.5 * 20.0 / 3.0).epsilon(1e-6));
  REQUIRE(rv.at({1}) == Approx(0.5 + 0.5 * 4.0 / 3.0).epsilon(1e-6));
  REQUIRE(y.at({0, 0, 0, 0}) == Approx(-3.0 / std::sqrt(5.0 + 1e-5)).epsilon(1e-6));
  REQUIRE(y.at({1, 1, 0, 1}) == Approx(1.0 / std::sqrt(1.0 + 1e-5)).epsilon(1e-6));
  // (N, C) input: column 0 holds {1, 3}, column 1 {2, 6}; default momentum 0.1.
  Tensor rm2 = Tensor::from_vector({0, 1}, {2}), rv2 = Tensor::from_vector({1, 1}, {2});
  ops::batch_norm(Tensor::from_vector({1, 2, 3, 6}, {2, 2}), Tensor(), Tensor(), rm2, rv2, true);
  REQUIRE(rm2.at({0}) == Approx(0.2).epsilon(1e-6));       // 0.9*0 + 0.1*2
  REQUIRE(rm2.at({1}) == Approx(1.3).epsilon(1e-6));       // 0.9*1 + 0.1*4
  REQUIRE(rv2.at({0}) == Approx(1.1).epsilon(1e-6));       // 0.9*1 + 0.1*2 (unbiased var of {1, 3})
  REQUIRE(rv2.at({1}) == Approx(1.7).epsilon(1e-6));       // 0.9*1 + 0.1*8 (unbiased var of {2, 6})
}

TEST_CASE("batch_norm: eval mode uses the running statistics and leaves them alone", "[core][norm]") {
  const Tensor x = Tensor::from_vector({1, 2, 3, 4}, {2, 2}).set_requires_grad(true);
  const Tensor rm = Tensor::from_vector({1, -1}, {2}), rv = Tensor::from_vector({3, 0}, {2});
  const Tensor w = Tensor::from_vector({2, 0.5f}, {2}), b = Tensor::from_vector({0, 1}, {2});
  const Tensor y = ops::batch_norm(x, w, b, rm, rv, false, 0.1f, 1.0f);  // eps 1: rstd = {1/2, 1}
  REQUIRE(y.to_vector() == std::vector<float>{0, 2.5f, 2, 3.5f});
  REQUIRE(rm.to_vector() == std::vector<float>{1, -1});
  REQUIRE(rv.to_vector() == std::vector<float>{3, 0});
  project(y, Tensor::from_vector({1, 1, 1, 1}, {2, 2})).backward();
  REQUIRE(x.grad().to_vector() == std::vector<float>{1, 0.5f, 1, 0.5f});  // weight * rstd
}

TEST_CASE("layer_norm: forward matches the reference, with and without affine", "[core][norm]") {
  const Tensor x = testing::uniform({3, 4, 10}, -2, 3, 61, false);
  const Tensor w = testing::uniform({10}, 0.5f, 2, 62, false), b = testing::uniform({10}, -1, 1, 63, false);
  require_close(ops::layer_norm(x, w, b), ops::layer_norm_reference(x, w, b), kNormForwardTol);
  require_close(ops::layer_norm(x, Tensor(), Tensor()), ops::layer_norm_reference(x, Tensor(), Tensor()), kNormForwardTol);
  require_close(ops::layer_norm(x, w, Tensor(), 1e-3f), ops::layer_norm_reference(x, w, Tensor(), 1e-3f), kNormForwardTol);
}

TEST_CASE("layer_norm: parameter gradients are bitwise reproducible for a fixed thread count", "[core][norm]") {
  ThreadCount tc(2);
  std::vector<float> first_w, first_b;
  for (int run = 0; run < 2; ++run) {
    const Tensor x = testing::uniform({37, 16}, -2, 2, 64);
    const Tensor w = testing::uniform({16}, 0.5f, 2, 65), b = testing::uniform({16}, -1, 1, 66);
    project(ops::layer_norm(x, w, b), testing::uniform({37, 16}, -1, 1, 67, false)).backward();
    if (run == 0) {
      first_w = w.grad().to_vector(), first_b = b.grad().to_vector();
    } else {
      REQUIRE(w.grad().to_vector() == first_w);
      REQUIRE(b.grad().to_vector() == first_b);
    }
  }
}

RAOQ_GRADCHECK_CASE("batch_norm", "training (N, C, H, W) with affine", "[core][norm]") {
  auto x = testing::uniform({2, 3, 2, 4}, -2, 2, 1);
  auto w = testing::uniform({3}, 0.5f, 1.5f, 2), b = testing::uniform({3}, -1, 1, 3);
  auto f = [](const std::vector<Tensor>& in) { return ops::batch_norm(in[0], in[1], in[2], Tensor(), Tensor(), true); };
  RAOQ_REQUIRE_GRADCHECK("batch_norm", f, {x, w, b});
}

RAOQ_GRADCHECK_CASE("batch_norm", "training (N, C) with affine", "[core][norm]") {
  auto x = testing::uniform({6, 4}, -2, 2, 4);
  auto w = testing::uniform({4}, 0.5f, 1.5f, 5), b = testing::uniform({4}, -1, 1, 6);
  auto f = [](const std::vector<Tensor>& in) { return ops::batch_norm(in[0], in[1], in[2], Tensor(), Tensor(), true); };
  RAOQ_REQUIRE_GRADCHECK("batch_norm", f, {x, w, b});
}

RAOQ_GRADCHECK_CASE("batch_norm", "training without affine", "[core][norm]") {
  auto x = testing::uniform({3, 2, 3, 3}, -2, 2, 7);
  auto f = [](const std::vector<Tensor>& in) { return ops::batch_norm(in[0], Tensor(), Tensor(), Tensor(), Tensor(), true); };
  RAOQ_REQUIRE_GRADCHECK("batch_norm", f, {x});
}

RAOQ_GRADCHECK_CASE("batch_norm", "eval with running statistics", "[core][norm]") {
  auto x = testing::uniform({2, 3, 2, 2}, -2, 2, 8);
  auto w = testing::uniform({3}, 0.5f, 1.5f, 9), b = testing::uniform({3}, -1, 1, 10);
  const Tensor rm = testing::uniform({3}, -1, 1, 11, false), rv = testing::uniform({3}, 0.5f, 2, 12, false);
  auto f = [rm, rv](const std::vector<Tensor>& in) { return ops::batch_norm(in[0], in[1], in[2], rm, rv, false); };
  RAOQ_REQUIRE_GRADCHECK("batch_norm", f, {x, w, b});
}

RAOQ_GRADCHECK_CASE("layer_norm", "with affine", "[core][norm]") {
  auto x = testing::uniform({2, 3, 6}, -2, 2, 13);
  auto w = testing::uniform({6}, 0.5f, 1.5f, 14), b = testing::uniform({6}, -1, 1, 15);
  auto f = [](const std::vector<Tensor>& in) { return ops::layer_norm(in[0], in[1], in[2]); };
  RAOQ_REQUIRE_GRADCHECK("layer_norm", f, {x, w, b});
}

RAOQ_GRADCHECK_CASE("layer_norm", "without affine", "[core][norm]") {
  auto x = testing::uniform({5, 7}, -2, 2, 16);
  auto f = [](const std::vector<Tensor>& in) { return ops::layer_norm(in[0], Tensor(), Tensor()); };
  RAOQ_REQUIRE_GRADCHECK("layer_norm", f, {x});
}

TEST_CASE("norms: contract errors name the op, what was expected and what was given", "[core][norm]") {
  const Tensor x = Tensor::zeros({2, 3, 4, 4});
  REQUIRE_THROWS_WITH(ops::batch_norm(Tensor::zeros({2, 3, 4}), Tensor(), Tensor(), Tensor(), Tensor(), true),
                      Catch::Contains("batch_norm: expected x of shape (N, C, H, W) or (N, C), given [2, 3, 4]"));
  REQUIRE_THROWS_WITH(ops::batch_norm(x, Tensor::ones({4}), Tensor(), Tensor(), Tensor(), true),
                      Catch::Contains("batch_norm: expected weight of shape [3]"));
  REQUIRE_THROWS_WITH(ops::batch_norm(x, Tensor(), Tensor(), Tensor(), Tensor(), false),
                      Catch::Contains("eval mode expects running_mean and running_var"));
  REQUIRE_THROWS_WITH(ops::batch_norm(Tensor::zeros({1, 3}), Tensor(), Tensor(), Tensor(), Tensor(), true),
                      Catch::Contains("expected more than 1 value per channel in training, given x [1, 3]"));
  REQUIRE_THROWS_WITH(ops::batch_norm(x, Tensor(), Tensor(), Tensor::zeros({3}), Tensor(), true),
                      Catch::Contains("both defined or both undefined"));
  REQUIRE_THROWS_WITH(ops::layer_norm(x, Tensor::ones({3}), Tensor()),
                      Catch::Contains("layer_norm: expected weight of shape [4]"));
  REQUIRE_THROWS_WITH(ops::layer_norm(Tensor::zeros({3, 0}), Tensor(), Tensor()),
                      Catch::Contains("layer_norm: expected x of shape (..., D) with D > 0"));
  REQUIRE_THROWS_AS(ops::batch_norm_reference(Tensor::zeros({2}), Tensor(), Tensor()), Error);
}
