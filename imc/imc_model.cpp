// imc/imc_model.cpp — to_imc and the model-wide switches (contract in imc_model.h).
#include "imc/imc_model.h"

#include "core/error.h"
#include "imc/imc_attention.h"
#include "imc/imc_conv2d.h"
#include "imc/imc_linear.h"
#include "quant/quantize_model.h"

namespace raoq::imc {

namespace {
// A QAT layer placed on the array (on_array) that is not an IMC layer yet.
bool converts(const Module& m) {
  if (dynamic_cast<const ImcLayer*>(&m)) return false;
  if (auto* c = dynamic_cast<const quant::QuantConv2d*>(&m)) return c->on_array;
  if (auto* l = dynamic_cast<const quant::QuantLinear*>(&m)) return l->on_array;
  if (auto* a = dynamic_cast<const quant::QuantAttention*>(&m)) return a->on_array;
  return false;
}
// The IMC layer of a layer that converts(), on the hardware `config`.
std::shared_ptr<Module> imc_layer_for(Module& m, const AdcConfig& config) {
  if (auto* c = dynamic_cast<quant::QuantConv2d*>(&m)) return ImcConv2d::from(*c, config);
  if (auto* a = dynamic_cast<quant::QuantAttention*>(&m)) return ImcAttention::from(*a, config);
  return ImcLinear::from(dynamic_cast<quant::QuantLinear&>(m), config);
}
}  // namespace

std::vector<std::string> to_imc(Module& root, const ImcRules& rules) {
  // Module order: an attention layer is converted before its projections, which the IMC attention
  // keeps as they are (so their paths still lead to them).
  std::vector<std::pair<std::string, std::shared_ptr<Module>>> to_convert;
  for (auto& [path, m] : root.named_modules())
    if (!path.empty() && converts(*m)) to_convert.emplace_back(path, m);
  std::vector<std::string> converted;
  for (const auto& [path, m] : to_convert) {
    AdcConfig config = rules.base;
    for (const auto& [pattern, c] : rules.overrides)
      if (quant::path_matches(pattern, path)) {
        config = c;
        break;
      }
    std::shared_ptr<Module> replacement;
    try {
      replacement = imc_layer_for(*m, config);
    } catch (const Error& e) {
      throw Error("imc." + path + ": " + e.what());
    }
    root.replace_module(path, replacement);
    converted.push_back(path);
  }
  return converted;
}

std::vector<std::pair<std::string, ImcLayer*>> imc_layers(Module& root) {
  std::vector<std::pair<std::string, ImcLayer*>> layers;
  for (auto& [path, m] : root.named_modules())
    if (auto* l = dynamic_cast<ImcLayer*>(m.get())) layers.emplace_back(path, l);
  return layers;
}

void set_adc_bits(Module& root, int ba) {
  RAOQ_CHECK(ba >= 1 && ba <= 16, "set_adc_bits: ba must be in [1, 16] (got ", ba, ")");
  const auto layers = imc_layers(root);
  for (auto& [path, l] : layers)
    RAOQ_CHECK(ba + l->ba_offset >= 1 && ba + l->ba_offset <= 16, "set_adc_bits: layer '", path, "' would run at ba ",
               ba + l->ba_offset, " (", ba, " and its override's ", l->ba_offset > 0 ? "+" : "", l->ba_offset,
               "), outside [1, 16]");
  for (auto& [path, l] : layers) l->config.ba = ba + l->ba_offset;
}

void set_imc_mode(Module& root, ImcMode mode) {
  for (auto& [path, l] : imc_layers(root)) l->mode = mode;
}

void set_noise_generator(Module& root, Generator* gen) {
  for (auto& [path, l] : imc_layers(root)) l->noise = gen;
}

}  // namespace raoq::imc
