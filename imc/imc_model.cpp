// imc/imc_model.cpp — to_imc and the model-wide switches (contract in imc_model.h).
#include "imc/imc_model.h"

#include "core/error.h"
#include "imc/imc_conv2d.h"
#include "imc/imc_linear.h"
#include "quant/quantize_model.h"

namespace raoq::imc {

std::vector<std::string> to_imc(Module& root, const ImcRules& rules) {
  std::vector<std::pair<std::string, std::shared_ptr<Module>>> todo;
  for (auto& [path, m] : root.named_modules()) {
    if (path.empty() || dynamic_cast<ImcLayer*>(m.get())) continue;
    auto c = std::dynamic_pointer_cast<quant::QuantConv2d>(m);
    auto l = std::dynamic_pointer_cast<quant::QuantLinear>(m);
    if ((c && c->on_array) || (l && l->on_array)) todo.emplace_back(path, m);
  }
  std::vector<std::string> converted;
  for (const auto& [path, m] : todo) {
    AdcConfig config = rules.base;
    for (const auto& [pattern, c] : rules.overrides)
      if (quant::path_matches(pattern, path)) {
        config = c;
        break;
      }
    std::shared_ptr<Module> replacement;
    try {
      if (auto c = std::dynamic_pointer_cast<quant::QuantConv2d>(m)) replacement = ImcConv2d::from(*c, config);
      else replacement = ImcLinear::from(*std::dynamic_pointer_cast<quant::QuantLinear>(m), config);
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
  for (auto& [path, l] : imc_layers(root)) l->config.ba = ba;
}

void set_imc_mode(Module& root, ImcMode mode) {
  for (auto& [path, l] : imc_layers(root)) l->mode = mode;
}

void set_noise_generator(Module& root, Generator* gen) {
  for (auto& [path, l] : imc_layers(root)) l->noise = gen;
}

}  // namespace raoq::imc
