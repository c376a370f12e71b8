// layers/multi_head_attention.h — MultiHeadAttention: self-attention with a fused qkv projection.
#pragma once

#include <cstdint>
#include <memory>

#include "layers/linear.h"
#include "layers/module.h"

namespace raoq {

// Legend: B batch, T time, D = embed_dim, H = num_heads, Dh = D / H.
// x: (B, T, D) -> (B, T, D):
//   qkv = qkv_proj(x)                           (B, T, 3D), columns [q | k | v]
//   q, k, v = split heads of each third         (B, H, T, Dh)
//   a = attention(q, k, v)                      (B, H, T, Dh)  softmax(q k^T / sqrt(Dh) [+ causal]) v
//   y = out_proj(merge heads of a)              (B, T, D)
// Children: qkv_proj = Linear(D, 3D), out_proj = Linear(D, D), both in field form, so a pass
// may replace them with subclasses of Linear. A subclass may override attention() (e.g. to put
// q k^T on an analog array).
class MultiHeadAttention : public Module {
 public:
  MultiHeadAttention(int64_t embed_dim, int64_t num_heads, bool causal = false, bool bias = true);
  Tensor forward(const Tensor& x) override;
  std::string extra_repr() const override;
  // q, k, v: (B, H, T, Dh) -> (B, H, T, Dh)
  virtual Tensor attention(const Tensor& q, const Tensor& k, const Tensor& v);

  int64_t embed_dim, num_heads, head_dim;
  bool causal;
  std::shared_ptr<Linear> qkv_proj;  // (D -> 3D)
  std::shared_ptr<Linear> out_proj;  // (D -> D)
};

}  // namespace raoq
