// tools/pipeline/stage_kind.cpp — the stage kinds fp, qat and adc: their keys, their hooks into
// the trainer, and the table that holds them (contract in stage_kind.h).
#include "tools/pipeline/stage_kind.h"

#include <algorithm>

#include "core/error.h"
#include "core/ops.h"
#include "imc/adc_json.h"
#include "models/registry.h"
#include "tools/pipeline/config.h"
#include "tools/pipeline/task.h"

namespace raoq::tools {
namespace {

// ---- qat and adc: the keys

void parse_quant_common(JsonFields& f, QuantStageConfig& q) {
  q.bits = f.integer("bits", 4, 2, 8);
  q.per_channel = f.boolean("per_channel", false);
  q.unsigned_inputs = f.strings("unsigned_inputs", std::vector<std::string>{"*"});
}

void parse_qat(JsonFields& f, StageConfig& s) {
  QuantStageConfig& q = s.quant;
  parse_quant_common(f, q);
  q.ashift = f.boolean("ashift", true);
  q.wreshape = f.number("wreshape", 0.0, Range::non_negative());
}

void parse_adc(JsonFields& f, StageConfig& s) {
  QuantStageConfig& q = s.quant;
  parse_quant_common(f, q);
  q.method = f.choice("method", "raoq", {"raoq", "vanilla"});
  const bool raoq = q.method == "raoq";
  {
    JsonFields a(f.object("adc"), f.key_path("adc"));
    imc::AdcConfig defaults;
    defaults.bx = defaults.bw = static_cast<int>(q.bits);
    q.adc = imc::adc_config_from_json(a, defaults);
    a.finish();
  }
  q.ashift = f.boolean("ashift", raoq);
  if (!q.ashift && !q.adc.signed_input && q.adc.representation == quant::Representation::zero_one)
    f.fail("ashift", "must be true on an unsigned-input array (adc.signed_input false): it takes unsigned codes only");
  q.wreshape = f.number("wreshape", raoq ? 0.002 : 0.0, Range::non_negative());
  q.bitaug = f.boolean("bitaug", raoq);
  q.bitaug_offsets = f.integers("bitaug_offsets", std::vector<int64_t>{-1, 1, 2}, -64, 64);
  q.bitaug_bn_update = f.boolean("bitaug_bn_update", false);
  if (!q.bitaug && q.bitaug_offsets.empty()) return;
  try {
    bitaug_config(s, 0).validate(f.key_path("bitaug_offsets"));
  } catch (const Error& e) {
    throw Error(f.what() + ": " + e.what());
  }
}

void write_quant_common(const QuantStageConfig& q, Json& st) {
  st["bits"] = q.bits;
  st["per_channel"] = q.per_channel;
  st["unsigned_inputs"] = q.unsigned_inputs;
  st["ashift"] = q.ashift;
  st["wreshape"] = q.wreshape;
}

void write_qat(const StageConfig& s, Json& st) { write_quant_common(s.quant, st); }

void write_adc(const StageConfig& s, Json& st) {
  const QuantStageConfig& q = s.quant;
  write_quant_common(q, st);
  st["method"] = q.method;
  st["adc"] = imc::adc_config_to_json(q.adc);
  st["bitaug"] = q.bitaug;
  st["bitaug_offsets"] = q.bitaug_offsets;
  st["bitaug_bn_update"] = q.bitaug_bn_update;
}

// ---- qat and adc: the hooks

void convert_quantized(Module& model, const StageConfig& s, const std::string& where) {
  imc::apply_method(model, method_config(s), "config: " + where);
}

Tensor quantized_loss(Module& model, const StageConfig& s, const Tensor& task_loss) {
  return imc::method_loss(model, method_config(s), task_loss);  // + lambda_k sum kappa (W-reshape)
}

// BitAug's second pass (RAOQ Eq. 9): the gradients of lambda_b * loss at ba~ add to those at ba.
void adc_after_backward(Module& model, const StageConfig& s, const StageStep& step) {
  if (!s.quant.bitaug) return;
  const imc::BitAugConfig c = bitaug_config(s, step.seed);
  const float smoothing = static_cast<float>(s.label_smoothing);
  imc::bitaug_backward(model, c, imc::bitaug_bits(c, step.global_step),
                       imc::bitaug_lambda(step.stage_step, step.stage_steps),
                       [&] { return batch_loss(model, StepBatch{step.x, step.y, step.rows}, smoothing); });
}

std::string adc_label(const StageConfig& s) { return s.quant.method; }

std::vector<StageKind> make_kinds() {
  StageKind fp;
  fp.name = "fp";
  fp.help = "full-precision training";
  StageKind qat;
  qat.name = "qat";
  qat.help = "quantization-aware training on the exact integer product (no ADC)";
  qat.quantized = true;
  qat.parse = parse_qat;
  qat.write = write_qat;
  qat.convert = convert_quantized;
  qat.loss = quantized_loss;
  StageKind adc;
  adc.name = "adc";
  adc.help = "fine-tuning on the IMC arrays with their ADCs in the loop";
  adc.quantized = true;
  adc.on_arrays = true;
  adc.parse = parse_adc;
  adc.write = write_adc;
  adc.expand = expand_sweep;
  adc.convert = convert_quantized;
  adc.loss = quantized_loss;
  adc.after_backward = adc_after_backward;
  adc.default_label = adc_label;
  return {fp, qat, adc};
}

}  // namespace

const std::vector<StageKind>& stage_kinds() {
  static const std::vector<StageKind> kinds = make_kinds();
  return kinds;
}

std::vector<std::string> stage_kind_names() {
  std::vector<std::string> names;
  for (const StageKind& k : stage_kinds()) names.push_back(k.name);
  return names;
}

const StageKind* find_stage_kind(const std::string& name) {
  for (const StageKind& k : stage_kinds())
    if (k.name == name) return &k;
  return nullptr;
}

const StageKind& kind_of(const StageConfig& s) {
  const StageKind* k = find_stage_kind(s.kind);
  RAOQ_CHECK(k, "stage '", s.name, "' has kind \"", s.kind, "\", which is none of ", Json(stage_kind_names()).dump());
  return *k;
}

void convert_for_stage(Module& model, const StageConfig& s, const std::string& where) {
  if (const auto f = kind_of(s).convert) f(model, s, where);
}

Tensor stage_loss(Module& model, const StageConfig& s, const Tensor& task_loss) {
  const auto f = kind_of(s).loss;
  return f ? f(model, s, task_loss) : task_loss;
}

void after_backward(Module& model, const StageConfig& s, const StageStep& step) {
  if (const auto f = kind_of(s).after_backward) f(model, s, step);
}

imc::MethodConfig method_config(const StageConfig& s) {
  const QuantStageConfig& q = s.quant;
  imc::MethodConfig m;
  m.bits = static_cast<int>(q.bits);
  m.per_channel = q.per_channel;
  m.ashift = q.ashift;
  m.unsigned_inputs = q.unsigned_inputs;
  m.wreshape = q.wreshape;
  m.on_arrays = kind_of(s).on_arrays;
  m.adc = q.adc;
  m.adc.bx = m.adc.bw = m.bits;
  return m;
}

imc::BitAugConfig bitaug_config(const StageConfig& s, uint64_t seed) {
  imc::BitAugConfig c;
  c.ba = s.quant.adc.ba;
  c.offsets.assign(s.quant.bitaug_offsets.begin(), s.quant.bitaug_offsets.end());
  c.update_buffers = s.quant.bitaug_bn_update;
  c.seed = seed;
  return c;
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
