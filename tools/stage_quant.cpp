// tools/stage_quant.cpp — model conversion, W-reshape loss and BitAug for the qat and adc stages.
#include "tools/stage_quant.h"

#include <cmath>
#include <optional>
#include <utility>
#include <vector>

#include "core/error.h"
#include "core/ops.h"
#include "imc/imc_model.h"
#include "models/registry.h"
#include "quant/quantize_model.h"
#include "quant/wreshape.h"

namespace raoq::tools {

imc::AdcConfig adc_config(const StageConfig& s) {
  const QuantStageConfig& q = s.quant;
  imc::AdcConfig a;
  a.rows = q.rows;
  a.cols = q.cols;
  a.bx = a.bw = static_cast<int>(q.bits);
  a.ba = static_cast<int>(q.ba);
  a.k = static_cast<int>(q.k);
  a.signed_input = q.signed_input;
  a.representation = quant::representation_from_string(q.representation);
  a.mapping = imc::mapping_from_string(q.mapping);
  a.weight_noise = static_cast<float>(q.weight_noise);
  a.output_noise = static_cast<float>(q.output_noise);
  return a;
}

void convert_for_stage(Module& model, const StageConfig& s, const std::string& where) {
  if (s.kind != "qat" && s.kind != "adc") return;
  const QuantStageConfig& q = s.quant;
  quant::QuantizeRules rules;
  // ashift off: the vanilla QAT* "signed quantization" (signed codes, zero offset, DESIGN.md).
  rules.body =
      quant::QuantOptions{static_cast<int>(q.bits), static_cast<int>(q.bits), !q.ashift, q.ashift, q.per_channel};
  quant::quantize_model(model, rules);
  if (s.kind == "adc") {
    imc::ImcRules ir;
    ir.base = adc_config(s);
    imc::to_imc(model, ir);
  }
  imc::set_array_enabled(model, s.kind == "adc");
  if (s.kind == "adc") imc::set_adc_bits(model, static_cast<int>(q.ba));
  // A stage that continues a model quantized another way would silently train that other way.
  for (auto& [path, layer] : imc::imc_layers(model)) {
    const bool signed_codes = layer->activation_quantizer().signed_codes;
    RAOQ_CHECK(signed_codes != q.ashift, "config: ", where, ".ashift is ", q.ashift ? "true" : "false", " but layer '",
               path, "' of the model it starts from has ", signed_codes ? "signed" : "unsigned",
               " activation codes; start from a stage trained with ashift ", signed_codes ? "false" : "true",
               " (init_from)");
  }
}

Tensor stage_loss(Module& model, const StageConfig& s, const Tensor& task_loss) {
  if ((s.kind != "qat" && s.kind != "adc") || s.quant.wreshape <= 0.0) return task_loss;
  const std::vector<Tensor> kappas = quant::wreshape_kurtoses(model);
  if (kappas.empty()) return task_loss;
  return ops::add(task_loss, quant::wreshape_loss(kappas, static_cast<float>(s.quant.wreshape)));
}

bool uses_bitaug(const StageConfig& s) { return s.kind == "adc" && s.quant.bitaug; }

double bitaug_lambda(int64_t stage_step, int64_t stage_steps) {
  if (stage_steps <= 1) return 1.0;
  const double t = static_cast<double>(stage_step) / static_cast<double>(stage_steps - 1);
  return 0.5 * (1.0 + std::cos(M_PI * std::min(1.0, t)));
}

int bitaug_bits(const StageConfig& s, uint64_t seed, int64_t global_step) {
  // splitmix64 of (seed, step): independent of thread count and of where a run was resumed.
  uint64_t z = seed * 0x9E3779B97F4A7C15ULL + static_cast<uint64_t>(global_step) + 0x632BE59BD9B4E019ULL;
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
  z ^= z >> 31;
  const auto& offsets = s.quant.bitaug_offsets;
  return static_cast<int>(s.quant.ba + offsets[z % offsets.size()]);
}

namespace {
// A model's buffers (BatchNorm running statistics), copied, and put back on destruction: BitAug's
// pass at ba~ normalises with its own batch statistics (train mode) but must not move the running
// ones, which eval mode uses at the target ba. At ba = 6 the ba~ = 5 pass's column sums are
// coarser and biased differently (floor ADC), and letting them in cost the demo's RAOQ model about
// half a point of test accuracy (measured by re-estimating the statistics at ba alone).
class BufferGuard {
 public:
  explicit BufferGuard(const Module& model) {
    for (const auto& [name, t] : model.named_buffers()) saved_.emplace_back(t, t.clone());
  }
  ~BufferGuard() {
    for (auto& [live, copy] : saved_) live.flat() = copy.flat();
  }
  BufferGuard(const BufferGuard&) = delete;
  BufferGuard& operator=(const BufferGuard&) = delete;

 private:
  std::vector<std::pair<Tensor, Tensor>> saved_;  // (the module's buffer, its value before the pass)
};
}  // namespace

double bitaug_backward(Module& model, const StageConfig& s, const Tensor& x, const std::vector<int64_t>& y,
                       int64_t stage_step, int64_t stage_steps, uint64_t seed, int64_t global_step) {
  const double lambda = bitaug_lambda(stage_step, stage_steps);
  std::optional<BufferGuard> keep_buffers;
  if (!s.quant.bitaug_bn_update) keep_buffers.emplace(model);
  imc::set_adc_bits(model, bitaug_bits(s, seed, global_step));
  double value = 0.0;
  try {
    Tensor loss = ops::cross_entropy(model.forward(x), y, static_cast<float>(s.label_smoothing));
    value = loss.item();
    if (lambda > 0.0) ops::scale(loss, static_cast<float>(lambda)).backward();
  } catch (...) {
    imc::set_adc_bits(model, static_cast<int>(s.quant.ba));
    throw;
  }
  imc::set_adc_bits(model, static_cast<int>(s.quant.ba));
  return value;
}

std::shared_ptr<Module> build_model_for_stage(const Config& config, int64_t si) {
  if (si < 0) return models::build_from_json(config.model, "config", "model");
  const StageConfig& s = config.stages[static_cast<size_t>(si)];
  int64_t from = si - 1;
  if (!s.init_from.empty()) {
    from = -2;
    for (size_t i = 0; i < config.stages.size(); ++i)
      if (config.stages[i].name == s.init_from) from = static_cast<int64_t>(i);
    RAOQ_CHECK(from >= 0 && from < si, "config: stages[", si, "].init_from names no earlier stage");
  }
  auto m = build_model_for_stage(config, from);
  convert_for_stage(*m, s, "stages[" + std::to_string(si) + "]");
  return m;
}

}  // namespace raoq::tools
