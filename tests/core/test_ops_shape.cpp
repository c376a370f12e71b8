// tests/core/test_ops_shape.cpp — reshape, flatten, permute, transpose, slice, concat: values
// against index arithmetic, errors, gradient checks.
#include "core/autograd.h"
#include "core/error.h"
#include "core/ops.h"
#include "core/ops/detail/kernels.h"
#include "core/parallel.h"
#include "tests/support/testing.h"

using namespace raoq;
using Catch::Contains;

namespace {

Tensor iota(const Shape& shape) {
  Tensor t = Tensor::empty(shape);
  for (int64_t i = 0; i < t.numel(); ++i) t.data()[i] = static_cast<float>(i);
  return t;
}

// Naive permute of a 4-D tensor by index arithmetic.
Tensor naive_permute4(const Tensor& x, const std::vector<int64_t>& p) {
  const Shape& s = x.shape();
  Shape out{s[size_t(p[0])], s[size_t(p[1])], s[size_t(p[2])], s[size_t(p[3])]};
  Tensor y = Tensor::empty(out);
  int64_t i[4];
  for (i[0] = 0; i[0] < s[0]; ++i[0])
    for (i[1] = 0; i[1] < s[1]; ++i[1])
      for (i[2] = 0; i[2] < s[2]; ++i[2])
        for (i[3] = 0; i[3] < s[3]; ++i[3]) {
          const int64_t src = ((i[0] * s[1] + i[1]) * s[2] + i[2]) * s[3] + i[3];
          const int64_t o[4] = {i[p[0]], i[p[1]], i[p[2]], i[p[3]]};
          y.data()[((o[0] * out[1] + o[1]) * out[2] + o[2]) * out[3] + o[3]] = x.data()[src];
        }
  return y;
}

}  // namespace

TEST_CASE("reshape and flatten: shapes, -1 inference, shared storage", "[core]") {
  Tensor x = iota({2, 3, 4});
  Tensor r = ops::reshape(x, {4, -1});
  REQUIRE(r.shape() == Shape{4, 6});
  REQUIRE(r.data() == x.data());  // a view: whole-storage reshape, no copy
  REQUIRE(ops::flatten(x).shape() == Shape{2, 12});
  REQUIRE(ops::flatten(x, 0).shape() == Shape{24});
  REQUIRE(ops::flatten(x, -1).shape() == Shape{2, 3, 4});
  REQUIRE(ops::flatten(Tensor::scalar(1)).shape() == Shape{1});
  REQUIRE(ops::reshape(Tensor::scalar(3), {1, 1}).shape() == Shape{1, 1});
  REQUIRE(ops::reshape(Tensor::zeros({0, 3}), {-1, 3}).shape() == Shape{0, 3});
}

TEST_CASE("permute and transpose match index arithmetic for every permutation of 4 axes", "[core]") {
  Tensor x = iota({2, 3, 4, 5});
  std::vector<int64_t> p{0, 1, 2, 3};
  do {
    INFO("dims " << shape_str(p));
    REQUIRE(ops::permute(x, p).to_vector() == naive_permute4(x, p).to_vector());
  } while (std::next_permutation(p.begin(), p.end()));
  // With size-1 axes (dropped and merged by the kernel).
  Tensor y = iota({3, 1, 4, 1});
  REQUIRE(ops::permute(y, {2, 3, 0, 1}).to_vector() == naive_permute4(y, {2, 3, 0, 1}).to_vector());
  Tensor t = ops::transpose(iota({2, 3}), 0, -1);
  REQUIRE(t.shape() == Shape{3, 2});
  REQUIRE(t.to_vector() == std::vector<float>{0, 3, 1, 4, 2, 5});
  REQUIRE(ops::permute(Tensor::scalar(4), {}).item() == 4.0f);
}

TEST_CASE("permute: large 2-D transposes (the tiled path) forward and backward", "[core]") {
  Tensor x = iota({2, 300, 70, 1}).set_requires_grad(true);  // blocks of 300 x 70 > 64 x 64
  Tensor y = ops::permute(x, {0, 2, 1, 3});
  REQUIRE(y.to_vector() == naive_permute4(x, {0, 2, 1, 3}).to_vector());
  Tensor w = iota({2, 70, 300, 1});
  ops::sum(ops::mul(y, w)).backward();  // dx = w permuted back
  REQUIRE(x.grad().to_vector() == naive_permute4(w, {0, 2, 1, 3}).to_vector());
}

TEST_CASE("permute and slice: the copies split over threads start every chunk at its own place", "[core]") {
  // Large enough that each permutation's blocks are shared out over 3 threads (uneven chunks,
  // odometers that start mid-axis); iota values are exact in float up to 2^24.
  struct Restore {
    int saved = num_threads();
    ~Restore() { set_num_threads(saved); }
  } restore;
  set_num_threads(3);
  const Tensor x = iota({7, 5, 96, 33});
  std::vector<int64_t> p{0, 1, 2, 3};
  do {
    INFO("dims " << shape_str(p));
    REQUIRE(ops::permute(x, p).to_vector() == naive_permute4(x, p).to_vector());
  } while (std::next_permutation(p.begin(), p.end()));
  const Tensor rows = iota({5000, 48}).set_requires_grad(true);
  const Tensor mid = ops::slice(rows, 1, 16, 40);
  for (int64_t r = 0; r < 5000; r += 399)
    for (int64_t j = 0; j < 24; ++j) REQUIRE(mid.data()[r * 24 + j] == rows.data()[r * 48 + 16 + j]);
  ops::sum(mid).backward();
  for (int64_t r = 0; r < 5000; ++r)
    for (int64_t j = 0; j < 48; j += 7) REQUIRE(rows.grad().data()[r * 48 + j] == (j >= 16 && j < 40 ? 1.0f : 0.0f));
}

TEST_CASE("the kernels' blocked transposes: every block and ragged edge, placed rows, accumulation", "[core]") {
  // 37 x 50: two full 16 x 16 blocks down, three across, and ragged edges on both sides.
  const int64_t rows = 37, cols = 50;
  const Tensor src = iota({rows, cols});
  const float* s = src.data();
  std::vector<float> dst(static_cast<size_t>(rows * cols), -1.0f);
  ops::detail::transpose(s, rows, cols, dst.data());
  for (int64_t i = 0; i < rows; ++i)
    for (int64_t j = 0; j < cols; ++j) REQUIRE(dst[static_cast<size_t>(j * rows + i)] == s[i * cols + j]);
  ops::detail::transpose(s, rows, cols, dst.data(), true);
  for (int64_t i = 0; i < rows; ++i)
    for (int64_t j = 0; j < cols; ++j) REQUIRE(dst[static_cast<size_t>(j * rows + i)] == 2 * s[i * cols + j]);

  // Rows of the result placed out of order with gaps between them (a grid with margins), then
  // read back; the gaps are never written.
  std::vector<int64_t> at(static_cast<size_t>(cols));
  for (int64_t j = 0; j < cols; ++j) at[static_cast<size_t>(j)] = ((j * 7) % cols) * (rows + 3) + 2;
  std::vector<float> placed(static_cast<size_t>(cols * (rows + 3)), -1.0f);
  ops::detail::transpose_to(s, rows, cols, at.data(), placed.data());
  for (int64_t j = 0; j < cols; ++j) {
    const float* row = placed.data() + at[static_cast<size_t>(j)];
    REQUIRE(row[-2] == -1.0f);
    REQUIRE(row[-1] == -1.0f);
    for (int64_t i = 0; i < rows; ++i) REQUIRE(row[i] == s[i * cols + j]);
  }
  std::vector<float> back(static_cast<size_t>(rows * cols), 0.0f);
  ops::detail::transpose_from(placed.data(), at.data(), rows, cols, back.data());
  REQUIRE(back == src.to_vector());
  ops::detail::transpose_from(placed.data(), at.data(), rows, cols, back.data(), true);
  for (int64_t k = 0; k < rows * cols; ++k) REQUIRE(back[static_cast<size_t>(k)] == 2 * s[k]);
}

TEST_CASE("slice and concat: values", "[core]") {
  Tensor x = iota({2, 4});
  Tensor s = ops::slice(x, 1, 1, 3);
  REQUIRE(s.shape() == Shape{2, 2});
  REQUIRE(s.to_vector() == std::vector<float>{1, 2, 5, 6});
  REQUIRE(ops::slice(x, -2, 1, 2).to_vector() == std::vector<float>{4, 5, 6, 7});
  REQUIRE(ops::slice(x, 1, 2, 2).shape() == Shape{2, 0});
  Tensor a = iota({2, 1}), b = ops::add_scalar(iota({2, 2}), 10);
  Tensor c = ops::concat({a, b, a}, -1);
  REQUIRE(c.shape() == Shape{2, 4});
  REQUIRE(c.to_vector() == std::vector<float>{0, 10, 11, 0, 1, 12, 13, 1});
  REQUIRE(ops::concat({iota({1, 2}), iota({2, 2})}, 0).to_vector() == std::vector<float>{0, 1, 0, 1, 2, 3});
}

TEST_CASE("concat: gradients only for inputs that need them", "[core]") {
  Tensor a = iota({2, 1}).set_requires_grad(true), b = iota({2, 2});
  Tensor w = iota({2, 3});
  ops::sum(ops::mul(ops::concat({a, b}, 1), w)).backward();
  REQUIRE(a.grad().to_vector() == std::vector<float>{0, 3});
  REQUIRE_FALSE(b.grad().defined());
}

TEST_CASE("shape errors name the op, the expectation and the input", "[core]") {
  Tensor x = Tensor::zeros({2, 3});
  REQUIRE_THROWS_WITH(ops::reshape(x, {4, 2}), Contains("reshape: cannot reshape [2, 3] (6 elements) to [4, 2]"));
  REQUIRE_THROWS_WITH(ops::reshape(x, {4, -1}), Contains("reshape: cannot reshape [2, 3] (6 elements) to [4, -1]"));
  REQUIRE_THROWS_WITH(ops::reshape(x, {-1, -1}), Contains("only one dimension may be -1"));
  REQUIRE_THROWS_WITH(ops::permute(x, {0, 0}), Contains("permute: dims [0, 0] are not a permutation of 0..1 for shape [2, 3]"));
  REQUIRE_THROWS_WITH(ops::permute(x, {1}), Contains("permute: dims [1] are not a permutation"));
  REQUIRE_THROWS_WITH(ops::transpose(x, 0, 2), Contains("transpose: axis 2 out of range for shape [2, 3]"));
  REQUIRE_THROWS_WITH(ops::slice(x, 1, 2, 4), Contains("slice: range [2, 4) is not within [0, 3] along axis 1 of shape [2, 3]"));
  REQUIRE_THROWS_WITH(ops::concat({x, Tensor::zeros({3, 3})}, 1),
                      Contains("concat: input 1 has shape [3, 3] but input 0 has [2, 3]"));
  REQUIRE_THROWS_WITH(ops::concat({}, 0), Contains("concat: needs at least one tensor"));
  REQUIRE_THROWS_WITH(ops::flatten(x, 5), Contains("flatten: axis 5 out of range"));
}

RAOQ_GRADCHECK_CASE("reshape", "(2,3,4) -> (4,-1), and flatten", "[core]") {
  RAOQ_REQUIRE_GRADCHECK("reshape", [](const auto& in) { return ops::reshape(in[0], {4, -1}); },
                         {testing::uniform({2, 3, 4}, -1, 1, 1)});
  RAOQ_REQUIRE_GRADCHECK("reshape", [](const auto& in) { return ops::flatten(in[0]); },
                         {testing::uniform({2, 3, 2}, -1, 1, 2)});
}
RAOQ_GRADCHECK_CASE("permute", "run copy, strided gather and batched 2-D transpose", "[core]") {
  const std::vector<std::vector<int64_t>> perms = {{1, 0, 2}, {2, 0, 1}, {0, 2, 1}, {-1, 1, -3}};
  for (const auto& dims : perms) {
    INFO("dims " << shape_str(dims));
    RAOQ_REQUIRE_GRADCHECK("permute", [dims](const auto& in) { return ops::permute(in[0], dims); },
                           {testing::uniform({2, 3, 4}, -1, 1, 3)});
  }
}
RAOQ_GRADCHECK_CASE("permute", "transpose (a composite of permute)", "[core]") {
  RAOQ_REQUIRE_GRADCHECK("permute", [](const auto& in) { return ops::transpose(in[0], -1, -2); },
                         {testing::uniform({2, 3, 4}, -1, 1, 4)});
}
RAOQ_GRADCHECK_CASE("slice", "middle of axis 1, and negative axis", "[core]") {
  RAOQ_REQUIRE_GRADCHECK("slice", [](const auto& in) { return ops::slice(in[0], 1, 1, 3); },
                         {testing::uniform({2, 4, 3}, -1, 1, 5)});
  RAOQ_REQUIRE_GRADCHECK("slice", [](const auto& in) { return ops::slice(in[0], -1, 0, 2); },
                         {testing::uniform({2, 4, 3}, -1, 1, 6)});
}
RAOQ_GRADCHECK_CASE("concat", "three inputs along the last and the first axis", "[core]") {
  RAOQ_REQUIRE_GRADCHECK("concat", [](const auto& in) { return ops::concat({in[0], in[1], in[2]}, -1); },
                         {testing::uniform({2, 1, 2}, -1, 1, 7), testing::uniform({2, 1, 3}, -1, 1, 8),
                          testing::uniform({2, 1, 1}, -1, 1, 9)});
  RAOQ_REQUIRE_GRADCHECK("concat", [](const auto& in) { return ops::concat({in[0], in[1]}, 0); },
                         {testing::uniform({1, 3}, -1, 1, 10), testing::uniform({2, 3}, -1, 1, 11)});
}

TEST_CASE("slice: a backward through a tensor with an empty trailing dimension", "[core]") {
  // (2, 3, 0) sliced along axis 1: no element, but the backward must still run (it once divided
  // by the empty row's length).
  const Tensor x = Tensor::zeros({2, 3, 0}).set_requires_grad(true);
  const Tensor y = ops::slice(x, 1, 1, 3);
  REQUIRE(y.shape() == Shape{2, 2, 0});
  ops::sum(y).backward();
  REQUIRE(x.grad().shape() == Shape{2, 3, 0});
}
