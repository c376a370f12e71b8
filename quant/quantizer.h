// quant/quantizer.h — the quantizer modules that hold LSQ/LSQ+ state in the module tree.
//
// ActQuantizer (child "act_quant") and WeightQuantizer (child "weight_quant") own their learnable
// scale (and offset) as named parameters, so checkpoints and optimizer groups see them as
// "layer1.0.conv1.act_quant.scale", "...act_quant.beta", "...weight_quant.scale", plus a buffer
// "initialized" (0 or 1) so that a loaded checkpoint is not re-initialised.
//
// Every forward reads the scale as s_eff = scale_floor(grad_scale(scale, g)) with LSQ's gradient
// scale g = 1/sqrt(n * qp) (n: features per sample for activations, weights per scale for weights);
// LSQ+ applies the same g to the offset beta. The first call on data (training or evaluation)
// initialises the state from it when "initialized" is 0 (lsq.h: LSQ+ Sec. 3.3), without autograd.
// `rounding` is Rounding::apply in any real use; Rounding::skip makes a whole layer smooth in its
// input so that a gradient check can test the composed surrogate backward (see lsq.h).
#pragma once

#include <cstdint>
#include <string>

#include "layers/module.h"
#include "quant/ashift.h"
#include "quant/lsq.h"

namespace raoq::quant {

// The quantization of one layer.
struct QuantOptions {
  int bx = 4;                 // activation code bits
  int bw = 4;                 // weight code bits
  bool act_signed = false;    // signed activation codes (inputs not post-ReLU/GELU, or vanilla QAT*)
  bool act_offset = true;     // learnable LSQ+ offset beta
  bool per_channel = false;   // per-output-channel weight scales
};
std::string to_string(const QuantOptions& q);  // "bx=4, bw=4, unsigned, offset"

// What the quantized layers need from a quantizer: integer codes and the effective (floored,
// gradient-scaled) scale and offset, all connected to the graph.
struct Quantized {
  Tensor codes;   // shaped like the input; through a ShiftMap when quantize() was given one
  Tensor scale;   // [] (or [C] for per-channel weights)
  Tensor offset;  // [] or undefined (no offset)
};

// x -> s * round(clip((x - beta)/s, range)) + beta.
//   unsigned codes with a learnable offset: LSQ+ after ReLU/GELU (the A-shift input, RAOQ Eq. 4)
//   signed codes, learnable offset or not: inputs that are not post-ReLU/GELU; signed codes with no
//   offset are the vanilla QAT* "signed quantization" (DESIGN.md)
//   symmetric codes [-(2^(b-1)-1), 2^(b-1)-1] (signed, the weight range): activations an IMC array
//   stores like weights (attention's keys, quant_attention.h)
class ActQuantizer : public Module {
 public:
  // symmetric requires signed_codes.
  ActQuantizer(int bits, bool signed_codes, bool learn_offset, bool symmetric = false);
  Tensor forward(const Tensor& x) override;  // fake quantization s xq + beta (attention's V)
  // Codes (the QAT and IMC weight layers, Q K^T); with a map, the codes as the array sees them, map.gain * code - map.shift
  // (A-shift fused into the same pass).
  Quantized quantize(const Tensor& x, ShiftMap map = no_shift());
  CodeRange range() const;
  bool initialized() const;
  void initialize_from(const Tensor& x);     // LSQ+ init from a batch, marks initialized
  std::string extra_repr() const override;

  int bits;
  bool signed_codes, learn_offset, symmetric;
  Rounding rounding = Rounding::apply;
  Tensor scale;  // []
  Tensor beta;   // [] or undefined
  Tensor init;   // buffer "initialized": [] holding 0 or 1

 private:
  void prepare(const Tensor& x, Tensor* s_eff, Tensor* b_eff);
};

// w -> s * round(clip(w / s, -(2^(b-1)-1), 2^(b-1)-1)), symmetric, per tensor or per output channel.
class WeightQuantizer : public Module {
 public:
  // channels: w.size(0) of the weights it will see (the scale's length when per_channel).
  WeightQuantizer(int bits, bool per_channel, int64_t channels);
  Tensor forward(const Tensor& w) override;  // fake quantization s_w wq, as values (LoRA, tests)
  Quantized quantize(const Tensor& w);       // codes (IMC layers, W-reshape)
  CodeRange range() const;
  bool initialized() const;
  void initialize_from(const Tensor& w);
  std::string extra_repr() const override;

  int bits;
  bool per_channel;
  Rounding rounding = Rounding::apply;
  Tensor scale;  // [] or [C_out]
  Tensor init;   // buffer "initialized"

 private:
  Tensor prepare(const Tensor& w);
};

}  // namespace raoq::quant
