// tools/cmd_inspect.cpp — `raoq inspect`: rebuild the checkpoint's model as its stage converted it,
// evaluate it on test examples with statistics attached to every IMC layer, print the table and
// optionally draw the histograms.
#include "tools/cmd_inspect.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <ostream>

#include "core/distributed.h"
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
#include "tools/commands.h"
#include "tools/pipeline/checkpoint.h"
#include "tools/pipeline/config.h"
#include "tools/pipeline/evaluate.h"
#include "tools/pipeline/figures.h"
#include "tools/pipeline/stage_kind.h"
#include "tools/pipeline/task.h"

namespace raoq::tools {
namespace fs = std::filesystem;

const char* const kInspectHelp = R"(usage: raoq inspect RUN_DIR_OR_CHECKPOINT [--cost] [--png DIR [--against CKPT]] [--examples N] [--threads N]

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
  --png DIR       also write figures (PNG and SVG) per array layer: DIR/<layer>_adc_inputs (the
                  column sums in ADC steps, the ADC's step grid and clip limits, the clipped
                  share in the legend) and DIR/<layer>_weight_codes (with Var[wq] and kurtosis)
                  and DIR/sqnr (per layer: SQNR over all values and column-centred, and the
                  clipped share, as bars)
  --against CKPT  overlay another adc stage's same layers in those figures (e.g. the vanilla QAT*
                  checkpoint beside RAOQ's, as the paper's Figs. 3 to 6 compare them)
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
    } else if (w == "--against") {
      a.against = value();
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
  const std::string path = last_adc_checkpoint(args.target, "inspect");
  // One stage checkpoint's model, evaluated on the test examples with statistics collected (and,
  // with need_train, one training example for the cost table).
  struct Inspected {
    Config config;
    int64_t si = -1;
    std::string stage, data;
    std::shared_ptr<Module> model;
    EvalResult r;
    std::vector<imc::LayerSummary> summaries;
    Tensor example;
  };
  const auto inspect = [&](const std::string& file, bool need_train) {
    Inspected in;
    const Checkpoint ck = read_checkpoint(file);
    RAOQ_CHECK(ck.config.is_object() && ck.state.contains("stage") && ck.state["stage"].is_string(), "inspect: '", file,
               "' is not a stage checkpoint of a run (it names no config or stage)");
    in.config = parse_config(ck.config, "run");
    in.stage = ck.state["stage"].get<std::string>();
    for (size_t i = 0; i < in.config.stages.size(); ++i)
      if (in.config.stages[i].name == in.stage) in.si = static_cast<int64_t>(i);
    RAOQ_CHECK(in.si >= 0, "inspect: '", file, "' names stage '", in.stage, "', which its config does not have");
    RAOQ_CHECK(kind_of(in.config.stages[in.si]).on_arrays, "inspect: stage '", in.stage, "' is a ",
               in.config.stages[in.si].kind, " stage without arrays; pass an adc stage's checkpoint");
    DataConfig data = in.config.data;
    data.test_subset = data.test_subset ? std::min(data.test_subset, args.examples) : args.examples;
    data.eval_tokens = args.examples;  // a language model: about this many tokens
    const std::unique_ptr<Task> task = make_task(data, in.config.seed, need_train);
    in.data = task->describe();
    in.model = build_model_for_stage(in.config, in.si);
    load_model(*in.model, ck, file);
    {
      imc::StatsSession session(*in.model);  // detached again before the cost is measured
      in.r = task->evaluate(*in.model, EvalSplit::test, 250);
      in.summaries = session.summaries();
    }
    if (need_train) {
      const auto batch = task->train_batches(1, in.config.seed)->next();
      RAOQ_CHECK(batch.has_value(), "inspect: the training data has no example to measure the cost on");
      in.example = batch->x;
    }
    return in;
  };
  const Inspected main = inspect(path, args.cost);
  const std::string& description = main.data;
  out << "checkpoint: " << path << " (stage " << main.stage << ")\ndata: " << description << "; ";
  if (main.r.per_token) out << "perplexity " << main.r.perplexity() << "\n\n";
  else out << "accuracy " << main.r.accuracy << "%\n\n";
  imc::print_stats(out, main.summaries);
  print_parameter_counts(out, *main.model);
  print_layer_hardware(out, *main.model);
  if (args.cost) {
    out << "\n";
    imc::print_cost(out, imc::model_cost(*main.model, main.example, main.config.cost), main.config.cost);
  }
  if (!args.png_dir.empty()) {
    // --against: the same layers of another stage (vanilla QAT* beside RAOQ), overlaid.
    std::vector<imc::LayerSummary> other;
    std::string other_stage;
    if (!args.against.empty()) {
      Inspected o = inspect(args.against, false);
      other = std::move(o.summaries);
      other_stage = o.stage;
    }
    if (dist::rank() != 0) return 0;  // under mpirun rank 0 draws the figures of the whole job's statistics
    ec.clear();
    fs::create_directories(args.png_dir, ec);
    RAOQ_CHECK(!ec, "inspect: cannot create --png directory '", args.png_dir, "' (", ec.message(), ")");
    const auto codes = imc::adc_codes(main.config.stages[main.si].quant.adc.ba);
    const auto weights_label = [](const std::string& stage, const imc::LayerSummary& l) {
      char buf[128];
      std::snprintf(buf, sizeof buf, "%s: Var[wq] %.2f, kurtosis %.2f", stage.c_str(), l.wq_var, l.wq_kurtosis);
      return std::string(buf);
    };
    std::string problems;
    for (const auto& l : main.summaries) {
      const std::string base = args.png_dir + "/" + l.path;
      std::vector<HistogramSeries> inputs{{main.stage, l.adc_inputs}}, weights{{weights_label(main.stage, l), l.weight_codes}};
      for (const auto& o : other)
        if (o.path == l.path) {
          inputs.push_back({other_stage, o.adc_inputs});
          weights.push_back({weights_label(other_stage, o), o.weight_codes});
        }
      // ADC inputs in ADC steps, the clip limits -2^(ba-1) and 2^(ba-1) dashed.
      const std::string a = write_histogram_figure(base + "_adc_inputs", l.path + ": ADC inputs (column sums y / D)",
                                                   "ADC input in ADC steps", inputs, {codes.lo, codes.hi + 1.0});
      const std::string b =
          write_histogram_figure(base + "_weight_codes", l.path + ": stored weight codes", "weight code", weights, {},
                                 /*codes=*/true);
      for (const std::string* e : {&a, &b})
        if (!e->empty()) problems += (problems.empty() ? "" : "; ") + *e;
      out << "wrote " << base << "_adc_inputs.png (.svg), " << base << "_weight_codes.png (.svg)\n";
    }
    // Per layer: SQNR over all values and column-centred (the honest one under A-shift), and the
    // share of clipped conversions, for this stage and the --against one.
    std::vector<std::string> layers;
    for (const auto& l : main.summaries) layers.push_back(l.path);
    const auto values = [&](const std::vector<imc::LayerSummary>& of, double imc::LayerSummary::*field, double scale) {
      std::vector<double> v;
      for (const std::string& layer : layers) {
        double x = NAN;
        for (const auto& l : of)
          if (l.path == layer) x = l.*field * scale;
        v.push_back(x);
      }
      return v;
    };
    BarPanel sqnr{"SQNR of the ADC per layer", "SQNR (dB)", {}}, clip{"conversions clipped per layer", "clipped (%)", {}};
    // Colours: this stage blue (centred the lighter), the --against one vermilion (figures.cpp).
    sqnr.series.push_back({main.stage + ", all values", values(main.summaries, &imc::LayerSummary::sqnr_db_all, 1), 3});
    sqnr.series.push_back(
        {main.stage + ", column-centred", values(main.summaries, &imc::LayerSummary::sqnr_db_centered, 1), 10});
    clip.series.push_back({main.stage, values(main.summaries, &imc::LayerSummary::clip_fraction, 100), 3});
    if (!other.empty()) {
      sqnr.series.push_back({other_stage + ", all values", values(other, &imc::LayerSummary::sqnr_db_all, 1), 2});
      sqnr.series.push_back({other_stage + ", column-centred", values(other, &imc::LayerSummary::sqnr_db_centered, 1), 11});
      clip.series.push_back({other_stage, values(other, &imc::LayerSummary::clip_fraction, 100), 2});
    }
    const std::string bars = write_bars_figure(args.png_dir + "/sqnr", layers, {sqnr, clip});
    if (!bars.empty()) problems += (problems.empty() ? "" : "; ") + bars;
    out << "wrote " << args.png_dir << "/sqnr.png (.svg)\n";
    RAOQ_CHECK(problems.empty(), "inspect: ", problems);
  }
  return 0;
}

}  // namespace raoq::tools
