// imc/method.cpp — apply_method and method_loss (contract in method.h).
#include "imc/method.h"

#include <vector>

#include "core/error.h"
#include "core/ops.h"
#include "imc/imc_layer.h"
#include "imc/imc_model.h"
#include "quant/quantize_model.h"
#include "quant/wreshape.h"

namespace raoq::imc {

void apply_method(Module& model, const MethodConfig& m, const std::string& where) {
  quant::QuantizeRules rules;
  rules.body = quant::QuantOptions{m.bits, m.bits, !m.ashift, m.ashift, m.per_channel};
  rules.body_paths = m.unsigned_inputs;
  rules.signed_body = quant::QuantOptions{m.bits, m.bits, true, m.ashift, m.per_channel};
  rules.attention.bits = m.bits;  // Q K^T on the arrays at the array layers' width
  quant::quantize_model(model, rules);
  if (m.on_arrays) {
    ImcRules ir;
    ir.base = m.adc;
    ir.base.bx = ir.base.bw = m.bits;
    to_imc(model, ir);
  }
  set_imc_mode(model, m.on_arrays ? ImcMode::array : ImcMode::qat);
  if (m.on_arrays) set_adc_bits(model, m.adc.ba);
  for (auto& [path, layer] : imc_layers(model)) {
    // Attention's Q K^T streams signed query codes whatever ashift says: only weight layers tell.
    if (!dynamic_cast<ImcWeightLayer*>(layer)) continue;
    const bool signed_codes = layer->activation_quantizer().signed_codes;
    bool shifted = false;  // a layer A-shift applies to
    for (const auto& pattern : m.unsigned_inputs) shifted = shifted || quant::path_matches(pattern, path);
    if (!shifted) continue;  // signed codes either way
    RAOQ_CHECK(signed_codes != m.ashift, where, ".ashift is ", m.ashift ? "true" : "false", " but layer '", path,
               "' of the model it starts from has ", signed_codes ? "signed" : "unsigned",
               " activation codes; start from a stage trained with ashift ", signed_codes ? "false" : "true",
               " (init_from)");
  }
}

Tensor method_loss(Module& model, const MethodConfig& m, const Tensor& task_loss) {
  if (m.wreshape <= 0.0) return task_loss;
  const std::vector<Tensor> kappas = quant::wreshape_kurtoses(model);
  if (kappas.empty()) return task_loss;
  return ops::add(task_loss, quant::wreshape_loss(kappas, static_cast<float>(m.wreshape)));
}

}  // namespace raoq::imc
