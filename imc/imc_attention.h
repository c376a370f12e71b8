// imc/imc_attention.h — ImcAttention: multi-head attention whose Q K^T (BMM1) runs on the IMC
// arrays (RAOQ appendix J); its projections are IMC linear layers of their own (to_imc converts
// them), and everything else is QuantAttention's (quant/quant_attention.h).
//
// Legend: B batch, H heads, Tq = Tk = T time, Dh head width, G = B*H (one product per batch and head).
// ImcMode::array:
//   qs, s_q = q_quant(q), through input_map()   (G, Tq, Dh) the streamed input: signed codes, which a
//                                                 signed-input 0/1 array takes as they are (no A-shift),
//                                                 a -1/1 array as 2 qc + 1 (Eq. 14)
//   ks, s_k = k_quant(k)                         (G, Tk, Dh) the stored operand: symmetric codes in the
//                                                 weight range, written into the array like weights,
//                                                 one image per (batch, head) and forward
//   acc = array_product(qs, ks, layer_config(), batched)   (G, Tq, Tk): Dh reduction rows in
//         ceil(Dh / rows) tiles, each column sum converted by the ADC on its own, with the step D of
//         the hardware (D depends on the configuration only, as for every other layer)
//   acc = (acc + shift * sum_d ks) / gain        the digital correction of the map (Eq. 5's form); a
//                                                 no-op on a 0/1 array
//   y   = QuantAttention's digital part: scores = (s_q s_k / sqrt(Dh)) acc, the causal mask, softmax,
//         BMM2 = P^ v^ at 8 bits
// ImcMode::qat: exactly QuantAttention. With config.enabled false the array product is the exact
// integer product, so on a 0/1 array the layer equals QuantAttention bit for bit, forward and
// gradients (the product's backward makes the same GEMM calls, array_product.h); on a -1/1 array the
// correction's gradient differs from it by float rounding only.
// Requires an array that takes signed inputs (signed_input, or -1/1): construction is an error
// otherwise. The layer has no weight: W-reshape (quant::wreshape_kurtoses) does not see it.
#pragma once

#include <memory>
#include <string>

#include "imc/imc_layer.h"
#include "quant/quant_attention.h"

namespace raoq::imc {

// x: (B, T, D) -> (B, T, D), as MultiHeadAttention.
class ImcAttention : public quant::QuantAttention, public ImcLayer {
 public:
  ImcAttention(int64_t embed_dim, int64_t num_heads, bool causal, bool bias, quant::AttentionOptions a,
               AdcConfig config);
  // An ImcAttention holding q's children themselves (its projections, IMC layers or not, and its
  // quantizers), with q's geometry, options and placement.
  static std::shared_ptr<ImcAttention> from(quant::QuantAttention& q, const AdcConfig& config);
  // q, k, v: (B, H, T, Dh) -> (B, H, T, Dh)
  Tensor attention(const Tensor& q, const Tensor& k, const Tensor& v) override;
  std::string extra_repr() const override;

  const quant::QuantOptions& quant_options() const override { return bmm1_; }
  void check_config() const override;
  Module& as_module() override { return *this; }
  quant::ActQuantizer& activation_quantizer() override { return *q_quant; }

 private:
  quant::QuantOptions bmm1_;  // bmm1_options(): bx = bw = aopts.bits, signed inputs
};

}  // namespace raoq::imc
