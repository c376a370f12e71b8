// tools/pipeline/torch_import.cpp — PyTorch state_dicts to and from raoq names, and the imported run.
#include "tools/pipeline/torch_import.h"

#include <cmath>
#include <cstring>
#include <map>

#include "core/error.h"
#include "core/parallel.h"
#include "tools/pipeline/atomic_file.h"
#include "tools/pipeline/checkpoint.h"

namespace raoq::tools {
namespace {

bool bitwise_equal(const Tensor& a, const Tensor& b) {
  return a.shape() == b.shape() &&
         std::memcmp(a.data(), b.data(), static_cast<size_t>(a.numel()) * sizeof(float)) == 0;
}

}  // namespace

NamedTensors torch_to_raoq(const SafetensorsFile& torch, const Module& model, const TorchNames& names,
                           const std::string& model_name, const std::string& file) {
  const std::string where = "import-torch: '" + file + "'";
  std::map<std::string, Tensor> expected;  // raoq name -> the model's tensor (for its shape)
  for (const auto& [name, t] : model.state_dict()) expected.emplace(name, t);
  std::map<std::string, const TorchName*> by_torch;
  for (const auto& e : names.entries) by_torch.emplace(e.torch, &e);
  const std::set<std::string> counters(names.counters.begin(), names.counters.end());
  const std::set<std::string> ignored(names.ignored.begin(), names.ignored.end());

  std::map<std::string, Tensor> found;  // raoq name -> the file's tensor (aliases checked, not kept)
  std::vector<std::pair<const TorchName*, Tensor>> aliases;
  for (const auto& [key, t] : torch.tensors) {
    if (ignored.count(key)) continue;
    if (counters.count(key)) {
      // num_batches_tracked: raoq keeps no count (fixed momentum), so it is checked and dropped.
      RAOQ_CHECK(t.numel() == 1 && t.data()[0] >= 0 && std::floor(t.data()[0]) == t.data()[0], where, ": tensor '",
                 printable(key), "' has shape ", shape_str(t.shape()),
                 ", expected a single whole count >= 0 (BatchNorm's num_batches_tracked)");
      continue;
    }
    const auto it = by_torch.find(key);
    RAOQ_CHECK(it != by_torch.end(), where, ": tensor '", printable(key), "' (shape ", shape_str(t.shape()),
               ") has no place in model ", model_name, "; give it one with --map {\"", printable(key),
               "\": \"<raoq name>\"}, or map it to null to skip it");
    const TorchName& e = *it->second;
    const Tensor& mine = expected.at(e.raoq);
    RAOQ_CHECK(t.shape() == mine.shape(), where, ": tensor '", printable(key), "' has shape ", shape_str(t.shape()),
               ", but raoq's '", e.raoq, "' (model ", model_name, ") is ", shape_str(mine.shape()));
    if (e.alias)
      aliases.emplace_back(&e, t);
    else
      found.emplace(e.raoq, t);
  }
  // safetensors.torch.save_model keeps one key of a tied pair: the alias then stands for the tensor.
  for (const auto& [e, t] : aliases) found.emplace(e->raoq, t);
  NamedTensors out;
  for (const auto& e : names.entries) {
    if (e.alias) continue;
    const auto it = found.find(e.raoq);
    RAOQ_CHECK(it != found.end(), where, " has no tensor '", printable(e.torch), "' (raoq's '", e.raoq, "', shape ",
               shape_str(expected.at(e.raoq).shape()), ", model ", model_name, "); name the key it has with --map");
    out.emplace_back(e.raoq, it->second);
  }
  for (const auto& [e, t] : aliases)
    RAOQ_CHECK(bitwise_equal(t, found.at(e->raoq)), where, ": tensor '", printable(e->torch),
               "' differs from the tensor read for raoq's '", e->raoq, "', which raoq holds once (a tied weight)");
  return out;
}

TorchStateDict raoq_to_torch(const NamedTensors& state, const TorchNames& names, std::vector<std::string>* left_out) {
  std::map<std::string, Tensor> by_name(state.begin(), state.end());
  std::set<std::string> used;
  TorchStateDict out;
  for (const auto& e : names.entries) {
    const auto it = by_name.find(e.raoq);
    RAOQ_CHECK(it != by_name.end(), "export-torch: the checkpoint has no tensor '", e.raoq,
               "', which the float model's PyTorch key '", e.torch, "' needs");
    out.tensors.emplace_back(e.torch, e.alias ? it->second.clone() : it->second);
    used.insert(e.raoq);
  }
  for (const auto& key : names.counters) {
    out.tensors.emplace_back(key, Tensor::scalar(0.0f));  // PyTorch's shape [] count; raoq counts no batches
    out.i64.insert(key);
  }
  if (left_out)
    for (const auto& [name, t] : state)
      if (!used.count(name)) left_out->push_back(name);
  return out;
}

void write_imported_run(const RunDir& dir, const Json& config, const std::string& stage, Module& model,
                        const std::string& source) {
  RAOQ_CHECK(!dir.holds_run(), "import-torch: '", dir.root, "' already holds a run; pass --overwrite or another --out");
  dir.create();
  write_file_atomic(dir.config(), config.dump(2) + "\n");
  // One row, so the log and the checkpoint agree on how many rows precede the next stage. Every
  // row carries "seconds" (the resumed run's clock starts from it); nothing was trained here.
  MetricsLog log;
  log.open(dir.metrics(), -1);
  log.write({{"kind", "stage_done"}, {"stage", stage}, {"seconds", 0.0}, {"stage_seconds", 0.0},
             {"imported_from", source}, {"trainable_parameters", 0}, {"parameters", model.num_parameters()}});
  save_model_checkpoint(dir.stage_checkpoint(stage), model, {{"stage", stage}, {"step", 0}, {"imported_from", source}},
                        config);
  // What finish_stage leaves: the next stage (1) to start, no loader, no optimizer, no results
  // rows (the imported weights were not evaluated here; raoq eval RUN does that).
  TrainState state;
  state.stage = 1;
  state.metrics_rows = log.rows();
  state.threads = num_threads();
  state.generators = capture_generators(model);
  save_train_checkpoint(dir.last_checkpoint(), model, nullptr, state, config);
}

}  // namespace raoq::tools
