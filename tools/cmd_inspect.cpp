// tools/cmd_inspect.cpp — `raoq inspect`: rebuild the checkpoint's model as its stage converted it,
// evaluate it on test examples with statistics attached to every IMC layer, print the table and
// optionally draw the histograms.
#include "tools/cmd_inspect.h"

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <ostream>

#include "core/error.h"
#include "core/parallel.h"
#include "imc/adc.h"
#include "imc/cost.h"
#include "imc/imc_layer.h"
#include "imc/lora.h"
#include "imc/stats.h"
#include "quant/quant_attention.h"
#include "quant/quant_conv2d.h"
#include "quant/quant_linear.h"
#include "tools/pipeline/checkpoint.h"
#include "tools/pipeline/config.h"
#include "tools/pipeline/evaluate.h"
#include "tools/histogram_png.h"
#include "tools/pipeline/stage_kind.h"
#include "tools/pipeline/task.h"

namespace raoq::tools {
namespace fs = std::filesystem;

const char* const kInspectHelp = R"(usage: raoq inspect RUN_DIR_OR_CHECKPOINT [--cost] [--png DIR] [--examples N] [--threads N]

Per-IMC-layer statistics of an adc stage's model on test examples: ADC-input variance in ADC
steps (all values, and with each column's mean removed), clipped fraction, mean conversion error,
SQNR (over all values, and column-centred: the honest one under A-shift), E[xs^2] of the array
inputs against E[xq^2] without A-shift, Var and kurtosis of the weight codes, arrays and row
utilisation, then every quantized layer's hardware (bits, on or off the array, the ADC
settings after the config's adc.overrides). A run directory means its last adc stage; a
checkpoint is any stage checkpoint.

  --cost          also the cost per sample, per layer and in total: arrays (row tiles x column
                  groups x weight slices), row and column use, ADC conversions, MACs on the
                  arrays and digital ops, and an energy proxy from the config's "cost" constants
                  (conversions x FoM x 2^ba + array MACs x slice pairs x E_MAC + digital ops x
                  E_dig), measured on one training example
  --png DIR       also write DIR/<layer>_adc_inputs.png (in ADC steps, clip limits in red; values
                  outside the range as red edge bars) and DIR/<layer>_weight_codes.png
  --examples N    test examples to collect statistics on (default 1000)
  --threads N     worker threads (default: every core)
  --help          show this help
)";

int inspect_cli(const std::vector<std::string>& args, std::ostream& out) {
  InspectArgs a;
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string& w = args[i];
    auto value = [&]() -> std::string {
      RAOQ_CHECK(i + 1 < args.size(), "inspect: ", w, " needs a value");
      return args[++i];
    };
    auto count = [&](const std::string& v) -> int64_t {
      try {
        size_t used = 0;
        const long long n = std::stoll(v, &used);
        if (used == v.size() && n > 0) return n;
      } catch (const std::exception&) {
      }
      throw Error("inspect: " + w + " must be a positive integer (got '" + v + "')");
    };
    if (w == "--help" || w == "-h") {
      out << kInspectHelp;
      return 0;
    } else if (w == "--png") {
      a.png_dir = value();
    } else if (w == "--cost") {
      a.cost = true;
    } else if (w == "--examples") {
      a.examples = count(value());
    } else if (w == "--threads") {
      a.threads = static_cast<int>(std::min<int64_t>(count(value()), 4096));
    } else if (!w.empty() && w[0] == '-') {
      throw Error("inspect: unknown option '" + w + "'; run raoq inspect --help");
    } else {
      RAOQ_CHECK(a.target.empty(), "inspect: unexpected argument '", w,
                 "' (usage: raoq inspect RUN_DIR_OR_CHECKPOINT [--png DIR])");
      a.target = w;
    }
  }
  RAOQ_CHECK(!a.target.empty(),
             "inspect: missing RUN_DIR_OR_CHECKPOINT (usage: raoq inspect RUN_DIR_OR_CHECKPOINT [--png DIR])");
  return inspect_command(a, out);
}

namespace {
// Table 4 of the paper for this model: per array layer, what a fine-tune trains without LoRA (the
// weight) and with it (the adapter), and the totals (the stage's own trainable count: adapters and
// quantizer scales under LoRA, everything without).
void print_parameter_counts(std::ostream& out, Module& model) {
  const std::vector<imc::LoraCount> counts = imc::lora_counts(model);
  int64_t weights = 0, adapters = 0;
  char line[200];
  out << "\ntrainable parameters per array layer (without LoRA: the weight; with it: r (K + N))\n";
  std::snprintf(line, sizeof line, "  %-32s %12s %12s\n", "layer", "weight", "LoRA A, B");
  out << line;
  for (const auto& c : counts) {
    std::snprintf(line, sizeof line, "  %-32s %12lld %12s\n", c.path.c_str(), static_cast<long long>(c.weight),
                  c.adapter ? std::to_string(c.adapter).c_str() : "-");
    out << line;
    weights += c.weight, adapters += c.adapter;
  }
  std::snprintf(line, sizeof line, "  %-32s %12lld %12lld\n", "array layers", static_cast<long long>(weights),
                static_cast<long long>(adapters));
  out << line << "  the whole model: " << model.num_parameters() << " parameters";
  if (adapters > 0) {
    const int64_t trained = model.num_trainable_parameters();
    std::snprintf(line, sizeof line, ", of which the stage trained %lld (%.1fx fewer)", static_cast<long long>(trained),
                  static_cast<double>(model.num_parameters()) / static_cast<double>(std::max<int64_t>(1, trained)));
    out << line;
  }
  out << "\n";
}
// Every quantized layer: its bits and, on the array, the hardware it converts on (after overrides).
void print_layer_hardware(std::ostream& out, Module& model) {
  out << "\nhardware per layer:\n";
  for (auto& [path, m] : model.named_modules()) {
    if (auto* l = dynamic_cast<imc::ImcLayer*>(m.get())) {
      out << "  " << path << ": " << l->layer_config() << "\n";
    } else if (auto* c = dynamic_cast<quant::QuantConv2d*>(m.get())) {
      out << "  " << path << ": off the array, " << c->qopts.bx << "-bit digital\n";
    } else if (auto* q = dynamic_cast<quant::QuantLinear*>(m.get())) {
      out << "  " << path << ": off the array, " << q->qopts.bx << "-bit digital\n";
    } else if (auto* a = dynamic_cast<quant::QuantAttention*>(m.get())) {
      out << "  " << path << ": Q K^T off the array, " << a->aopts.bits << "-bit digital\n";
    }
  }
}
}  // namespace

int inspect_command(const InspectArgs& args, std::ostream& out) {
  if (args.threads > 0) set_num_threads(args.threads);
  std::error_code ec;
  RAOQ_CHECK(args.png_dir.empty() || !fs::exists(args.png_dir, ec) || fs::is_directory(args.png_dir, ec), "inspect: --png '",
             args.png_dir, "' is a file, expected a directory for the histograms");
  std::string path = args.target;
  Config config;
  if (fs::is_directory(path)) {  // a run directory: its last adc stage
    config = parse_config(read_json_file(path), "run");  // a directory without config.json is named as such
    std::string stage;
    for (const auto& s : config.stages)
      if (kind_of(s).on_arrays && s.save_checkpoint) stage = s.name;  // sweep points keep none
    RAOQ_CHECK(!stage.empty(), "inspect: the run in '", path, "' has no stage on arrays; pass an adc stage's checkpoint");
    path += "/checkpoints/" + stage + ".safetensors";
    RAOQ_CHECK(fs::exists(path), "inspect: '", path, "' does not exist yet (the stage has not finished)");
  }
  const Checkpoint ck = read_checkpoint(path);
  RAOQ_CHECK(ck.config.is_object() && ck.state.contains("stage") && ck.state["stage"].is_string(), "inspect: '", path,
             "' is not a stage checkpoint of a run (it names no config or stage)");
  config = parse_config(ck.config, "run");
  const std::string stage = ck.state["stage"].get<std::string>();
  int64_t si = -1;
  for (size_t i = 0; i < config.stages.size(); ++i)
    if (config.stages[i].name == stage) si = static_cast<int64_t>(i);
  RAOQ_CHECK(si >= 0, "inspect: '", path, "' names stage '", stage, "', which its config does not have");
  RAOQ_CHECK(kind_of(config.stages[si]).on_arrays, "inspect: stage '", stage, "' is a ", config.stages[si].kind,
             " stage without arrays; pass an adc stage's checkpoint");
  config.data.test_subset = config.data.test_subset ? std::min(config.data.test_subset, args.examples) : args.examples;
  config.data.eval_tokens = args.examples;  // a language model: about this many tokens
  const std::unique_ptr<Task> task = make_task(config.data, config.seed, /*need_train=*/args.cost);
  auto model = build_model_for_stage(config, si);
  load_model(*model, ck, path);
  EvalResult r;
  std::vector<imc::LayerSummary> summaries;
  {
    imc::StatsSession session(*model);  // detached again before the cost is measured
    r = task->evaluate(*model, EvalSplit::test, 250);
    summaries = session.summaries();
  }
  out << "checkpoint: " << path << " (stage " << stage << ")\ndata: " << task->describe() << "; ";
  if (r.per_token) out << "perplexity " << r.perplexity() << "\n\n";
  else out << "accuracy " << r.accuracy << "%\n\n";
  imc::print_stats(out, summaries);
  print_parameter_counts(out, *model);
  print_layer_hardware(out, *model);
  if (args.cost) {
    const auto batch = task->train_batches(1, config.seed)->next();
    RAOQ_CHECK(batch.has_value(), "inspect: the training data has no example to measure the cost on");
    out << "\n";
    imc::print_cost(out, imc::model_cost(*model, batch->x, config.cost), config.cost);
  }
  if (!args.png_dir.empty()) {
    ec.clear();
    fs::create_directories(args.png_dir, ec);
    RAOQ_CHECK(!ec, "inspect: cannot create --png directory '", args.png_dir, "' (", ec.message(), ")");
    const auto codes = imc::adc_codes(config.stages[si].quant.adc.ba);
    for (const auto& s : summaries) {
      const std::string base = args.png_dir + "/" + s.path;
      // ADC inputs in ADC steps; the red lines are the clip limits -2^(ba-1) and 2^(ba-1).
      write_histogram_png(base + "_adc_inputs.png", s.adc_inputs, {codes.lo, codes.hi + 1.0});
      write_histogram_png(base + "_weight_codes.png", s.weight_codes, {});
      out << "wrote " << base << "_adc_inputs.png, " << base << "_weight_codes.png\n";
    }
  }
  return 0;
}

}  // namespace raoq::tools
