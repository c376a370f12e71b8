// tools/pipeline/generate.h — text from a trained language model: autoregressive sampling with
// temperature and top-k, on whatever the model computes with (a checkpoint of an ADC stage keeps
// its IMC layers in ImcMode::array, so the arrays and their ADCs write the text).
//
//   per new token: logits of the last position of the last `context` tokens   (V)
//     temperature 0: the largest logit (greedy; ties: the lowest id)
//     else:          p = softmax(logits / temperature) over the top_k largest (all when 0),
//                    one draw from p with a Generator seeded by `seed`
// The model runs in eval mode without a graph. Draws depend only on (seed, logits), so a fixed
// seed and thread count give the same text.
#pragma once

#include <cstdint>
#include <vector>

#include "layers/module.h"

namespace raoq::tools {

struct SampleOptions {
  int64_t tokens = 200;      // how many to generate
  double temperature = 1.0;  // 0: greedy
  int64_t top_k = 0;         // 0: the whole vocabulary
  uint64_t seed = 0;
};

// prompt: token ids (at least one). context: the model's window. Returns the new tokens.
std::vector<int64_t> sample_tokens(Module& model, const std::vector<int64_t>& prompt, int64_t context,
                                   const SampleOptions& options);

}  // namespace raoq::tools
