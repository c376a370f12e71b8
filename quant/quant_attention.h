// quant/quant_attention.h — QuantAttention: multi-head self-attention with both of its products
// quantized, as a transformer on IMC arrays runs it (RAOQ appendix J).
//
// Legend: B batch, H heads, Tq = Tk = T time, Dh head width, b the bits of a quantizer.
//   q, k, v: (B, H, T, Dh)   acc, scores, P: (B, H, Tq, Tk)   y: (B, H, Tq, Dh)
//
//   BMM1  scores = q k^T / sqrt(Dh), the product that goes on the arrays. q and k have their own
//         per-tensor quantizers (LSQ+ initialised from the first batch, zero offset):
//           q_quant  signed codes    [-2^(b-1), 2^(b-1) - 1]        (streamed: the array's input)
//           k_quant  symmetric codes [-(2^(b-1) - 1), 2^(b-1) - 1]  (stored: the weight range)
//         The scores are formed from the codes and scaled once:
//           acc = qc kc^T,   scores = (s_q s_k / sqrt(Dh)) acc
//         which is the fake-quantized q^ k^^T / sqrt(Dh) (up to float rounding), and exactly what the
//         array layer dequantizes (imc/imc_attention.h): acc is a sum of integers, exact in float, so
//         with its ADC off the array layer gives these numbers bit for bit. Zero offsets keep the
//         dequantization one scale (an offset on q would add beta_q s_k sum_d kc to every score).
//   softmax, the 1/sqrt(Dh) scale and the causal mask (-inf above the diagonal, top-left aligned
//         as in ops::scaled_dot_product_attention) stay digital.
//   BMM2  y = P^ v^, digital, 8-bit by default (off the array, appendix J):
//           P^ = round(P (2^b - 1)) / (2^b - 1): a fixed step, unsigned codes. Probabilities lie in
//                [0, 1] by construction, so a fixed step covers them without clipping and there is
//                nothing to learn (a learned step could only clip the peaked rows).
//           v_quant  signed codes, per tensor, LSQ+ initialised, zero offset.
// Gradients: the LSQ/LSQ+ surrogates of each quantizer (lsq.h), straight through P^ (P never
// leaves its range), exact elsewhere. With every quantizer's `rounding` and `prob_rounding` at
// Rounding::skip the layer is smooth, for gradient checks.
// Parameter names: the MultiHeadAttention's (qkv_proj.*, out_proj.*), then q_quant.*, k_quant.*,
// v_quant.* (scale, initialized). The projections are converted by quantize_model as any Linear.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "layers/multi_head_attention.h"
#include "quant/quantizer.h"

namespace raoq::quant {

struct AttentionOptions {
  int bits = 4;       // BMM1: bits of the q and k codes (the array's bx and bw), as the array layers
  int bmm2_bits = 8;  // BMM2: bits of the probabilities and of v
};
std::string to_string(const AttentionOptions& a);  // "bits=4, bmm2_bits=8"

class QuantAttention : public MultiHeadAttention {
 public:
  QuantAttention(int64_t embed_dim, int64_t num_heads, bool causal, bool bias, AttentionOptions a);
  // A QuantAttention with m's geometry that holds m's children themselves (projections, and the
  // quantizers when m is a QuantAttention): every parameter keeps its value and name.
  static std::shared_ptr<QuantAttention> from(MultiHeadAttention& m, AttentionOptions a);
  // q, k, v: (B, H, T, Dh) -> (B, H, T, Dh)
  Tensor attention(const Tensor& q, const Tensor& k, const Tensor& v) override;
  std::string extra_repr() const override;
  // BMM1's quantization as the array layers read it: {bits, bits, signed, no offset, per tensor}.
  QuantOptions bmm1_options() const;

  AttentionOptions aopts;
  bool on_array = true;                      // BMM1 on the arrays: imc::to_imc converts the layer
  Rounding prob_rounding = Rounding::apply;  // of P^ (skip: gradient checks)
  std::shared_ptr<ActQuantizer> q_quant, k_quant, v_quant;

 protected:
  // Everything after BMM1's integer product: acc (B, H, Tq, Tk) = qc kc^T, s_q and s_k the
  // quantizers' effective scales ([]) -> y (B, H, Tq, Dh). Shared with the array layer, so that
  // both compute the digital part with the same operations.
  Tensor attend(const Tensor& acc, const Tensor& s_q, const Tensor& s_k, const Tensor& v);
  // Takes over every child of src that this module also has, by name (the same module objects).
  void adopt_children(Module& src);
};

}  // namespace raoq::quant
