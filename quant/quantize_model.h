// quant/quantize_model.h — turn a float model into a QAT model by rules, and gather the W-reshape
// terms of its layers.
//
// quantize_model walks the module tree in registration order and replaces every Conv2d and Linear
// (exactly those types; layers already quantized are left alone) by a QuantConv2d / QuantLinear
// carrying a copy of its weights:
//   - keep_float patterns: left as float layers;
//   - the first and the last Conv2d/Linear in registration order (for the models of models/ that
//     is the network's first and last layer): `edge` options (8-bit) and off the array (RAOQ
//     appendix J: "The first and last layers are kept in 8-bit, and are not mapped to the IMC");
//   - depthwise and other grouped convolutions: `body` options, off the array (appendix J);
//   - off_array patterns: off the array;
//   - overrides: the options of the first matching pattern replace `body` / `edge`;
//   - bits: every matching pattern, in order, sets the code bits (bx = bw) of those options;
//   - everything else: `body` options (4-bit), on the array.
// Every MultiHeadAttention (exactly that type) becomes a QuantAttention (quant_attention.h) with
// `attention` options, holding the same projection modules (so every parameter name is kept); its
// qkv_proj and out_proj are then converted as any Linear by the rules above. Its BMM1 (q k^T) is on
// the array unless an off_array pattern matches the attention's path; a keep_float pattern
// leaves it (and only it, not its projections) a float MultiHeadAttention. The first/last-layer
// rule counts Conv2d and Linear layers only.
// Patterns are globs over dotted paths relative to the root: '*' matches any run of characters
// (dots included), '?' one character: "layer4.*", "*.attn.*", "classifier".
#pragma once

#include <string>
#include <utility>
#include <vector>

#include "layers/module.h"
#include "quant/quant_attention.h"
#include "quant/quantizer.h"

namespace raoq::quant {

bool path_matches(const std::string& pattern, const std::string& path);

struct QuantizeRules {
  QuantOptions body;                                            // default: 4-bit, unsigned codes, offset
  // Body layers whose path matches one of body_paths take `body`; the others take signed_body
  // (layers whose inputs can be negative: in a transformer every array layer but fc2, whose input
  // is the GELU output). The default "*" gives every body layer `body`.
  std::vector<std::string> body_paths{"*"};
  QuantOptions signed_body{4, 4, true, true, false};
  QuantOptions edge{8, 8, false, true, false};                  // first and last layers
  // apply `edge` to the first and last Conv2d / Linear (off the array). When a token lookup (a
  // module type named *Embedding) comes first, it is the first layer and stays digital: only
  // the last Linear (the LM head) is an edge layer.
  bool edge_layers = true;
  std::vector<std::pair<std::string, QuantOptions>> overrides;  // first match wins
  std::vector<std::pair<std::string, int>> bits;  // then, in order, every match sets the layer's bx = bw
  std::vector<std::string> off_array;                           // quantized, not mapped to the array
  std::vector<std::string> keep_float;                          // not quantized
  AttentionOptions attention;                                   // MultiHeadAttention -> QuantAttention
};

// Paths in module order; an attention layer is listed by its own path (its BMM1), its projections
// by theirs.
struct QuantizeSummary {
  std::vector<std::string> on_array, off_array, kept_float;
};

QuantizeSummary quantize_model(Module& root, const QuantizeRules& rules = {});

// kappa (quant::kurtosis) of the weight codes of every quantized layer on the array, in module
// order: the terms of wreshape_loss (RAOQ Eq. 7 / Eq. 13). Graph-connected to weights and scales.
// Attention's BMM1 is not among them: its stored operand is the keys, not a weight.
std::vector<Tensor> wreshape_kurtoses(Module& root);

}  // namespace raoq::quant
