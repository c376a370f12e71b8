// imc/method.cpp — apply_method and method_loss (contract in method.h).
#include "imc/method.h"

#include <vector>

#include "core/error.h"
#include "core/ops.h"
#include "imc/adc_json.h"
#include "imc/imc_layer.h"
#include "imc/imc_model.h"
#include "quant/quant_attention.h"
#include "quant/quant_conv2d.h"
#include "quant/quant_linear.h"
#include "quant/quantize_model.h"
#include "quant/wreshape.h"

namespace raoq::imc {

namespace {
// A quantized layer's code bits and placement as the model holds them.
struct Placement {
  std::string path;
  int bits = 0;
  bool on_array = false;
  bool weight_layer = false;  // Conv2d / Linear (attention's Q K^T: false)
};

std::vector<Placement> placements(Module& model) {
  std::vector<Placement> out;
  for (auto& [path, m] : model.named_modules()) {
    if (auto* c = dynamic_cast<quant::QuantConv2d*>(m.get())) out.push_back({path, c->qopts.bx, c->on_array, true});
    else if (auto* l = dynamic_cast<quant::QuantLinear*>(m.get())) out.push_back({path, l->qopts.bx, l->on_array, true});
    else if (auto* a = dynamic_cast<quant::QuantAttention*>(m.get())) out.push_back({path, a->aopts.bits, a->on_array, false});
  }
  return out;
}

std::string listing(const std::vector<Placement>& ps) {
  std::string s;
  for (size_t i = 0; i < ps.size() && i < 8; ++i) s += (i ? ", " : "") + ps[i].path;
  if (ps.size() > 8) s += ", ... (" + std::to_string(ps.size()) + " in all)";
  return s.empty() ? "none" : s;
}

// Every glob matches; placement agrees with the model. A layer quantized by this call follows the
// overrides by construction; one quantized before keeps what it has, which must be what they say.
void check_overrides(Module& model, const MethodConfig& m, const std::string& where) {
  const std::vector<Placement> ps = placements(model);
  for (const Placement& p : ps) {  // what the overrides, in order, make of this layer
    int bits = 0;
    std::string bits_at, off_at;
    for (size_t i = 0; i < m.overrides.size(); ++i) {
      const LayerOverride& o = m.overrides[i];
      if (!quant::path_matches(o.layers, p.path)) continue;
      if (o.bits && p.weight_layer) bits = o.bits, bits_at = where + "." + o.where;
      if (o.off_array) off_at = where + "." + o.where;
    }
    RAOQ_CHECK(off_at.empty() || !p.on_array, off_at, ".off_array is true but layer '", p.path,
               "' of the model it starts from is on the array; put the same override in the stage that quantized it");
    RAOQ_CHECK(!bits || p.bits == bits, bits_at, ".bits is ", bits, " but layer '", p.path,
               "' of the model it starts from has ", p.bits, "-bit codes; put the same override in the stage that"
               " quantized it");
  }
  for (const LayerOverride& o : m.overrides) {
    const std::string at = where + "." + o.where;
    bool any = false, any_array = false, any_weight = false;
    for (const Placement& p : ps) {
      if (!quant::path_matches(o.layers, p.path)) continue;
      any = true, any_array = any_array || p.on_array, any_weight = any_weight || p.weight_layer;
    }
    RAOQ_CHECK(any, at, ".layers \"", o.layers, "\" matches no quantized layer (they are: ", listing(ps), ")");
    RAOQ_CHECK(!o.bits || any_weight, at, ".layers \"", o.layers,
               "\" sets bits but matches no weight layer (attention's Q K^T takes the stage's bits)");
    RAOQ_CHECK(!m.on_arrays || o.adc.empty() || any_array, at, ".layers \"", o.layers,
               "\" sets hardware keys but matches no layer on the array");
  }
}

// The hardware of the array layer at path: the stage's, then every matching override's keys.
AdcConfig resolved_config(const MethodConfig& m, const std::string& path, const quant::QuantOptions& q,
                          const std::string& where) {
  AdcConfig c = m.adc;
  c.bx = q.bx, c.bw = q.bw;
  for (const LayerOverride& o : m.overrides) {
    if (o.adc.empty() || !quant::path_matches(o.layers, path)) continue;
    JsonFields f(o.adc, where + "." + o.where);
    c = adc_config_from_json(f, c);  // validates, naming the override's keys
    f.finish();
  }
  return c;
}
}  // namespace

void apply_method(Module& model, const MethodConfig& m, const std::string& where) {
  quant::QuantizeRules rules;
  rules.body = quant::QuantOptions{m.bits, m.bits, !m.ashift, m.ashift, m.per_channel};
  rules.body_paths = m.unsigned_inputs;
  rules.signed_body = quant::QuantOptions{m.bits, m.bits, true, m.ashift, m.per_channel};
  rules.attention.bits = m.bits;  // Q K^T on the arrays at the array layers' width
  for (const LayerOverride& o : m.overrides) {
    if (o.off_array) rules.off_array.push_back(o.layers);
    if (o.bits) rules.bits.emplace_back(o.layers, o.bits);
  }
  quant::quantize_model(model, rules);
  check_overrides(model, m, where);
  if (m.on_arrays) {
    ImcRules ir;
    ir.base = m.adc;
    ir.base.bx = ir.base.bw = m.bits;
    to_imc(model, ir);
    // Every array layer (converted now or by an earlier stage) takes this stage's hardware.
    for (auto& [path, layer] : imc_layers(model)) {
      layer->config = resolved_config(m, path, layer->quant_options(), where);
      layer->ba_offset = layer->config.ba - m.adc.ba;  // BitAug moves it with the others
      try {
        layer->check_config();
      } catch (const Error& e) {
        throw Error(where + ": layer '" + path + "': " + e.what());
      }
    }
  }
  set_imc_mode(model, m.on_arrays ? ImcMode::array : ImcMode::qat);
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

std::vector<LayerHardware> layer_hardware(Module& model) {
  std::vector<LayerHardware> out;
  for (auto& [path, m] : model.named_modules()) {
    if (auto* l = dynamic_cast<ImcLayer*>(m.get())) {
      out.push_back({path, l->quant_options().bx, true, l->layer_config()});
      continue;
    }
    if (auto* c = dynamic_cast<quant::QuantConv2d*>(m.get())) out.push_back({path, c->qopts.bx, false, {}});
    else if (auto* q = dynamic_cast<quant::QuantLinear*>(m.get())) out.push_back({path, q->qopts.bx, false, {}});
    else if (auto* a = dynamic_cast<quant::QuantAttention*>(m.get())) out.push_back({path, a->aopts.bits, false, {}});
  }
  return out;
}

Json layer_hardware_to_json(const std::vector<LayerHardware>& layers) {
  Json j = Json::array();
  for (const LayerHardware& l : layers) {
    Json e = {{"layer", l.path}, {"bits", l.bits}, {"on_array", l.on_array}};
    if (l.on_array) e["adc"] = adc_config_to_json(l.config);
    j.push_back(e);
  }
  return j;
}

Tensor method_loss(Module& model, const MethodConfig& m, const Tensor& task_loss) {
  if (m.wreshape <= 0.0) return task_loss;
  const std::vector<Tensor> kappas = quant::wreshape_kurtoses(model);
  if (kappas.empty()) return task_loss;
  return ops::add(task_loss, quant::wreshape_loss(kappas, static_cast<float>(m.wreshape)));
}

}  // namespace raoq::imc
