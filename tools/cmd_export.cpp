// tools/cmd_export.cpp — `raoq export` and `raoq run-export` (contract in cmd_export.h).
#include "tools/cmd_export.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <ostream>

#include "core/autograd.h"
#include "core/error.h"
#include "core/parallel.h"
#include "imc/imc_layer.h"
#include "imc/imc_model.h"
#include "tools/cli.h"
#include "tools/commands.h"
#include "tools/pipeline/checkpoint.h"
#include "tools/pipeline/config.h"
#include "tools/pipeline/export.h"
#include "tools/pipeline/stage_kind.h"
#include "tools/pipeline/task.h"

namespace raoq::tools {
namespace fs = std::filesystem;
namespace {

const char* const kExportHelp = R"(usage: raoq export RUN_DIR | CHECKPOINT --out DIR [options]

Writes what IMC hardware would be programmed with for an adc stage's model (default: the run's
last adc stage with a checkpoint): every array's integer weight codes (rows x columns, I8), where
it sits (layer, row tile, column group), its ADC settings (ba, k, the step D), each array layer's
input map (gain, shift), scales (s_x, beta, s_w, bias) and the digital layers' weights, as
DIR/tensors.safetensors with the manifest DIR/manifest.json (schema: docs/export.md). Chain models
only (cnn-small, mlp), direct or bit_sliced mapping (one array per weight slice), no analog noise.

options:
)";

const char* const kRunExportHelp = R"(usage: raoq run-export DIR [options]

Runs an export with the integer reference, which reads only DIR: int32 column sums per array,
the ADC per array (Eq. 2), the tiles' codes summed and scaled by D, then the digital remainder.
Prints the test accuracy and loss. With --compare it runs raoq's own model from that checkpoint on
the same batches and compares every ADC code and the logits (exit status 1 when a code differs or
a logit differs by more than 1e-5 of the batch's largest logit).

options:
)";

std::vector<OptionSpec> export_options() {
  return {{"--out", "DIR", "the folder to write (required)"},
          {"--checkpoint", "FILE", "the adc stage checkpoint to export (default: the run's last one)"},
          {"--threads", "N", "worker threads (default: every core)"}};
}

std::vector<OptionSpec> run_export_options() {
  return {{"--data", "ROOT", "the dataset folder (default: the one the export's run trained on)"},
          {"--compare", "RUN_DIR|CHECKPOINT", "compare ADC codes and logits with raoq's model of this checkpoint"},
          {"--examples", "N", "the first N test examples (default: all)"},
          {"--batch-size", "N", "evaluation batch (default 250)"},
          {"--threads", "N", "worker threads (default: every core)"}};
}

// The model a stage checkpoint holds, as its stage converted it, with its run's config.
struct StageModel {
  Config config;
  std::shared_ptr<Module> model;
  std::string stage;
};

StageModel load_stage_model(const std::string& path, const char* command) {
  const Checkpoint ck = read_checkpoint(path);
  RAOQ_CHECK(ck.config.is_object() && ck.state.contains("stage") && ck.state["stage"].is_string(), command, ": '", path,
             "' is not a stage checkpoint of a run (it names no config or stage)");
  StageModel m;
  m.config = parse_config(ck.config, "run");
  m.stage = ck.state["stage"].get<std::string>();
  int64_t si = -1;
  for (size_t i = 0; i < m.config.stages.size(); ++i)
    if (m.config.stages[i].name == m.stage) si = static_cast<int64_t>(i);
  RAOQ_CHECK(si >= 0, command, ": '", path, "' names stage '", m.stage, "', which its config does not have");
  RAOQ_CHECK(kind_of(m.config.stages[si]).on_arrays, command, ": stage '", m.stage, "' is a ", m.config.stages[si].kind,
             " stage without arrays; pass an adc stage's checkpoint");
  m.model = build_model_for_stage(m.config, si);
  load_model(*m.model, ck, path);
  m.model->eval();
  return m;
}

// Runs the reference and raoq's model on each batch and compares them; evaluates as the reference.
class Comparison : public Module {
 public:
  Comparison(std::shared_ptr<ExportedModel> ref, std::shared_ptr<Module> raoq)
      : Module("Comparison"), ref_(std::move(ref)), raoq_(std::move(raoq)) {
    for (const auto& [path, layer] : imc::imc_layers(*raoq_)) {
      recorders_.push_back(std::make_shared<CodeRecorder>(layer->layer_config().ba));
      recorders_.back()->codes.path = path;
      layer->tile_observer = recorders_.back().get();
      layers_.push_back(layer);
    }
  }
  ~Comparison() override {
    for (imc::ImcLayer* l : layers_) l->tile_observer = nullptr;
  }

  Tensor forward(const Tensor& x) override {
    ref_->record_codes = true;
    const Tensor a = ref_->forward(x);
    RAOQ_CHECK(ref_->last_codes.size() == recorders_.size(), "run-export: the export has ", ref_->last_codes.size(),
               " array layers, the compared model ", recorders_.size());
    for (size_t i = 0; i < recorders_.size(); ++i) {
      const LayerCodes& c = ref_->last_codes[i];
      RAOQ_CHECK(c.path == recorders_[i]->codes.path, "run-export: array layer ", i, " is '", printable(c.path),
                 "' in the export and '", recorders_[i]->codes.path, "' in the compared model");
      recorders_[i]->codes.reset(c.streams, c.tiles, c.pairs, c.rows, c.cols);
    }
    Tensor b;
    {
      autograd::NoGradGuard no_grad;
      b = raoq_->forward(x);
    }
    for (size_t i = 0; i < recorders_.size(); ++i) {
      const auto& mine = ref_->last_codes[i].codes;
      const auto& theirs = recorders_[i]->codes.codes;
      codes += static_cast<int64_t>(mine.size());
      for (size_t k = 0; k < mine.size(); ++k)
        if (mine[k] != theirs[k]) {
          if (differing == 0) first_difference = ref_->last_codes[i].path + " code " + std::to_string(k);
          ++differing;
        }
    }
    RAOQ_CHECK(a.shape() == b.shape(), "run-export: the reference's logits have shape ", shape_str(a.shape()),
               ", raoq's ", shape_str(b.shape()));
    double largest = 0, diff = 0;
    for (int64_t i = 0; i < a.numel(); ++i) {
      largest = std::max(largest, double(std::fabs(b.data()[i])));
      diff = std::max(diff, double(std::fabs(a.data()[i] - b.data()[i])));
    }
    max_abs = std::max(max_abs, diff);
    max_rel = std::max(max_rel, largest > 0 ? diff / largest : diff);
    const int64_t K = a.size(-1), rows = a.numel() / K;
    for (int64_t r = 0; r < rows; ++r) {
      const float* pa = a.data() + r * K;
      const float* pb = b.data() + r * K;
      agree += std::max_element(pa, pa + K) - pa == std::max_element(pb, pb + K) - pb;
    }
    examples += rows;
    return a;
  }

  int64_t codes = 0, differing = 0, agree = 0, examples = 0;
  double max_abs = 0, max_rel = 0;
  std::string first_difference;

 private:
  std::shared_ptr<ExportedModel> ref_;
  std::shared_ptr<Module> raoq_;
  std::vector<std::shared_ptr<CodeRecorder>> recorders_;
  std::vector<imc::ImcLayer*> layers_;
};

std::string number(double v, const char* fmt) {
  char buf[64];
  std::snprintf(buf, sizeof buf, fmt, v);
  return buf;
}

}  // namespace

int export_command(const ExportArgs& args, std::ostream& out) {
  if (args.threads > 0) set_num_threads(args.threads);
  RAOQ_CHECK(!args.out.empty(), "export: missing --out DIR (the folder to write)");
  const std::string path = args.checkpoint.empty() ? last_adc_checkpoint(args.target, "export") : args.checkpoint;
  StageModel m = load_stage_model(path, "export");
  // One training example gives the input shape (the model description does not hold the image size).
  const std::unique_ptr<Task> task = make_task(m.config.data, m.config.seed);
  const auto batch = task->train_batches(1, m.config.seed)->next();
  RAOQ_CHECK(batch.has_value(), "export: the run's training data has no example");
  const Shape shape(batch->x.shape().begin() + 1, batch->x.shape().end());
  const ExportSummary s = write_export(*m.model, m.config.model, to_json(m.config)["data"], shape,
                                       m.config.data.normalize.mean, m.config.data.normalize.std, args.out);
  out << "exported " << path << " (stage " << m.stage << ") to " << args.out << ": " << s.layers << " layers, "
      << s.array_layers << " on " << s.arrays << " arrays, " << s.code_bytes << " bytes of weight codes; manifest.json "
      << s.manifest_bytes << " bytes, tensors.safetensors " << s.tensor_file_bytes << " bytes\n";
  return 0;
}

int run_export_command(const RunExportArgs& args, std::ostream& out) {
  if (args.threads > 0) set_num_threads(args.threads);
  const std::shared_ptr<ExportedModel> ref = ExportedModel::load(args.dir);
  // The test data: the export's run's data config, at --data when given.
  Json config = {{"name", "export"},
                 {"data", ref->manifest.value("data", Json::object())},
                 {"model", ref->manifest["model"]},
                 {"stages", Json::array({{{"name", "x"}, {"epochs", 1}, {"optimizer", {{"name", "sgd"}}}}})}};
  RAOQ_CHECK(!config["data"].empty(), "run-export: the export names no data; pass --data with its data kind's root");
  if (!args.data.empty()) config["data"]["root"] = args.data;
  if (args.examples > 0) config["data"]["subset"] = {{"train", 0}, {"test", args.examples}};
  const Config c = parse_config(config, "export");
  const std::unique_ptr<Task> task = make_task(c.data, c.seed, /*need_train=*/false);
  out << "export: " << args.dir << " (" << ref->steps.size() << " layers)\ndata: " << task->describe() << "\n";
  if (args.compare.empty()) {
    const EvalResult r = task->evaluate(*ref, EvalSplit::test, args.batch_size);
    out << "reference: " << r.examples << " examples, accuracy " << number(r.accuracy, "%.2f") << "%, loss "
        << number(r.loss, "%.4f") << " (" << number(r.seconds, "%.1f") << " s)\n";
    return 0;
  }
  StageModel m = load_stage_model(last_adc_checkpoint(args.compare, "run-export"), "run-export");
  const EvalResult theirs = task->evaluate(*m.model, EvalSplit::test, args.batch_size);
  Comparison cmp(ref, m.model);
  const EvalResult r = task->evaluate(cmp, EvalSplit::test, args.batch_size);
  out << "reference: " << r.examples << " examples, accuracy " << number(r.accuracy, "%.2f") << "%, loss "
      << number(r.loss, "%.4f") << " (" << number(r.seconds, "%.1f") << " s, with raoq's model beside it)\n"
      << "raoq (stage " << m.stage << "): accuracy " << number(theirs.accuracy, "%.2f") << "%, loss "
      << number(theirs.loss, "%.4f") << "\n"
      << "ADC codes compared: " << cmp.codes << ", differing: " << cmp.differing
      << (cmp.differing ? " (first: " + cmp.first_difference + ")" : "") << "\n"
      << "logits: max difference " << number(cmp.max_abs, "%.3g") << ", " << number(cmp.max_rel, "%.3g")
      << " of the batch's largest logit; predictions agree on " << cmp.agree << " of " << cmp.examples << "\n";
  return cmp.differing == 0 && cmp.max_rel <= 1e-5 ? 0 : 1;
}

int export_cli(const std::vector<std::string>& args, std::ostream& out) {
  const ParsedArgs p = parse_args("export", export_options(), args);
  if (p.help) return out << kExportHelp << options_text(export_options()), 0;
  RAOQ_CHECK(p.positional.size() == 1, "export: expected one RUN_DIR or CHECKPOINT (usage: raoq export RUN_DIR --out DIR)");
  ExportArgs a;
  a.target = p.positional[0];
  a.checkpoint = p.get("--checkpoint");
  a.out = p.get("--out");
  a.threads = threads_option("export", p);
  return export_command(a, out);
}

int run_export_cli(const std::vector<std::string>& args, std::ostream& out) {
  const ParsedArgs p = parse_args("run-export", run_export_options(), args);
  if (p.help) return out << kRunExportHelp << options_text(run_export_options()), 0;
  RAOQ_CHECK(p.positional.size() == 1, "run-export: expected one export DIR (usage: raoq run-export DIR [--data ROOT])");
  RunExportArgs a;
  a.dir = p.positional[0];
  a.data = p.get("--data");
  a.compare = p.get("--compare");
  a.examples = positive_option("run-export", p, "--examples", 0);
  a.batch_size = positive_option("run-export", p, "--batch-size", 250);
  a.threads = threads_option("run-export", p);
  return run_export_command(a, out);
}

}  // namespace raoq::tools
