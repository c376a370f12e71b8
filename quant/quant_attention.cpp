// quant/quant_attention.cpp — QuantAttention (contract and legend in quant_attention.h). Every op
// used here carries its own backward; this file arranges them.
#include "quant/quant_attention.h"

#include <cmath>
#include <limits>

#include "core/autograd.h"
#include "core/ops.h"

namespace raoq::quant {

std::string to_string(const AttentionOptions& a) {
  return "bits=" + std::to_string(a.bits) + ", bmm2_bits=" + std::to_string(a.bmm2_bits);
}

namespace {
// (Tq, Tk): 0 where query i may see key j (j <= i), -inf above the diagonal. Added to the scores,
// it gives the masked keys probability exactly 0 (exp(-inf) = 0) and a zero softmax gradient, so
// nothing at a later position reaches an earlier output.
Tensor causal_mask(int64_t Tq, int64_t Tk) {
  Tensor m = Tensor::zeros({Tq, Tk});
  for (int64_t i = 0; i < Tq; ++i)
    for (int64_t j = i + 1; j < Tk; ++j) m.data()[i * Tk + j] = -std::numeric_limits<float>::infinity();
  return m;
}
}  // namespace

QuantAttention::QuantAttention(int64_t embed_dim_, int64_t num_heads_, bool causal_, bool bias, AttentionOptions a)
    : MultiHeadAttention(embed_dim_, num_heads_, causal_, bias), aopts(a) {
  (void)unsigned_codes(a.bmm2_bits);  // validates the probabilities' bits
  register_module("q_quant", q_quant, std::make_shared<ActQuantizer>(a.bits, true, false));
  register_module("k_quant", k_quant, std::make_shared<ActQuantizer>(a.bits, true, false, /*symmetric=*/true));
  register_module("v_quant", v_quant, std::make_shared<ActQuantizer>(a.bmm2_bits, true, false));
}

void QuantAttention::adopt_children(Module& src) {
  const NamedModules mine = named_children();
  for (const auto& [name, child] : src.named_children())
    for (const auto& [own, unused] : mine)
      if (own == name) replace_module(name, child);
}

std::shared_ptr<QuantAttention> QuantAttention::from(MultiHeadAttention& m, AttentionOptions a) {
  auto q = std::make_shared<QuantAttention>(m.embed_dim, m.num_heads, m.causal, m.qkv_proj->bias.defined(), a);
  q->adopt_children(m);
  if (auto* mq = dynamic_cast<QuantAttention*>(&m)) q->on_array = mq->on_array, q->prob_rounding = mq->prob_rounding;
  q->train(m.is_training());
  return q;
}

QuantOptions QuantAttention::bmm1_options() const {
  return QuantOptions{aopts.bits, aopts.bits, /*act_signed=*/true, /*act_offset=*/false, /*per_channel=*/false};
}

// acc = qc kc^T, integer sums (the product of codes, as the array layer forms it).
Tensor QuantAttention::attention(const Tensor& q, const Tensor& k, const Tensor& v) {
  const Quantized qa = q_quant->quantize(q), ka = k_quant->quantize(k);      // codes: (B, H, T, Dh)
  const Tensor acc = ops::matmul(qa.codes, ops::transpose(ka.codes, 2, 3));  // (B, H, Tq, Tk)
  return attend(acc, qa.scale, ka.scale, v);
}

Tensor QuantAttention::attend(const Tensor& acc, const Tensor& s_q, const Tensor& s_k, const Tensor& v) {
  const int64_t Tq = acc.size(2), Tk = acc.size(3);
  // The same 1/sqrt(Dh) in float as ops::scaled_dot_product_attention.
  const Tensor alpha = ops::scale(ops::mul(s_q, s_k), 1.0f / std::sqrt(static_cast<float>(head_dim)));  // []
  Tensor scores = ops::mul(acc, alpha);  // (B, H, Tq, Tk)
  if (causal) scores = ops::add(scores, causal_mask(Tq, Tk));
  Tensor p = ops::softmax(scores, -1);
  if (!path().empty()) scores.set_name(path() + ":scores"), p.set_name(path() + ":probs");
  const CodeRange pr = unsigned_codes(aopts.bmm2_bits);
  const Tensor step = Tensor::scalar(1.0f / pr.hi);  // P^ = round(P (2^b - 1)) / (2^b - 1)
  const Tensor p_hat = lsq_fake_quant(p, step, Tensor(), pr, prob_rounding);
  return ops::matmul(p_hat, v_quant->forward(v));  // (B, H, Tq, Dh)
}

std::string QuantAttention::extra_repr() const {
  return MultiHeadAttention::extra_repr() + ", " + to_string(aopts) + (on_array ? "" : ", off_array");
}

}  // namespace raoq::quant
