// imc/imc_attention.cpp — ImcAttention (contract and legend in imc_attention.h).
#include "imc/imc_attention.h"

#include <sstream>

#include "core/error.h"
#include "core/ops.h"
#include "imc/array_product.h"
#include "imc/input_map.h"
#include "imc/stats.h"

namespace raoq::imc {

ImcAttention::ImcAttention(int64_t embed_dim_, int64_t num_heads_, bool causal_, bool bias, quant::AttentionOptions a,
                           AdcConfig c)
    : QuantAttention(embed_dim_, num_heads_, causal_, bias, a), bmm1_(bmm1_options()) {
  config = c;
  check_config();
}

void ImcAttention::check_config() const {
  RAOQ_CHECK(config.signed_input || config.representation == Representation::minus_one_one,
             "ImcAttention: Q K^T streams signed query codes, which an unsigned-input array cannot take; use a "
             "signed-input array (adc.signed_input) or keep the attention off the arrays (quant off_array)");
  layer_config().validate();
}

std::shared_ptr<ImcAttention> ImcAttention::from(quant::QuantAttention& q, const AdcConfig& c) {
  auto m = std::make_shared<ImcAttention>(q.embed_dim, q.num_heads, q.causal, q.qkv_proj->bias.defined(), q.aopts, c);
  m->adopt_children(q);
  m->on_array = q.on_array;
  m->prob_rounding = q.prob_rounding;
  m->train(q.is_training());
  return m;
}

Tensor ImcAttention::attention(const Tensor& q, const Tensor& k, const Tensor& v) {
  if (mode == ImcMode::qat) return QuantAttention::attention(q, k, v);
  const int64_t G = q.size(0) * q.size(1), Tq = q.size(2), Tk = k.size(2), Dh = q.size(3);
  const AdcConfig c = layer_config();
  const quant::ShiftMap map = input_map();
  const quant::Quantized qa = q_quant->quantize(q, map), ka = k_quant->quantize(k);  // (B, H, T, Dh)
  const Tensor xs = ops::reshape(qa.codes, {G, Tq, Dh});                             // (G, Tq, Dh)
  const Tensor ks = ops::reshape(ka.codes, {G, Tk, Dh});                             // (G, Tk, Dh)
  ArrayProductOptions opt;
  opt.rounding = adc_rounding, opt.noise = noise;
  if (stats) {
    stats->record_forward(xs, ks, map, c, ArrayGeometry::batched());
    opt.observer = stats.get();
  }
  Tensor acc = array_product(xs, ks, c, ArrayGeometry::batched(), opt);  // (G, Tq, Tk)
  if (map.shift != 0.0f || map.gain != 1.0f) {
    // qc . ks = (qs . ks + shift * sum_d ks) / gain: exact integers, done digitally.
    const Tensor S = ops::reshape(ops::sum(ks, -1), {G, 1, Tk});  // (G, 1, Tk)
    acc = ops::scale(ops::add(acc, ops::scale(S, map.shift)), 1.0f / map.gain);
  }
  return attend(ops::reshape(acc, {q.size(0), q.size(1), Tq, Tk}), qa.scale, ka.scale, v);
}

std::string ImcAttention::extra_repr() const {
  std::ostringstream os;
  os << QuantAttention::extra_repr() << ", imc(" << layer_config() << "), mode " << to_string(mode);
  return os.str();
}

}  // namespace raoq::imc
