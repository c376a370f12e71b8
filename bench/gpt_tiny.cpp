// bench/gpt_tiny.cpp — gpt-tiny for the benchmark (see gpt_tiny.h).
#include "bench/gpt_tiny.h"

#include <string>

#include "core/ops.h"

namespace raoq::bench {

GptBlock::GptBlock(int64_t d, int64_t heads) : Module("GptBlock") {
  ln1 = register_module("ln1", std::make_shared<LayerNorm>(d));
  attn = register_module("attn", std::make_shared<MultiHeadAttention>(d, heads, /*causal=*/true));
  ln2 = register_module("ln2", std::make_shared<LayerNorm>(d));
  fc1 = register_module("fc1", std::make_shared<Linear>(d, 4 * d));
  fc2 = register_module("fc2", std::make_shared<Linear>(4 * d, d));
}

Tensor GptBlock::forward(const Tensor& x) {
  Tensor h = ops::add(x, attn->forward(ln1->forward(x)));
  return ops::add(h, fc2->forward(ops::gelu(fc1->forward(ln2->forward(h)))));
}

GptTiny::GptTiny(int64_t vocab, int64_t ctx, int64_t d, int64_t heads, int64_t layers) : Module("GptTiny") {
  tok = register_module("tok", std::make_shared<Embedding>(vocab, d));
  pos = register_parameter("pos", Tensor::zeros({ctx, d}));
  for (int64_t i = 0; i < layers; ++i)
    blocks.push_back(register_module("block" + std::to_string(i), std::make_shared<GptBlock>(d, heads)));
  ln = register_module("ln", std::make_shared<LayerNorm>(d));
  head = register_module("head", std::make_shared<Linear>(d, vocab));
}

Tensor GptTiny::forward(const std::vector<int64_t>& idx, int64_t batch, int64_t time) {
  Tensor x = tok->forward(idx, {batch, time});                     // (B, T, d)
  x = ops::add(x, ops::slice(pos, 0, 0, time));                    // + (T, d), broadcast over B
  for (auto& block : blocks) x = block->forward(x);
  return head->forward(ln->forward(x));                            // (B, T, vocab)
}

}  // namespace raoq::bench
