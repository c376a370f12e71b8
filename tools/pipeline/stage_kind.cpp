// tools/pipeline/stage_kind.cpp — the stage kinds fp, qat and adc: their keys, their hooks into
// the trainer, and the table that holds them (contract in stage_kind.h).
#include "tools/pipeline/stage_kind.h"

#include <algorithm>

#include "core/error.h"
#include "core/ops.h"
#include "imc/adc_json.h"
#include "imc/lora.h"
#include "layers/batch_norm2d.h"
#include "layers/layer_norm.h"
#include "quant/quantizer.h"
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

// adc.overrides: [{"layers": GLOB, "off_array": bool, "bits": int, ...hardware keys}, ...]. The
// hardware keys are checked here against the stage's hardware (types and ranges, adc_json.h);
// whether each glob matches a layer is checked when the stage converts its model (imc/method.h).
std::vector<imc::LayerOverride> parse_overrides(JsonFields& adc, const imc::AdcConfig& stage_hw, bool hardware) {
  std::vector<imc::LayerOverride> out;
  const Json& list = adc.array("overrides");
  for (size_t i = 0; i < list.size(); ++i) {
    const std::string at = join_index(adc.key_path("overrides"), i);
    if (!list[i].is_object()) throw Error("config: " + at + " must be an object {\"layers\": GLOB, ...} (got " +
                                          json_brief(list[i]) + ")");
    JsonFields e(list[i], at);
    imc::LayerOverride o;
    o.where = at.substr(at.find(".adc.") + 1);  // "adc.overrides[i]": apply_method prefixes the stage
    o.layers = e.string("layers", std::nullopt);
    if (o.layers.empty()) e.fail("layers", "must not be empty (a glob over layer paths, e.g. \"features.3.*\")");
    o.off_array = e.boolean("off_array", false);
    o.bits = static_cast<int>(e.integer("bits", 0, 0, 8));
    if (o.bits == 1) e.fail("bits", "must be in [2, 8] (0: the stage's bits) (got 1)");
    for (auto it = list[i].begin(); it != list[i].end(); ++it)
      if (it.key() != "layers" && it.key() != "off_array" && it.key() != "bits") o.adc[it.key()] = it.value();
    if (!o.adc.empty() && !hardware)
      e.fail(o.adc.begin().key(), "is a hardware key; a qat stage has no arrays (put it in the adc stage's overrides)");
    if (!o.off_array && !o.bits && o.adc.empty())
      e.fail("layers", "names layers but the override changes nothing (give off_array, bits or a hardware key)");
    imc::AdcConfig probe = stage_hw;
    if (o.bits) probe.bx = probe.bw = o.bits;
    JsonFields h(o.adc, at);
    (void)imc::adc_config_from_json(h, probe);  // the one reader validates the keys and their values
    h.finish();
    out.push_back(std::move(o));
  }
  return out;
}

void write_overrides(const QuantStageConfig& q, Json& adc) {
  if (q.overrides.empty()) return;
  Json list = Json::array();
  for (const auto& o : q.overrides) {
    Json e = o.adc;
    e["layers"] = o.layers;
    if (o.off_array) e["off_array"] = true;
    if (o.bits) e["bits"] = o.bits;
    list.push_back(e);
  }
  adc["overrides"] = list;
}

void parse_qat(JsonFields& f, StageConfig& s) {
  QuantStageConfig& q = s.quant;
  parse_quant_common(f, q);
  q.ashift = f.boolean("ashift", true);
  q.wreshape = f.number("wreshape", 0.0, Range::non_negative());
  if (f.has("adc")) {  // placement overrides only: a qat stage computes no arrays
    JsonFields a(f.object("adc"), f.key_path("adc"));
    imc::AdcConfig hw;
    hw.bx = hw.bw = static_cast<int>(q.bits);
    q.overrides = parse_overrides(a, hw, /*hardware=*/false);
    a.finish();
  }
}

void parse_lora(JsonFields& f, LoraStageConfig& l) {
  JsonFields j(f.object("lora"), f.key_path("lora"));
  l.enabled = true;
  l.lora.rank = j.integer("rank", 8, 1, 4096);
  l.lora.alpha = j.number("alpha", 0.0, Range::non_negative());
  l.lora.targets = j.strings("targets", std::nullopt);
  if (l.lora.targets.empty()) j.fail("targets", "is empty: name the layers to adapt, e.g. [\"*.qkv_proj\", \"*.fc?\"]");
  const std::string init = j.choice("init", "hu", {"hu", "svd", "adc_mse"});
  l.lora.init = init == "svd" ? imc::LoraInit::svd : init == "adc_mse" ? imc::LoraInit::adc_mse : imc::LoraInit::hu;
  l.init_steps = j.integer("init_steps", init == "adc_mse" ? 20 : 0, 0);
  if (init != "adc_mse" && l.init_steps > 0)
    j.fail("init_steps", "is adc_mse's Eq. 12 phase; with init \"" + init + "\" it must be 0 (got " +
                             std::to_string(l.init_steps) + ")");
  if (init == "adc_mse" && l.init_steps == 0) j.fail("init_steps", "must be >= 1 with init \"adc_mse\"");
  l.lora.svd_rounds = j.integer("svd_rounds", 5, 1, 100);
  l.lr = j.number("lr", 0.0, Range::non_negative());
  l.train_norms = j.boolean("train_norms", false);
  j.finish();
}

void write_lora(const LoraStageConfig& l, Json& st) {
  if (!l.enabled) return;
  st["lora"] = {{"rank", l.lora.rank},         {"alpha", l.lora.alpha},   {"targets", l.lora.targets},
                {"init", imc::to_string(l.lora.init)}, {"init_steps", l.init_steps},
                {"svd_rounds", l.lora.svd_rounds}, {"lr", l.lr},      {"train_norms", l.train_norms}};
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
    q.overrides = parse_overrides(a, q.adc, /*hardware=*/true);
    a.finish();
  }
  q.ashift = f.boolean("ashift", raoq);
  if (!q.ashift && !q.adc.signed_input && q.adc.representation == quant::Representation::zero_one)
    f.fail("ashift", "must be true on an unsigned-input array (adc.signed_input false): it takes unsigned codes only");
  q.wreshape = f.number("wreshape", raoq ? 0.002 : 0.0, Range::non_negative());
  q.bitaug = f.boolean("bitaug", raoq);
  q.bitaug_offsets = f.integers("bitaug_offsets", std::vector<int64_t>{-1, 1, 2}, -64, 64);
  q.bitaug_bn_update = f.boolean("bitaug_bn_update", false);
  if (f.has("lora")) parse_lora(f, q.lora);
  q.finetune = f.boolean("finetune", true);
  if (!q.finetune && q.lora.enabled)
    f.fail("finetune", "is false (evaluate only), but the stage has a lora block, which trains adapters");
  if (f.has("sweep")) {  // written by the sweep kind's expansion
    JsonFields w(f.object("sweep"), f.key_path("sweep"));
    s.sweep.name = w.string("name", std::nullopt);
    if (s.sweep.name.empty()) w.fail("name", "must name the sweep stage (got \"\")");
    s.sweep.point = w.integer("point", std::nullopt, 1);
    s.sweep.points = w.integer("points", std::nullopt, s.sweep.point);
    s.sweep.values = w.object("values", true);
    w.finish();
  }
  if (!q.bitaug && q.bitaug_offsets.empty()) return;
  try {
    bitaug_config(s, 0).validate(f.key_path("bitaug_offsets"));
    for (const auto& o : q.overrides)  // a layer with its own ba moves by the same offsets
      if (q.bitaug && o.adc.contains("ba")) {
        imc::BitAugConfig c = bitaug_config(s, 0);
        c.ba = o.adc["ba"].get<int>();
        c.validate(f.key_path("bitaug_offsets") + " (with " + o.where + ".ba " + std::to_string(c.ba) + ")");
      }
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

void write_qat(const StageConfig& s, Json& st) {
  write_quant_common(s.quant, st);
  if (s.quant.overrides.empty()) return;
  st["adc"] = Json::object();
  write_overrides(s.quant, st["adc"]);
}

void write_adc(const StageConfig& s, Json& st) {
  const QuantStageConfig& q = s.quant;
  write_quant_common(q, st);
  st["method"] = q.method;
  st["adc"] = imc::adc_config_to_json(q.adc);
  write_overrides(q, st["adc"]);
  st["bitaug"] = q.bitaug;
  st["bitaug_offsets"] = q.bitaug_offsets;
  st["bitaug_bn_update"] = q.bitaug_bn_update;
  write_lora(q.lora, st);
  st["finetune"] = q.finetune;
  if (s.sweep.active())
    st["sweep"] = {{"name", s.sweep.name}, {"point", s.sweep.point}, {"points", s.sweep.points},
                   {"values", s.sweep.values}};
}

// ---- qat and adc: the hooks

void convert_quantized(Module& model, const StageConfig& s, const std::string& where) {
  imc::apply_method(model, method_config(s), "config: " + where);
}

uint64_t name_seed(const std::string& name) {  // FNV-1a: a stage's adapters draw from their own stream
  uint64_t h = 1469598103934665603ULL;
  for (unsigned char c : name) h = (h ^ c) * 1099511628211ULL;
  return h;
}

// ADC-LoRA: adapters on the targeted layers, then everything frozen but them, the quantizers'
// scales and offsets, and (train_norms) the normalisation layers.
void convert_adc(Module& model, const StageConfig& s, const std::string& where) {
  convert_quantized(model, s, where);
  const LoraStageConfig& l = s.quant.lora;
  if (!l.enabled) return;
  Generator gen(name_seed(s.name));
  imc::attach_lora(model, l.lora, gen, "config: " + where);
  for (auto& [path, m] : model.named_modules()) {
    const bool trains = dynamic_cast<imc::LoraAdapter*>(m.get()) || dynamic_cast<quant::ActQuantizer*>(m.get()) ||
                        dynamic_cast<quant::WeightQuantizer*>(m.get()) ||
                        (l.train_norms && (dynamic_cast<LayerNorm*>(m.get()) || dynamic_cast<BatchNorm2d*>(m.get())));
    for (auto& [name, p] : m->named_parameters())
      if (name.find('.') == std::string::npos) p.set_requires_grad(trains);  // the module's own parameters
  }
}

bool lora_mse_phase(const StageConfig& s, int64_t stage_step) {
  const LoraStageConfig& l = s.quant.lora;
  return l.enabled && l.lora.init == imc::LoraInit::adc_mse && stage_step < l.init_steps;
}

void adc_before_step(Module& model, const StageConfig& s, const StageStep& step) {
  if (s.quant.lora.enabled) imc::set_lora_mse(model, lora_mse_phase(s, step.stage_step));
}

Tensor quantized_loss(Module& model, const StageConfig& s, const Tensor& task_loss) {
  return imc::method_loss(model, method_config(s), task_loss);  // + lambda_k sum kappa (W-reshape)
}

// In ADC-LoRA's Eq. 12 phase the step minimises the layers' objectives instead of the task loss.
Tensor adc_loss(Module& model, const StageConfig& s, const Tensor& task_loss) {
  if (imc::lora_mse_armed(model)) return imc::lora_mse_objective(model).total;
  return quantized_loss(model, s, task_loss);
}

// BitAug's second pass (RAOQ Eq. 9): the gradients of lambda_b * loss at ba~ add to those at ba.
// In the Eq. 12 phase: only A and B move (the scales' gradients are dropped), and the objective
// of each layer is logged.
Json adc_after_backward(Module& model, const StageConfig& s, const StageStep& step) {
  if (imc::lora_mse_armed(model)) {
    const imc::LoraMseObjective o = imc::lora_mse_objective(model);
    for (auto& [name, p] : model.named_parameters())
      if (name.find(".lora.") == std::string::npos) p.set_grad(Tensor());
    imc::set_lora_mse(model, false);
    Json layers = Json::object();
    for (const auto& [path, v] : o.per_layer) layers[path] = v;
    return {{"kind", "lora_init"}, {"stage", s.name}, {"stage_step", step.stage_step + 1},
            {"step", step.global_step + 1}, {"objective", o.total.item()}, {"layers", layers}};
  }
  if (!s.quant.bitaug) return nullptr;
  const imc::BitAugConfig c = bitaug_config(s, step.seed);
  const float smoothing = static_cast<float>(s.label_smoothing);
  imc::bitaug_backward(model, c, imc::bitaug_bits(c, step.global_step),
                       imc::bitaug_lambda(step.stage_step, step.stage_steps),
                       [&] {
                         const Tensor loss = batch_loss(model, StepBatch{step.x, step.y, step.rows}, smoothing);
                         return step.loss_weight == 1.0f ? loss : ops::scale(loss, step.loss_weight);
                       });
  return nullptr;
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
  adc.convert = convert_adc;
  adc.loss = adc_loss;
  adc.before_step = adc_before_step;
  adc.after_backward = adc_after_backward;
  adc.default_label = adc_label;
  StageKind sweep;  // never reaches the trainer: the config reader expands it into adc stages
  sweep.name = "sweep";
  sweep.help = "a grid of hardware points on the arrays, each evaluated (and optionally fine-tuned) from one checkpoint";
  sweep.expand = expand_grid_sweep;
  return {fp, qat, adc, sweep};
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
  imc::merge_lora(model);  // an earlier stage's adapters become part of the weights
  for (auto& [name, p] : model.named_parameters()) p.set_requires_grad(true);
  if (const auto f = kind_of(s).convert) f(model, s, where);
}

Tensor stage_loss(Module& model, const StageConfig& s, const Tensor& task_loss) {
  const auto f = kind_of(s).loss;
  return f ? f(model, s, task_loss) : task_loss;
}

void before_step(Module& model, const StageConfig& s, const StageStep& step) {
  if (const auto f = kind_of(s).before_step) f(model, s, step);
}

Json after_backward(Module& model, const StageConfig& s, const StageStep& step) {
  if (const auto f = kind_of(s).after_backward) return f(model, s, step);
  return nullptr;
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
  m.overrides = q.overrides;
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
