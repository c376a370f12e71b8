// bench/gpt_tiny.h — the gpt-tiny network of the benchmark table, built from layers/:
// byte vocabulary 256, context 128, 4 pre-LayerNorm blocks, d=256, 4 heads, causal attention,
// GELU MLP 4x, learned positions.   idx: B x T token ids -> logits (B, T, 256)
#pragma once

#include <memory>
#include <vector>

#include "layers/layers.h"

namespace raoq::bench {

class GptBlock : public Module {
 public:
  GptBlock(int64_t d, int64_t heads);
  Tensor forward(const Tensor& x) override;  // x: (B, T, d)
  std::shared_ptr<LayerNorm> ln1, ln2;
  std::shared_ptr<MultiHeadAttention> attn;
  std::shared_ptr<Linear> fc1, fc2;
};

class GptTiny : public Module {
 public:
  GptTiny(int64_t vocab = 256, int64_t ctx = 128, int64_t d = 256, int64_t heads = 4, int64_t layers = 4);
  Tensor forward(const std::vector<int64_t>& idx, int64_t batch, int64_t time);
  std::shared_ptr<Embedding> tok;
  Tensor pos;  // (ctx, d)
  std::vector<std::shared_ptr<GptBlock>> blocks;
  std::shared_ptr<LayerNorm> ln;
  std::shared_ptr<Linear> head;
};

}  // namespace raoq::bench
