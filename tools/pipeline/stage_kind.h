// tools/pipeline/stage_kind.h — the table of stage kinds: each kind's name, the keys it reads,
// what it does to the model and the loss at run time, and what it adds to the results. The
// trainer, the config reader and the commands ask the table; no kind is named anywhere else.
//
//   fp    full-precision training
//   qat   quantization-aware training on the exact integer product (no ADC): imc::apply_method
//         with the stage's bits, ashift and wreshape
//   adc   fine-tuning on the IMC arrays with their ADCs in the loop, BitAug per step (imc/bitaug.h)
//
//   {"kind": "qat", "bits": 4, "ashift": true, "wreshape": 0.002, "per_channel": false, "init_from": "fp"}
//   {"kind": "adc", "method": "raoq", "bits": 4, "init_from": "qat", "adc": {...imc/adc_json.h...},
//    "ashift": true, "wreshape": 0.002, "bitaug": true, "bitaug_offsets": [-1, 1, 2], "bitaug_bn_update": false,
//    "lora": {"rank": 8, "targets": ["*.fc?"], "init": "adc_mse", "init_steps": 20}}
// `method` only sets the defaults of the three switches (raoq: all on; vanilla: all off, the
// vanilla QAT* baseline of DESIGN.md); each switch can be set on its own for ablations. ashift
// false means signed activation codes with zero offset on array layers ("signed quantization");
// on an unsigned-input array that is an error, so vanilla there keeps unsigned codes.
//
// A new kind is one more entry in stage_kind.cpp's table (and its keys in `raoq help config`).
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "core/json_fields.h"
#include "core/tensor.h"
#include "imc/adc.h"
#include "imc/bitaug.h"
#include "imc/lora.h"
#include "imc/method.h"
#include "layers/module.h"

namespace raoq::tools {

struct StageConfig;
struct Config;

// An adc stage's "lora" block: ADC-LoRA (imc/lora.h). W of every targeted array layer is
// frozen, as is every other weight, bias and embedding; A and B train, with the quantizers'
// scales (and the LayerNorm/BatchNorm parameters when train_norms).
struct LoraStageConfig {
  bool enabled = false;
  imc::LoraConfig lora;
  int64_t init_steps = 0;    // tau: adc_mse's Eq. 12 steps at the start of the stage (part of its steps)
  double lr = 0.0;           // the adapters' learning rate; 0: the stage's optimizer.lr
  bool train_norms = false;  // LayerNorm and BatchNorm parameters train as well
};

// The keys of the quantized kinds (qat and adc).
struct QuantStageConfig {
  int64_t bits = 4;          // activation and weight bits of the array layers (edges stay 8-bit)
  bool per_channel = false;  // per-output-channel weight scales
  bool ashift = true;        // unsigned LSQ+ codes shifted by 2^(bx-1); false: signed codes, no offset
  std::vector<std::string> unsigned_inputs{"*"};  // the array layers A-shift applies to (imc/method.h)
  double wreshape = 0.0;     // lambda_k of Eq. 7; 0 = off
  std::vector<imc::LayerOverride> overrides;  // adc.overrides (a qat stage: placement keys only)
  // adc only
  std::string method;  // raoq | vanilla
  imc::AdcConfig adc;  // the hardware (its bx, bw are `bits`)
  bool bitaug = false;
  std::vector<int64_t> bitaug_offsets{-1, 1, 2};
  bool bitaug_bn_update = false;  // BitAug's pass at ba~ also moves BatchNorm running statistics
  LoraStageConfig lora;
  // false: the stage only evaluates its starting model on the arrays (no training step; its
  // test figure is the one before fine-tuning)
  bool finetune = true;
};

// Where an adc stage sits in a hardware sweep (kind "sweep", stage_sweep.cpp); `name` empty: in none.
struct SweepPoint {
  std::string name;                // the sweep stage's name
  int64_t point = 0, points = 0;   // 1-based position among the sweep's (point, method) stages
  Json values = Json::object();    // the grid's key paths and this point's values {"adc.ba": 6, ...}
  bool active() const { return !name.empty(); }
};

// What a kind's after_backward hook sees of the step.
struct StageStep {
  const Tensor& x;                   // the batch
  const std::vector<int64_t>& y;     // its targets
  const std::vector<int64_t>& rows;  // the logit rows they score (a masked LM's positions); empty: all
  int64_t stage_step = 0, stage_steps = 1;
  uint64_t seed = 0;  // the run's seed
  int64_t global_step = 0;
  // A data-parallel rank's weight on its slice's mean loss, N n_r / n (data_parallel.h); 1 otherwise.
  float loss_weight = 1.0f;
};

struct StageKind {
  std::string name;
  std::string help;        // one line for `raoq help config`
  bool quantized = false;  // the model holds quantizers: its ashift must match the stage it starts from
  // The ADC is in the loop: the stage first evaluates its starting model with the ADC inserted (the
  // results row LABEL_noft), its results rows carry adc.ba, and `raoq inspect` looks at it.
  bool on_arrays = false;
  // Reads the kind's own keys of a stage (f: the stage object) into s.quant; null: none.
  void (*parse)(JsonFields& f, StageConfig& s) = nullptr;
  // Adds the resolved form of those keys to `stage`; null: none.
  void (*write)(const StageConfig& s, Json& stage) = nullptr;
  // The stages a raw stage object stands for (a sweep); null: the stage itself.
  std::vector<Json> (*expand)(const Json& stage, const std::string& path, const std::string& default_name) = nullptr;
  // Converts the model at the start of the stage (in place, idempotent); null: nothing.
  void (*convert)(Module& model, const StageConfig& s, const std::string& where) = nullptr;
  // The training loss from the task loss; null: the task loss.
  Tensor (*loss)(Module& model, const StageConfig& s, const Tensor& task_loss) = nullptr;
  // Before the step's forward (ADC-LoRA arms its Eq. 12 phase); null: nothing.
  void (*before_step)(Module& model, const StageConfig& s, const StageStep& step) = nullptr;
  // More gradient passes after the step's loss.backward(), before the optimizer step; null: none.
  // Returns a row for metrics.jsonl (null: none), e.g. Eq. 12's objective per layer.
  Json (*after_backward)(Module& model, const StageConfig& s, const StageStep& step) = nullptr;
  // The method name of the stage's results rows when the config gives no label; null: the stage name.
  std::string (*default_label)(const StageConfig& s) = nullptr;
};

const std::vector<StageKind>& stage_kinds();
std::vector<std::string> stage_kind_names();
const StageKind* find_stage_kind(const std::string& name);  // null when unknown
const StageKind& kind_of(const StageConfig& s);             // throws raoq::Error listing the kinds

// The kind's hooks with their defaults (nothing, or the task loss, when the kind has none).
// convert_for_stage first merges any LoRA adapters of an earlier stage into their weights and makes
// every parameter trainable again, then runs the kind's conversion.
void convert_for_stage(Module& model, const StageConfig& s, const std::string& where);
Tensor stage_loss(Module& model, const StageConfig& s, const Tensor& task_loss);
void before_step(Module& model, const StageConfig& s, const StageStep& step);
Json after_backward(Module& model, const StageConfig& s, const StageStep& step);

// The library's view of a quantized stage: RAOQ's switches, and BitAug's configuration.
imc::MethodConfig method_config(const StageConfig& s);
imc::BitAugConfig bitaug_config(const StageConfig& s, uint64_t seed);

// A freshly built model (config.model) with the structure it has once stage si is converted
// (following init_from); si < 0 gives the float model. Load a checkpoint of that stage into it.
std::shared_ptr<Module> build_model_for_stage(const Config& config, int64_t si);

// The sweep kind (stage_sweep.cpp): a grid of hardware points on the arrays, each evaluated from
// one starting checkpoint and optionally fine-tuned, vanilla and RAOQ side by side:
//   {"kind": "sweep", "name": "rows", "methods": ["vanilla", "raoq"],
//    "init_from": {"vanilla": "qat_vanilla", "raoq": "qat"},
//    "grid": {"adc.rows": [128, 256, 512]}, "finetune_steps": 100, "keep_checkpoints": false,
//    ...any adc stage key (adc, bits, bitaug, optimizer, batch_size, ...)...}
// stands for one adc stage per (point, method), points in the grid's product order (keys as
// written, the last varying fastest), each named "<name>-<method>-<key><value>..." and carrying its place
// ("sweep": {"name", "point", "points", "values"}). A grid key is any key path of an adc stage
// (set like --set); finetune_steps 0 evaluates only ("finetune": false). Unless keep_checkpoints,
// the points write no stage checkpoint (a later stage cannot start from one).
std::vector<Json> expand_grid_sweep(const Json& stage, const std::string& path, const std::string& default_name);

// The adc kind's sweep (stage_sweep.cpp): an adc stage with "methods": [...] and/or a list
// "adc": {"ba": [...]} stands for one stage per (method, ba), in that order, named
// "<name>-<method>-ba<ba>"; "init_from" may then be an object naming the stage each method
// starts from ({"vanilla": "qat_vanilla", "raoq": "qat"}). Returns the raw stages it stands for
// (the stage itself when it is no sweep); `path` and `default_name` are the stage's key path and
// default name, for errors and names.
std::vector<Json> expand_sweep(const Json& stage, const std::string& path, const std::string& default_name);

}  // namespace raoq::tools
