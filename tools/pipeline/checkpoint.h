// tools/pipeline/checkpoint.h — training checkpoints: everything a resumed run needs to continue bit for bit.
//
// A checkpoint is one safetensors file (written atomically by save_safetensors):
//   tensors   "model.<path>"      every parameter and buffer (model.state_dict())
//             "optimizer.<name>"  the optimizer's state ("step", "<param>.momentum", ...); training
//                                 checkpoints only
//   metadata  "raoq.format"       "1"
//             "raoq.kind"         "train" (last.safetensors) or "model" (best, <stage>)
//             "raoq.state"        TrainState as JSON (train) or a short description (model)
//             "raoq.config"       the resolved config the run used
// TrainState carries the schedule position (stage_step), the data loader's state, every random
// generator (the default one and each Dropout's), the running sums that the metrics log and the
// progress line report, and how many rows of metrics.jsonl belong to the steps before it.
// Nothing in a checkpoint depends on the clock: two runs of the same config at the same thread
// count write byte-identical checkpoints, so `sha256sum` compares runs. Time lives in
// metrics.jsonl, from which a resumed run recovers it (run_dir.h, MetricsTimes).
// A tensor holding NaN or infinity is never written: the save throws and the previous file stays.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "core/error.h"
#include "core/rng.h"
#include "core/safetensors.h"
#include "layers/module.h"
#include "core/json_fields.h"
#include "optim/optimizer.h"
#include "tools/pipeline/results.h"

namespace raoq::tools {

// Sums over a span of training steps (an epoch, or the window between two log rows).
struct StepTotals {
  double loss_sum = 0.0;  // sum over examples of the per-example loss
  int64_t correct = 0, examples = 0, steps = 0;
  void add(double batch_mean_loss, int64_t batch_correct, int64_t batch_size);
  double mean_loss() const { return examples ? loss_sum / static_cast<double>(examples) : 0.0; }
  double accuracy() const {
    return examples ? 100.0 * static_cast<double>(correct) / static_cast<double>(examples) : 0.0;
  }
};

struct TrainState {
  int64_t stage = 0;        // index of the stage in progress; stages.size() once the run is done
  int64_t epoch = 0;        // epoch in progress within the stage (0-based)
  int64_t stage_step = 0;   // optimizer steps taken in this stage: the schedule position
  int64_t global_step = 0;  // steps over all stages
  Json loader;              // the stage batch stream's state (task.h) as JSON; null at the start of a stage
  StepTotals epoch_totals, window_totals;
  double best_accuracy = -1.0;    // best validation accuracy in this stage so far (a language model: perplexity)
  double last_validation = -1.0;  // the latest evaluation of this stage (accuracy, loss)
  double last_validation_loss = 0.0;
  int64_t metrics_rows = 0;  // rows of metrics.jsonl written when this state was saved
  int threads = 1;
  int ranks = 1;  // data-parallel ranks (core/distributed.h) the state was trained with
  Json generators;  // {"default": [...], "<dropout path>": [...]}
  std::vector<StageSummary> finished;  // their `seconds` are not stored (see above)
  std::vector<ResultRow> rows;
  std::vector<SweepRow> sweep;  // sweep points, the one in progress last with done false
};

Json to_json(const TrainState& s);
TrainState train_state_from_json(const Json& j);

// Generator states of the default generator and of every Dropout in `model`.
Json capture_generators(Module& model);
void restore_generators(Module& model, const Json& j);

// What a save throws instead of writing NaN or infinity.
class NonFiniteError : public Error {
 public:
  using Error::Error;
};

// The first tensor holding NaN or infinity, as "'model.fc.weight' holds nan at element 3"; "" when
// every value is finite.
std::string first_non_finite_tensor(const NamedTensors& tensors);

// last.safetensors: model, optimizer (may be null between stages) and state.
void save_train_checkpoint(const std::string& path, const Module& model, const Optimizer* optimizer,
                           const TrainState& state, const Json& config);
// best.safetensors and <stage>.safetensors: the model and a description.
void save_model_checkpoint(const std::string& path, const Module& model, const Json& info, const Json& config);

struct Checkpoint {
  SafetensorsFile file;
  std::string kind;  // "train" or "model"
  Json state;        // raoq.state
  Json config;       // raoq.config
};
// Reads and checks the raoq metadata; errors name the file.
Checkpoint read_checkpoint(const std::string& path);
// Loads "model.*" into `model` (strict: every key, no others) / "optimizer.*" into `optimizer`.
void load_model(Module& model, const Checkpoint& c, const std::string& path);
void load_optimizer(Optimizer& optimizer, const Checkpoint& c, const std::string& path);

}  // namespace raoq::tools
