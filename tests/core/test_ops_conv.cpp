// tests/core/test_ops_conv.cpp — conv2d: fast path against the seven-loop reference, backward
// against finite differences (small cases) and against the adjoint identity (larger cases),
// thread-count reproducibility, and the contract errors.
#include <algorithm>
#include <cmath>
#include <string>

#include "core/autograd.h"
#include "core/error.h"
#include "core/ops.h"
#include "core/parallel.h"
#include "tests/support/testing.h"

using namespace raoq;

namespace {
// Fast and reference forwards sum the same K products in different orders (float GEMM blocks
// versus a double accumulator); with |x|, |w| <= 1 and K <= 72 the float rounding stays below
// ~K * 2^-24 * max|partial sum|, well under 1e-5.
constexpr float kConvForwardAbsTol = 1e-5f;
constexpr float kConvForwardRelTol = 1e-5f;
// The adjoint identity compares two float sums of ~10^3 products of magnitude <= 1 each.
constexpr double kAdjointRelTol = 1e-4;

// L = sum(y * r) through a local op, so these tests depend on no other op of core/ops.
Tensor project(const Tensor& y, const Tensor& r) {
  double acc = 0;
  for (int64_t i = 0; i < y.numel(); ++i) acc += double(y.data()[i]) * r.data()[i];
  Tensor loss = Tensor::scalar(static_cast<float>(acc));
  return autograd::record("test_projection", {y}, loss, {"r"},
                          [r](BackwardContext& ctx) { ctx.dinput(0) += ctx.dout()(0) * r.flat(); });
}

double dot(const Tensor& a, const Tensor& b) {
  double acc = 0;
  for (int64_t i = 0; i < a.numel(); ++i) acc += double(a.data()[i]) * b.data()[i];
  return acc;
}

struct ConvCase {
  std::string name;
  int64_t n, c_in, h, w, c_out, kh, kw;
  ops::Conv2dOptions opt;
  bool bias;
};

// Every variant the op supports, at sizes where the reference stays cheap.
const ConvCase kCases[] = {
    {"3x3 padding 1 bias", 3, 4, 7, 6, 5, 3, 3, {1, 1, 1, 1}, true},
    {"3x3 no padding", 2, 3, 6, 6, 4, 3, 3, {1, 0, 1, 1}, false},
    {"3x3 C_in > C_out (dx as a convolution of dy)", 2, 6, 5, 6, 3, 3, 3, {1, 1, 1, 1}, true},
    {"stride 2 padding 1", 3, 3, 9, 8, 4, 3, 3, {2, 1, 1, 1}, true},
    {"stride 3 kernel 2x3", 2, 2, 10, 11, 3, 2, 3, {3, 0, 1, 1}, false},
    {"dilation 2 padding 2", 2, 3, 8, 7, 2, 3, 3, {1, 2, 2, 1}, true},
    {"dilation 2 stride 2", 2, 2, 9, 9, 3, 3, 3, {2, 1, 2, 1}, false},
    {"groups 2", 3, 4, 6, 6, 6, 3, 3, {1, 1, 1, 2}, true},
    {"groups 3 stride 2", 2, 6, 7, 7, 3, 3, 3, {2, 1, 1, 3}, false},
    {"depthwise", 3, 5, 6, 7, 5, 3, 3, {1, 1, 1, 5}, true},
    {"depthwise stride 2 dilation 2", 2, 4, 9, 8, 4, 3, 3, {2, 2, 2, 4}, false},
    {"depthwise multiplier 2", 2, 3, 5, 5, 6, 3, 3, {1, 1, 1, 3}, true},
    {"depthwise 5x5 padding 2", 2, 2, 7, 6, 2, 5, 5, {1, 2, 1, 2}, true},
    {"depthwise 2x3 kernel dilation 2", 2, 2, 6, 7, 2, 2, 3, {1, 1, 2, 2}, false},
    {"depthwise padding 3 beyond the kernel span", 2, 3, 4, 5, 3, 3, 3, {1, 3, 1, 3}, true},
    {"pointwise 1x1", 3, 6, 4, 5, 4, 1, 1, {1, 0, 1, 1}, true},
    {"1x1 stride 2", 2, 4, 5, 5, 3, 1, 1, {2, 0, 1, 1}, false},
    {"one input channel", 2, 1, 8, 8, 4, 3, 3, {1, 1, 1, 1}, true},
    {"5x5 padding 3", 1, 2, 4, 4, 2, 5, 5, {1, 3, 1, 1}, false},
    // Stride 2 over rows wider than one vector (the permute paths of im2col/col2im, 16 columns and
    // a masked tail) and reductions K >= 64 (dW through dy^T and the unpacked kernel).
    {"stride 2 wide rows, K = 72", 2, 8, 9, 41, 5, 3, 3, {2, 1, 1, 1}, true},
    {"stride 2 no padding, 18 columns", 1, 8, 5, 38, 3, 3, 3, {2, 0, 1, 1}, false},
    {"groups 2 stride 2, K = 72", 2, 16, 6, 35, 4, 3, 3, {2, 1, 1, 2}, false},
    // Stride 2 with wider kernels and padding (taps reaching past the first even column), odd and
    // even widths.
    {"stride 2 5x5 padding 2, odd width", 2, 3, 9, 11, 4, 5, 5, {2, 2, 1, 1}, true},
    {"stride 2 4x4 padding 3", 1, 2, 7, 8, 3, 4, 4, {2, 3, 1, 1}, false},
    {"stride 2 3x5, rows of 34", 1, 2, 5, 34, 2, 3, 5, {2, 0, 1, 1}, true},
    // Winograd F(2x2, 3x3): 3x3, stride 1, >= 16 channels per group; odd output sizes leave
    // partial edge tiles, and 33x33 images give one image per block (several blocks per batch).
    {"winograd padding 1", 2, 16, 7, 6, 16, 3, 3, {1, 1, 1, 1}, true},
    {"winograd padding 0 odd output", 2, 16, 8, 7, 17, 3, 3, {1, 0, 1, 1}, false},
    {"winograd padding 2", 1, 20, 5, 5, 16, 3, 3, {1, 2, 1, 1}, true},
    {"winograd groups 2", 2, 32, 6, 6, 32, 3, 3, {1, 1, 1, 2}, true},
    {"winograd several blocks", 2, 16, 33, 33, 16, 3, 3, {1, 1, 1, 1}, false},
    {"winograd 24 -> 40 channels (masked column vectors)", 1, 24, 6, 5, 40, 3, 3, {1, 1, 1, 1}, true},
};

struct ConvInputs {
  Tensor x, w, b;
};
ConvInputs make_inputs(const ConvCase& c, uint64_t seed) {
  ConvInputs in;
  in.x = testing::uniform({c.n, c.c_in, c.h, c.w}, -1, 1, seed);
  in.w = testing::uniform({c.c_out, c.c_in / c.opt.groups, c.kh, c.kw}, -1, 1, seed + 1);
  if (c.bias) in.b = testing::uniform({c.c_out}, -1, 1, seed + 2);
  return in;
}

class ThreadCount {
 public:
  explicit ThreadCount(int n) : previous_(num_threads()) { set_num_threads(n); }
  ~ThreadCount() { set_num_threads(previous_); }

 private:
  int previous_;
};
}  // namespace

TEST_CASE("conv2d: forward matches the seven-loop reference for every variant", "[core][conv]") {
  for (int threads : {1, 2}) {
    ThreadCount tc(threads);
    for (const ConvCase& c : kCases) {
      INFO(c.name << " with " << threads << " thread(s)");
      const ConvInputs in = make_inputs(c, 11);
      const Tensor fast = ops::conv2d(in.x, in.w, in.b, c.opt);
      const Tensor ref = ops::conv2d_reference(in.x, in.w, in.b, c.opt);
      REQUIRE(fast.shape() == ref.shape());
      int64_t worst = 0;  // the element furthest outside its tolerance
      double worst_ratio = 0;
      for (int64_t i = 0; i < ref.numel(); ++i) {
        const double ratio = std::abs(fast.data()[i] - ref.data()[i]) /
                             (kConvForwardAbsTol + kConvForwardRelTol * std::abs(ref.data()[i]));
        if (ratio > worst_ratio) worst_ratio = ratio, worst = i;
      }
      INFO("worst element " << worst << ": fast " << fast.data()[worst] << " reference " << ref.data()[worst]);
      REQUIRE(worst_ratio <= 1.0);
    }
  }
}

TEST_CASE("conv2d: output shape follows (H + 2p - d(k-1) - 1)/s + 1", "[core][conv]") {
  const Tensor x = Tensor::zeros({2, 3, 11, 9});
  REQUIRE(ops::conv2d(x, Tensor::zeros({4, 3, 3, 3}), Tensor(), {2, 1, 1, 1}).shape() == Shape{2, 4, 6, 5});
  REQUIRE(ops::conv2d(x, Tensor::zeros({4, 3, 3, 3}), Tensor(), {1, 0, 2, 1}).shape() == Shape{2, 4, 7, 5});
  REQUIRE(ops::conv2d(x, Tensor::zeros({6, 1, 1, 1}), Tensor(), {1, 0, 1, 3}).shape() == Shape{2, 6, 11, 9});
}

// The backward on larger shapes than finite differences allow: conv2d is linear in x and in w,
// so for the gradient g = d<r, conv(x, w)>/dx of a projection r, <g, x'> = <r, conv(x', w)>
// for every x' (and likewise for w), with conv evaluated by the independent reference.
TEST_CASE("conv2d: backward satisfies the adjoint identity for every variant", "[core][conv]") {
  for (int threads : {1, 2}) {
    ThreadCount tc(threads);
    for (const ConvCase& c : kCases) {
      INFO(c.name << " with " << threads << " thread(s)");
      const ConvInputs in = make_inputs(c, 21);
      const Tensor y = ops::conv2d(in.x, in.w, in.b, c.opt);
      const Tensor r = testing::uniform(y.shape(), -1, 1, 5, false);
      project(y, r).backward();
      const Tensor x2 = testing::uniform(in.x.shape(), -1, 1, 6, false);
      const Tensor w2 = testing::uniform(in.w.shape(), -1, 1, 7, false);
      const double lhs_x = dot(in.x.grad(), x2), rhs_x = dot(r, ops::conv2d_reference(x2, in.w, Tensor(), c.opt));
      const double lhs_w = dot(in.w.grad(), w2), rhs_w = dot(r, ops::conv2d_reference(in.x, w2, Tensor(), c.opt));
      REQUIRE(std::abs(lhs_x - rhs_x) <= kAdjointRelTol * (1 + std::abs(rhs_x)));
      REQUIRE(std::abs(lhs_w - rhs_w) <= kAdjointRelTol * (1 + std::abs(rhs_w)));
      if (c.bias) {  // dbias[co] = sum over n and positions of r
        const int64_t per = y.numel() / (c.n * c.c_out);
        for (int64_t co = 0; co < c.c_out; ++co) {
          double expect = 0;
          for (int64_t n = 0; n < c.n; ++n)
            for (int64_t p = 0; p < per; ++p) expect += r.data()[(n * c.c_out + co) * per + p];
          REQUIRE(std::abs(in.b.grad().data()[co] - expect) <= kAdjointRelTol * (1 + std::abs(expect)));
        }
      }
    }
  }
}

TEST_CASE("conv2d: gradients are bitwise reproducible for a fixed thread count", "[core][conv]") {
  ThreadCount tc(2);
  const ConvCase im2col{"odd batch", 7, 4, 6, 6, 4, 3, 3, {1, 1, 1, 1}, true};
  const ConvCase winograd{"odd batch, winograd", 7, 16, 12, 12, 16, 3, 3, {1, 1, 1, 1}, true};
  for (const ConvCase& c : {im2col, winograd}) {
  INFO(c.name);
  std::vector<float> first_w, first_x, first_b;
  for (int run = 0; run < 2; ++run) {
    const ConvInputs in = make_inputs(c, 31);
    const Tensor y = ops::conv2d(in.x, in.w, in.b, c.opt);
    project(y, testing::uniform(y.shape(), -1, 1, 8, false)).backward();
    if (run == 0) {
      first_w = in.w.grad().to_vector(), first_x = in.x.grad().to_vector(), first_b = in.b.grad().to_vector();
    } else {
      REQUIRE(in.w.grad().to_vector() == first_w);
      REQUIRE(in.x.grad().to_vector() == first_x);
      REQUIRE(in.b.grad().to_vector() == first_b);
    }
  }
  }
}

RAOQ_GRADCHECK_CASE("conv2d", "3x3 padding 1 with bias", "[core][conv]") {
  auto x = testing::uniform({2, 2, 4, 4}, -1, 1, 1);
  auto w = testing::uniform({3, 2, 3, 3}, -1, 1, 2);
  auto b = testing::uniform({3}, -1, 1, 3);
  auto f = [](const std::vector<Tensor>& in) { return ops::conv2d(in[0], in[1], in[2], {1, 1, 1, 1}); };
  RAOQ_REQUIRE_GRADCHECK("conv2d", f, {x, w, b});
}

RAOQ_GRADCHECK_CASE("conv2d", "stride 2 without bias", "[core][conv]") {
  auto x = testing::uniform({1, 2, 5, 5}, -1, 1, 4);
  auto w = testing::uniform({2, 2, 3, 3}, -1, 1, 5);
  auto f = [](const std::vector<Tensor>& in) { return ops::conv2d(in[0], in[1], Tensor(), {2, 0, 1, 1}); };
  RAOQ_REQUIRE_GRADCHECK("conv2d", f, {x, w});
}

RAOQ_GRADCHECK_CASE("conv2d", "dilation 2 padding 2", "[core][conv]") {
  auto x = testing::uniform({1, 2, 5, 5}, -1, 1, 6);
  auto w = testing::uniform({2, 2, 3, 3}, -1, 1, 7);
  auto b = testing::uniform({2}, -1, 1, 8);
  auto f = [](const std::vector<Tensor>& in) { return ops::conv2d(in[0], in[1], in[2], {1, 2, 2, 1}); };
  RAOQ_REQUIRE_GRADCHECK("conv2d", f, {x, w, b});
}

RAOQ_GRADCHECK_CASE("conv2d", "groups 2", "[core][conv]") {
  auto x = testing::uniform({1, 4, 4, 4}, -1, 1, 9);
  auto w = testing::uniform({4, 2, 2, 2}, -1, 1, 10);
  auto b = testing::uniform({4}, -1, 1, 11);
  auto f = [](const std::vector<Tensor>& in) { return ops::conv2d(in[0], in[1], in[2], {1, 1, 1, 2}); };
  RAOQ_REQUIRE_GRADCHECK("conv2d", f, {x, w, b});
}

RAOQ_GRADCHECK_CASE("conv2d", "depthwise padding 1", "[core][conv]") {
  auto x = testing::uniform({2, 3, 3, 3}, -1, 1, 12);
  auto w = testing::uniform({3, 1, 3, 3}, -1, 1, 13);
  auto b = testing::uniform({3}, -1, 1, 14);
  auto f = [](const std::vector<Tensor>& in) { return ops::conv2d(in[0], in[1], in[2], {1, 1, 1, 3}); };
  RAOQ_REQUIRE_GRADCHECK("conv2d", f, {x, w, b});
}

RAOQ_GRADCHECK_CASE("conv2d", "depthwise stride 2 without bias", "[core][conv]") {
  auto x = testing::uniform({1, 2, 5, 5}, -1, 1, 15);
  auto w = testing::uniform({2, 1, 3, 3}, -1, 1, 16);
  auto f = [](const std::vector<Tensor>& in) { return ops::conv2d(in[0], in[1], Tensor(), {2, 1, 1, 2}); };
  RAOQ_REQUIRE_GRADCHECK("conv2d", f, {x, w});
}

RAOQ_GRADCHECK_CASE("conv2d", "winograd 3x3, 16 channels", "[core][conv]") {
  auto x = testing::uniform({1, 16, 2, 2}, -1, 1, 20);
  auto w = testing::uniform({16, 16, 3, 3}, -0.3f, 0.3f, 21);
  auto b = testing::uniform({16}, -1, 1, 22);
  auto f = [](const std::vector<Tensor>& in) { return ops::conv2d(in[0], in[1], in[2], {1, 1, 1, 1}); };
  RAOQ_REQUIRE_GRADCHECK("conv2d", f, {x, w, b});
}

RAOQ_GRADCHECK_CASE("conv2d", "pointwise 1x1 with bias", "[core][conv]") {
  auto x = testing::uniform({2, 3, 3, 3}, -1, 1, 17);
  auto w = testing::uniform({4, 3, 1, 1}, -1, 1, 18);
  auto b = testing::uniform({4}, -1, 1, 19);
  auto f = [](const std::vector<Tensor>& in) { return ops::conv2d(in[0], in[1], in[2]); };
  RAOQ_REQUIRE_GRADCHECK("conv2d", f, {x, w, b});
}

TEST_CASE("conv2d: contract errors name the op, what was expected and what was given", "[core][conv]") {
  const Tensor x = Tensor::zeros({2, 4, 5, 5});
  REQUIRE_THROWS_WITH(ops::conv2d(Tensor::zeros({4, 5, 5}), Tensor::zeros({2, 4, 3, 3})),
                      Catch::Contains("conv2d: expected x of shape (N, C_in, H, W), given [4, 5, 5]"));
  REQUIRE_THROWS_WITH(ops::conv2d(x, Tensor::zeros({2, 3, 3, 3})),
                      Catch::Contains("expected w with C_in/groups = 4 input channels"));
  REQUIRE_THROWS_WITH(ops::conv2d(x, Tensor::zeros({3, 2, 3, 3}), Tensor(), {1, 0, 1, 2}),
                      Catch::Contains("divisible by groups 2"));
  REQUIRE_THROWS_WITH(ops::conv2d(x, Tensor::zeros({2, 4, 3, 3}), Tensor::zeros({3})),
                      Catch::Contains("expected bias of shape [2]"));
  REQUIRE_THROWS_WITH(ops::conv2d(x, Tensor::zeros({2, 4, 7, 7})), Catch::Contains("to fit the padded input"));
  REQUIRE_THROWS_WITH(ops::conv2d(x, Tensor::zeros({2, 4, 3, 3}), Tensor(), {0, 0, 1, 1}),
                      Catch::Contains("stride >= 1"));
  REQUIRE_THROWS_AS(ops::conv2d_reference(x, Tensor::zeros({2, 3, 3, 3})), Error);
}

// The ops of this family (convolution, pooling, normalisation, lookup, dropout, attention) are
// registered under core/ and each has a RAOQ_GRADCHECK_CASE.
TEST_CASE("core registry: conv, pooling, norm, lookup, dropout and attention ops have gradcheck cases", "[core]") {
  const auto missing = testing::ops_without_gradcheck("core");
  const auto ops = autograd::registered_ops();
  for (const char* name : {"conv2d", "max_pool2d", "avg_pool2d", "global_avg_pool", "batch_norm", "layer_norm",
                           "embedding", "dropout", "scaled_dot_product_attention"}) {
    INFO(name);
    bool registered = false;
    for (const auto& op : ops) registered = registered || (op.name == name && op.folder == "core");
    REQUIRE(registered);
    REQUIRE(std::find(missing.begin(), missing.end(), name) == missing.end());
  }
}
