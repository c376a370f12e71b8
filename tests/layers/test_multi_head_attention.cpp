// tests/layers/test_multi_head_attention.cpp — MultiHeadAttention against a naive loop
// reference, causality, gradient checks.
#include <cmath>

#include "layers/multi_head_attention.h"
#include "tests/layers/layer_check.h"

using namespace raoq;
using Catch::Detail::Approx;

namespace {
// Naive self-attention with plain loops: qkv = x W^T + b, per head softmax(q k^T / sqrt(Dh)) v,
// then the output projection.  x: (B, T, D) -> (B, T, D)
std::vector<double> reference(const MultiHeadAttention& m, const Tensor& x) {
  const int64_t B = x.size(0), T = x.size(1), D = m.embed_dim, H = m.num_heads, Dh = m.head_dim;
  const Tensor& w = m.qkv_proj->weight;  // (3D, D)
  const Tensor& b = m.qkv_proj->bias;    // (3D)
  std::vector<double> qkv(static_cast<size_t>(B * T * 3 * D)), merged(static_cast<size_t>(B * T * D));
  for (int64_t bt = 0; bt < B * T; ++bt)
    for (int64_t o = 0; o < 3 * D; ++o) {
      double s = b.data()[o];
      for (int64_t i = 0; i < D; ++i) s += double(w.data()[o * D + i]) * x.data()[bt * D + i];
      qkv[bt * 3 * D + o] = s;
    }
  const auto at = [&](int64_t bi, int64_t t, int64_t part, int64_t h, int64_t d) {
    return qkv[(bi * T + t) * 3 * D + part * D + h * Dh + d];
  };
  for (int64_t bi = 0; bi < B; ++bi)
    for (int64_t h = 0; h < H; ++h)
      for (int64_t t = 0; t < T; ++t) {
        const int64_t last = m.causal ? t : T - 1;
        std::vector<double> p(static_cast<size_t>(last + 1));
        double mx = -1e300, z = 0;
        for (int64_t s = 0; s <= last; ++s) {
          double dot = 0;
          for (int64_t d = 0; d < Dh; ++d) dot += at(bi, t, 0, h, d) * at(bi, s, 1, h, d);
          p[s] = dot / std::sqrt(double(Dh));
          mx = std::max(mx, p[s]);
        }
        for (auto& v : p) z += (v = std::exp(v - mx));
        for (int64_t d = 0; d < Dh; ++d) {
          double acc = 0;
          for (int64_t s = 0; s <= last; ++s) acc += p[s] / z * at(bi, s, 2, h, d);
          merged[(bi * T + t) * D + h * Dh + d] = acc;
        }
      }
  const Tensor& wo = m.out_proj->weight;  // (D, D)
  std::vector<double> y(merged.size());
  for (int64_t bt = 0; bt < B * T; ++bt)
    for (int64_t o = 0; o < D; ++o) {
      double s = m.out_proj->bias.data()[o];
      for (int64_t i = 0; i < D; ++i) s += double(wo.data()[o * D + i]) * merged[bt * D + i];
      y[bt * D + o] = s;
    }
  return y;
}
}  // namespace

TEST_CASE("MultiHeadAttention: matches a naive reference, with and without the causal mask", "[layers]") {
  for (bool causal : {false, true}) {
    INFO("causal " << causal);
    MultiHeadAttention mha(8, 2, causal);
    const Tensor x = testing::uniform({2, 5, 8}, -1, 1, 91, false);
    const Tensor y = mha.forward(x);
    REQUIRE(y.shape() == Shape{2, 5, 8});
    const auto ref = reference(mha, x);
    for (size_t i = 0; i < ref.size(); ++i) CHECK(y.data()[i] == Approx(ref[i]).margin(1e-5));
  }
  REQUIRE_THROWS_WITH(MultiHeadAttention(6, 4), Catch::Contains("embed_dim 6 must be a positive multiple of num_heads 4"));
  REQUIRE_THROWS_WITH(MultiHeadAttention(8, 2).forward(Tensor::zeros({2, 8})),
                      Catch::Contains("expected input (B, T, 8), got [2, 8]"));
}

TEST_CASE("MultiHeadAttention: with the causal mask, earlier outputs ignore later inputs", "[layers]") {
  MultiHeadAttention mha(4, 2, true);
  const Tensor x = testing::uniform({1, 4, 4}, -1, 1, 92, false);
  const auto before = mha.forward(x).to_vector();
  x.data()[3 * 4 + 1] += 1.0f;  // change time step 3
  const auto after = mha.forward(x).to_vector();
  for (size_t i = 0; i < 12; ++i) REQUIRE(after[i] == before[i]);  // steps 0..2 unchanged
  bool changed = false;
  for (size_t i = 12; i < 16; ++i) changed = changed || after[i] != before[i];
  REQUIRE(changed);
}

TEST_CASE("MultiHeadAttention: gradient check over input and projections", "[layers][gradcheck]") {
  for (bool causal : {false, true}) {
    INFO("causal " << causal);
    MultiHeadAttention mha(4, 2, causal);  // qkv weight 48, bias 12, out weight 16, bias 4
    RAOQ_REQUIRE_LAYER_GRADCHECK(mha, testing::uniform({1, 3, 4}, -1, 1, 93));
  }
}
