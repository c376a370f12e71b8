// tests/core/test_ops_attention.cpp — scaled_dot_product_attention: forward against the double
// reference (causal or not, cross lengths, wide values), stability, thread independence,
// finite differences and contract errors.
#include <cmath>

#include "core/autograd.h"
#include "core/error.h"
#include "core/ops.h"
#include "core/parallel.h"
#include "tests/support/testing.h"

using namespace raoq;

namespace {
// Outputs are convex combinations of v rows (|v| <= 1); float scores and exp against a double
// reference differ by a few ulps over <= 16 terms.
constexpr float kAttentionTol = 1e-5f;

class ThreadCount {
 public:
  explicit ThreadCount(int n) : previous_(num_threads()) { set_num_threads(n); }
  ~ThreadCount() { set_num_threads(previous_); }

 private:
  int previous_;
};

struct AttnCase {
  int64_t b, h, tq, tk, dh, dv;
  bool causal;
};
const AttnCase kAttnCases[] = {{2, 3, 5, 5, 4, 4, false}, {2, 3, 5, 5, 4, 4, true}, {1, 2, 3, 7, 8, 8, false},
                               {1, 2, 6, 4, 3, 5, true},  {3, 1, 16, 16, 8, 8, true}, {1, 1, 1, 1, 2, 2, false}};
}  // namespace

TEST_CASE("scaled_dot_product_attention: forward matches the reference", "[core][attention]") {
  for (const AttnCase& c : kAttnCases) {
    INFO("B " << c.b << " H " << c.h << " Tq " << c.tq << " Tk " << c.tk << " Dh " << c.dh << " Dv " << c.dv
              << " causal " << c.causal);
    const Tensor q = testing::uniform({c.b, c.h, c.tq, c.dh}, -2, 2, 81, false);
    const Tensor k = testing::uniform({c.b, c.h, c.tk, c.dh}, -2, 2, 82, false);
    const Tensor v = testing::uniform({c.b, c.h, c.tk, c.dv}, -1, 1, 83, false);
    const Tensor y = ops::scaled_dot_product_attention(q, k, v, c.causal);
    const Tensor ref = ops::scaled_dot_product_attention_reference(q, k, v, c.causal);
    REQUIRE(y.shape() == Shape{c.b, c.h, c.tq, c.dv});
    for (int64_t i = 0; i < y.numel(); ++i) REQUIRE(std::abs(y.data()[i] - ref.data()[i]) <= kAttentionTol);
  }
}

TEST_CASE("scaled_dot_product_attention: causal first row, large logits, thread independence", "[core][attention]") {
  const Tensor q = testing::uniform({2, 2, 6, 4}, -1, 1, 84, false), k = testing::uniform({2, 2, 6, 4}, -1, 1, 85, false);
  const Tensor v = testing::uniform({2, 2, 6, 4}, -1, 1, 86, false);
  const Tensor y = ops::scaled_dot_product_attention(q, k, v, true);
  for (int64_t d = 0; d < 4; ++d) REQUIRE(y.at({1, 1, 0, d}) == v.at({1, 1, 0, d}));  // row 0 sees only key 0
  // Scores near 1e4 overflow exp without the max subtraction.
  Tensor big = q.clone();
  big.flat() *= 2e4f;
  const Tensor yb = ops::scaled_dot_product_attention(big, k, v, false);
  for (int64_t i = 0; i < yb.numel(); ++i) REQUIRE(std::isfinite(yb.data()[i]));
  std::vector<float> one_thread;
  {
    ThreadCount tc(1);
    one_thread = ops::scaled_dot_product_attention(q, k, v, false).to_vector();
  }
  ThreadCount tc(2);
  REQUIRE(ops::scaled_dot_product_attention(q, k, v, false).to_vector() == one_thread);
}

RAOQ_GRADCHECK_CASE("scaled_dot_product_attention", "not causal", "[core][attention]") {
  auto q = testing::uniform({1, 2, 3, 4}, -1, 1, 1), k = testing::uniform({1, 2, 3, 4}, -1, 1, 2);
  auto v = testing::uniform({1, 2, 3, 4}, -1, 1, 3);
  auto f = [](const std::vector<Tensor>& in) { return ops::scaled_dot_product_attention(in[0], in[1], in[2], false); };
  RAOQ_REQUIRE_GRADCHECK("scaled_dot_product_attention", f, {q, k, v});
}

RAOQ_GRADCHECK_CASE("scaled_dot_product_attention", "causal", "[core][attention]") {
  auto q = testing::uniform({2, 1, 4, 3}, -1, 1, 4), k = testing::uniform({2, 1, 4, 3}, -1, 1, 5);
  auto v = testing::uniform({2, 1, 4, 3}, -1, 1, 6);
  auto f = [](const std::vector<Tensor>& in) { return ops::scaled_dot_product_attention(in[0], in[1], in[2], true); };
  RAOQ_REQUIRE_GRADCHECK("scaled_dot_product_attention", f, {q, k, v});
}

RAOQ_GRADCHECK_CASE("scaled_dot_product_attention", "cross lengths Tq 2, Tk 5, Dv 3", "[core][attention]") {
  auto q = testing::uniform({1, 2, 2, 4}, -1, 1, 7), k = testing::uniform({1, 2, 5, 4}, -1, 1, 8);
  auto v = testing::uniform({1, 2, 5, 3}, -1, 1, 9);
  auto f = [](const std::vector<Tensor>& in) { return ops::scaled_dot_product_attention(in[0], in[1], in[2], false); };
  RAOQ_REQUIRE_GRADCHECK("scaled_dot_product_attention", f, {q, k, v});
}

TEST_CASE("scaled_dot_product_attention: contract errors", "[core][attention]") {
  const Tensor q = Tensor::zeros({1, 2, 3, 4});
  REQUIRE_THROWS_WITH(ops::scaled_dot_product_attention(Tensor::zeros({2, 3, 4}), q, q),
                      Catch::Contains("scaled_dot_product_attention: expected q, k, v of shape (B, H, T, Dh), given q [2, 3, 4]"));
  REQUIRE_THROWS_WITH(ops::scaled_dot_product_attention(q, Tensor::zeros({1, 3, 3, 4}), q),
                      Catch::Contains("expected k with the batch, heads and head width of q [1, 2, 3, 4], given k [1, 3, 3, 4]"));
  REQUIRE_THROWS_WITH(ops::scaled_dot_product_attention(q, q, Tensor::zeros({1, 2, 5, 4})),
                      Catch::Contains("expected v with the batch and heads of q and the length of k"));
  REQUIRE_THROWS_AS(ops::scaled_dot_product_attention_reference(q, Tensor::zeros({1, 2, 3, 5}), q), Error);
}
