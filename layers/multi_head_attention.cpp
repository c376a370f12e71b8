// layers/multi_head_attention.cpp — MultiHeadAttention built from core ops (each op carries
// its own backward; this file only arranges shapes).
#include "layers/multi_head_attention.h"

#include "core/ops.h"

namespace raoq {

MultiHeadAttention::MultiHeadAttention(int64_t embed_dim_, int64_t num_heads_, bool causal_, bool bias)
    : Module("MultiHeadAttention"), embed_dim(embed_dim_), num_heads(num_heads_), head_dim(0), causal(causal_) {
  RAOQ_CHECK(embed_dim > 0 && num_heads > 0 && embed_dim % num_heads == 0, "MultiHeadAttention: embed_dim ", embed_dim,
             " must be a positive multiple of num_heads ", num_heads);
  head_dim = embed_dim / num_heads;
  register_module("qkv_proj", qkv_proj, std::make_shared<Linear>(embed_dim, 3 * embed_dim, bias));
  register_module("out_proj", out_proj, std::make_shared<Linear>(embed_dim, embed_dim, bias));
}

Tensor MultiHeadAttention::attention(const Tensor& q, const Tensor& k, const Tensor& v) {
  return ops::scaled_dot_product_attention(q, k, v, causal);
}

Tensor MultiHeadAttention::forward(const Tensor& x) {  // x: (B, T, D)
  RAOQ_CHECK(x.dim() == 3 && x.size(2) == embed_dim, label(), ": expected input (B, T, ", embed_dim, "), got ",
             shape_str(x.shape()));
  const int64_t B = x.size(0), T = x.size(1), D = embed_dim, H = num_heads, Dh = head_dim;
  const Tensor qkv = qkv_proj->forward(x);  // (B, T, 3D)
  // (B, T, 3D) -> third i as (B, T, H, Dh) -> (B, H, T, Dh)
  const auto heads = [&](int64_t i, const char* tag) {
    Tensor h = ops::permute(ops::reshape(ops::slice(qkv, 2, i * D, (i + 1) * D), {B, T, H, Dh}), {0, 2, 1, 3});
    if (!path().empty()) h.set_name(path() + ":" + tag);
    return h;
  };
  const Tensor q = heads(0, "q"), k = heads(1, "k"), v = heads(2, "v");  // (B, H, T, Dh)
  Tensor a = attention(q, k, v);                                            // (B, H, T, Dh)
  if (!path().empty()) a.set_name(path() + ":attn");
  const Tensor merged = ops::reshape(ops::permute(a, {0, 2, 1, 3}), {B, T, D});  // (B, T, D)
  return named_output(out_proj->forward(merged), x);
}

std::string MultiHeadAttention::extra_repr() const {
  return "embed_dim=" + std::to_string(embed_dim) + ", num_heads=" + std::to_string(num_heads) +
         ", causal=" + (causal ? "true" : "false");
}

}  // namespace raoq
