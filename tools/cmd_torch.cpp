// tools/cmd_torch.cpp — `raoq import-torch` and `raoq export-torch` (cmd_torch.h).
#include "tools/cmd_torch.h"

#include <algorithm>
#include <filesystem>
#include <memory>
#include <ostream>

#include "core/error.h"
#include "core/rng.h"
#include "imc/lora.h"
#include "models/registry.h"
#include "models/summary.h"
#include "tools/cli.h"
#include "tools/pipeline/checkpoint.h"
#include "tools/pipeline/config.h"
#include "tools/pipeline/stage_kind.h"
#include "tools/pipeline/task.h"
#include "tools/pipeline/torch_import.h"

namespace raoq::tools {
namespace fs = std::filesystem;
namespace {

const char* const kImportHelp = R"(usage: raoq import-torch FILE.safetensors --model NAME --out RUN [options]

Loads a PyTorch state_dict saved as safetensors (safetensors.torch.save_file(model.state_dict(),
FILE)) into a raoq model and writes RUN as a run whose full-precision stage is finished: its
config.json, checkpoints/<stage>.safetensors and last.safetensors, as raoq train leaves them.
Continue with the QAT and ADC stages (the paper starts from pre-trained models): with --config,
  raoq train RUN --resume
runs that config's later stages; without it, RUN/config.json has the one fp stage, and
  raoq train CONFIG.json --out RUN --resume
runs CONFIG.json, a copy of RUN/config.json with stages added after the first.

PyTorch names: torchvision's for resnet18, resnet20 (layerN.M.downsample.0/.1) and mobilenetv2
(features.N.conv.K, classifier.1); cnn-small's conv-BN units are nn.Sequential (features.N.0/.1);
gpt and bert use nn.MultiheadAttention (attn.in_proj_weight, whose rows [q | k | v] are raoq's
qkv_proj layout) and otherwise raoq's names, a tied head's tok_emb.weight being checked equal to
head.weight; other models use raoq's names. The reference modules are in
tests/fixtures/make_torch_fixtures.py. Layouts are PyTorch's (conv OIHW, Linear out x in), so
tensors are copied as they are; F16, BF16 and F64 tensors are read into float32 (F64 rounded to
the nearest float). BatchNorm's num_batches_tracked is checked (one whole count, any size) and
dropped: raoq keeps no count. A missing, extra or mis-shaped tensor is an error naming it.

options:
)";

const char* const kExportHelp = R"(usage: raoq export-torch RUN [--checkpoint FILE] --out FILE.safetensors [options]

Writes a run's checkpoint (default: its last finished stage's) as a PyTorch state_dict in
safetensors, under the names `raoq help import-torch` lists, so that
  model.load_state_dict(safetensors.torch.load_file(FILE), strict=True)
accepts it for the reference modules of tests/fixtures/make_torch_fixtures.py. BatchNorm's
num_batches_tracked is written as 0 (int64): raoq keeps no count, and PyTorch reads it only with
momentum=None.

Quantizer state is left out: a PyTorch float module has no slot for a weight quantizer's scale or
an activation quantizer's scale and offset, and keys it does not know would make a strict load
fail. An export from a qat or adc stage therefore holds the float (latent) weights only, and the
command says how many tensors it left out; read those from the raoq checkpoint itself. ADC-LoRA
adapters are merged into their weights first (W + A B, as raoq's forward computes it).

options:
)";

std::vector<OptionSpec> import_options() {
  return {{"--model", "NAME|JSON", "the raoq model: a name (raoq models) or a description, e.g. "
                                   "'{\"name\": \"resnet20\", \"width\": 8}' (default: the --config's model)"},
          {"--config", "CONFIG.json",
           "the run's config; its first stage (kind fp) is the one the import stands for, and its data are read to "
           "resolve the model (default: one fp stage and the model family's usual data)"},
          {"--map", "MAP.json", "a JSON object {\"torch_name\": \"raoq_name\"} over the default names; null skips a "
                                "tensor of the file"},
          {"--out", "RUN", "the run directory to write (required)"},
          {"--overwrite", "", "replace a run already in RUN"}};
}

std::vector<OptionSpec> export_options() {
  return {{"--checkpoint", "FILE", "the checkpoint to export (default: the run's last finished stage)"},
          {"--map", "MAP.json", "a JSON object {\"torch_name\": \"raoq_name\"} over the default names"},
          {"--out", "FILE", "the .safetensors file to write (required)"}};
}

// The usual data of a model family when no --config names any: the shipped configs' choices.
Json default_data(const Json& model) {
  const std::string name = model.at("name").get<std::string>();
  if (name == "gpt" || name == "gpt-tiny" || name == "bert" || name == "bert-tiny")
    return {{"kind", "text"}, {"root", "/usr/share/games/fortunes"}, {"tokens", "bytes"}};
  if (model.contains("in_channels") && model.at("in_channels") == 1)
    return {{"kind", "idx"}, {"root", "/usr/share/datasets/fashion-mnist"}};
  return {{"kind", "cifar10"}, {"root", "data/cifar-10-batches-bin"}};
}

Json model_description(const std::string& text) {
  if (!text.empty() && text[0] == '{') return parse_json(text, "import-torch: --model");
  return {{"name", text}};
}

Config import_config(const ImportTorchArgs& args) {
  if (args.config.empty()) {
    RAOQ_CHECK(!args.model.empty(), "import-torch: missing --model NAME (or --config CONFIG.json)");
    const Json model = models::validate_model(model_description(args.model), "import-torch", "--model");
    const std::string name = fs::path(args.out).filename().string();
    Json j = {{"name", name.empty() ? "import" : name},
              {"data", default_data(model)},
              {"model", model},
              {"stages", Json::array()}};
    // The stage the import stands for (never run): the keys a stage must have, at their plainest.
    j["stages"].push_back({{"name", "fp"}, {"kind", "fp"}, {"epochs", 1}, {"optimizer", {{"name", "sgd"}}}});
    return parse_config(j, "import");
  }
  Config c = load_config(args.config, {});
  if (!args.model.empty()) {
    const Json given = models::validate_model(model_description(args.model), "import-torch", "--model");
    RAOQ_CHECK(given.at("name") == c.model.at("name"), "import-torch: --model is ", given.at("name").dump(),
               " but the config's model is ", c.model.at("name").dump(), "; give one of them");
  }
  // As raoq train does before its first stage: the data fill in what the model leaves open.
  const std::unique_ptr<Task> task = make_task(c.data, c.seed);
  c.model = task->resolve_model(c.model_given);
  task->resolve_data(c.data);
  return c;
}

// The stage a checkpoint holds the model of (-1: the float model), as raoq eval and resume read it.
int64_t checkpoint_stage(const Checkpoint& c, const Config& config) {
  if (c.kind == "model" && c.state.is_object() && c.state.contains("stage") && c.state["stage"].is_string())
    for (size_t i = 0; i < config.stages.size(); ++i)
      if (config.stages[i].name == c.state["stage"].get<std::string>()) return static_cast<int64_t>(i);
  if (c.kind == "train") {
    const TrainState s = train_state_from_json(c.state);
    const int64_t through = s.loader.is_null() ? s.stage - 1 : s.stage;
    return std::min<int64_t>(through, static_cast<int64_t>(config.stages.size()) - 1);
  }
  return -1;
}

}  // namespace

int import_torch_command(const ImportTorchArgs& args, std::ostream& out) {
  RAOQ_CHECK(!args.out.empty(), "import-torch: missing --out RUN (the run directory to write)");
  Config config = import_config(args);
  const StageConfig& first = config.stages.front();
  RAOQ_CHECK(first.kind == "fp", "import-torch: the config's first stage '", first.name, "' is of kind ", first.kind,
             ", expected fp (the full-precision stage the imported weights stand for)");
  const Json config_json = to_json(config);
  const std::string model_name = config.model.at("name").get<std::string>();
  // As a fresh run: the generators start from the seed, then the model is built.
  manual_seed(config.seed);
  const auto model = models::build_from_json(config.model, "import-torch", "model");
  TorchNames names = default_torch_names(model_name, *model);
  if (!args.map.empty()) apply_torch_map(names, read_json_file(args.map), "import-torch: --map '" + args.map + "'");
  // num_batches_tracked is a count raoq checks and drops: read it even beyond 2^24 (rounded).
  const SafetensorsFile file =
      load_safetensors(args.file, std::set<std::string>(names.counters.begin(), names.counters.end()));
  model->load_state_dict(torch_to_raoq(file, *model, names, model_name, args.file));
  model->eval();

  RunDir dir{args.out};
  std::error_code ec;
  RAOQ_CHECK(!fs::exists(dir.root, ec) || fs::is_directory(dir.root, ec), "import-torch: --out '", dir.root,
             "' is a file, expected a run directory");
  if (args.overwrite && dir.holds_run()) dir.clear();
  write_imported_run(dir, config_json, first.name, *model, args.file);
  out << "import-torch: " << names.entries.size() << " tensors of " << args.file << " into " << model_name << " ("
      << models::with_commas(model->num_parameters()) << " parameters); " << dir.root << " has finished stage " << first.name << "\n";
  if (config.stages.size() > 1) {
    out << "next: raoq train " << dir.root << " --resume    (runs";
    for (size_t i = 1; i < config.stages.size(); ++i) out << " " << config.stages[i].name;
    out << ")\n";
  } else {
    out << "next: raoq train CONFIG.json --out " << dir.root << " --resume, CONFIG.json being its config.json with "
        << "stages added after " << first.name << "\n";
  }
  return 0;
}

int export_torch_command(const ExportTorchArgs& args, std::ostream& out) {
  RAOQ_CHECK(!args.out.empty(), "export-torch: missing --out FILE.safetensors");
  std::string path = args.checkpoint;
  if (path.empty()) {
    RAOQ_CHECK(fs::is_directory(args.run), "export-torch: '", args.run, "' is not a run directory");
    const Config run = load_config(args.run, {});
    for (const auto& s : run.stages)
      if (fs::exists(RunDir{args.run}.stage_checkpoint(s.name))) path = RunDir{args.run}.stage_checkpoint(s.name);
    RAOQ_CHECK(!path.empty(), "export-torch: no stage of the run in '", args.run,
               "' has finished yet; pass --checkpoint FILE (e.g. its checkpoints/last.safetensors)");
  }
  const Checkpoint c = read_checkpoint(path);
  // The checkpoint's own config describes the model it holds (the run's may have grown stages since).
  const Config config = parse_config(c.config, "run");
  const int64_t si = checkpoint_stage(c, config);
  auto model = build_model_for_stage(config, si);
  load_model(*model, c, path);
  const std::vector<std::string> merged = imc::merge_lora(*model);
  const std::string model_name = config.model.at("name").get<std::string>();
  const auto float_model = models::build_from_json(config.model, "export-torch", "model");
  TorchNames names = default_torch_names(model_name, *float_model);
  if (!args.map.empty()) apply_torch_map(names, read_json_file(args.map), "export-torch: --map '" + args.map + "'");
  std::vector<std::string> left_out;
  const TorchStateDict torch = raoq_to_torch(model->state_dict(), names, &left_out);
  // The float model checks every shape: a converted layer keeps its weight's.
  NamedTensors check;
  for (const auto& e : names.entries)
    if (!e.alias)
      for (const auto& [name, t] : torch.tensors)
        if (name == e.torch) check.emplace_back(e.raoq, t);
  float_model->load_state_dict(check);
  save_safetensors(args.out, torch.tensors, {{"raoq.source", path}}, {}, torch.i64);
  out << "export-torch: " << torch.tensors.size() << " tensors of " << path << " (" << model_name << ") to "
      << args.out;
  if (!merged.empty()) out << "; merged " << merged.size() << " ADC-LoRA adapters into their weights";
  if (!left_out.empty())
    out << "; left out " << left_out.size() << " tensors PyTorch has no slot for (e.g. " << left_out.front() << ")";
  out << "\n";
  return 0;
}

int import_torch_cli(const std::vector<std::string>& args, std::ostream& out) {
  const ParsedArgs p = parse_args("import-torch", import_options(), args);
  if (p.help) return out << kImportHelp << options_text(import_options()), 0;
  RAOQ_CHECK(p.positional.size() == 1, "import-torch: expected one FILE.safetensors (usage: raoq import-torch "
             "FILE.safetensors --model NAME --out RUN)");
  ImportTorchArgs a;
  a.file = p.positional[0];
  a.model = p.get("--model");
  a.config = p.get("--config");
  a.map = p.get("--map");
  a.out = p.get("--out");
  a.overwrite = p.has("--overwrite");
  return import_torch_command(a, out);
}

int export_torch_cli(const std::vector<std::string>& args, std::ostream& out) {
  const ParsedArgs p = parse_args("export-torch", export_options(), args);
  if (p.help) return out << kExportHelp << options_text(export_options()), 0;
  RAOQ_CHECK(p.positional.size() == 1, "export-torch: expected one RUN directory (usage: raoq export-torch RUN "
             "--out FILE.safetensors)");
  ExportTorchArgs a;
  a.run = p.positional[0];
  a.checkpoint = p.get("--checkpoint");
  a.map = p.get("--map");
  a.out = p.get("--out");
  return export_torch_command(a, out);
}

}  // namespace raoq::tools
