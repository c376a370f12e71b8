// tools/pipeline/config.h — the training config: its schema, validation, overrides and resolved form.
//
// A config is JSON. Every key is validated before any work starts; the first problem is one
// line naming the key path, e.g.  config: stages[1].optimizer.lr must be > 0 (got -0.1).
// The resolved config (every default filled in, overrides applied) is what a run directory
// stores as config.json, and parsing it again gives the same Config.
//
//   {
//     "name": "fmnist-fp",                  optional; default: the config file's name
//     "seed": 0,
//     "data":  { "kind": "idx", "root": "...", "normalize": {...}, "augment": {...}, "subset": {...} },
//     "model": { "name": "cnn-small", ...model options... },
//     "stages": [ { "name": "fp", "kind": "fp", "epochs": 10, "batch_size": 128,
//                   "optimizer": {...}, "schedule": {...}, "weight_decay": 5e-4, ... } ],
//     "checkpoint": { "every_steps": 500 },
//     "log": { "every_steps": 50 }
//   }
// `raoq train --help` prints the full key reference (config_reference()).
//
// Stage kinds (fp, qat, adc) are a table (tools/pipeline/stage_kind.h): each reads its own keys,
// writes their resolved form, and hooks into the trainer; a new kind is one entry there.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "core/json_fields.h"
#include "imc/cost.h"
#include "tools/pipeline/stage_kind.h"

namespace raoq::tools {

struct NormalizeConfig {
  std::vector<double> mean, std;  // per channel (one value = every channel); empty = no normalisation
};

struct AugmentConfig {
  int64_t random_crop_padding = 0;  // pad by p (zeros) and crop back at a random offset; 0 = off
  bool horizontal_flip = false;
};

struct DataConfig {
  std::string kind;  // idx | cifar10 | folder | text
  std::string root;  // text: a file or a folder of text files (default: Debian's fortunes)
  NormalizeConfig normalize;
  AugmentConfig augment;
  int64_t train_subset = 0;  // 0 = the whole split; else a fixed random subset of that size
  int64_t test_subset = 0;
  double validation_split = 0.0;  // fraction of train held out to pick `best`; 0 = pick on test
  // folder only: root/train/<class>/*.png and root/test/<class>/*.png
  int64_t image_size = 32;  // images are resized (shorter side) and cropped to image_size^2
  int64_t channels = 3;     // 3: RGB, 1: grey
  // text only (tools/pipeline/task.h)
  std::vector<std::string> text_files;  // explicit {train, valid, test} files instead of root; empty: root
  std::string tokens = "bytes";         // bytes (vocabulary 256) | chars (built from the training split)
  // chars: the vocabulary in data/text_tokenizer.h's JSON form. Null in a config a user writes: the
  // trainer builds it from the training split and stores it in the resolved config (config.json and
  // every checkpoint), so evaluation and generation use the run's ids even if the corpus changes.
  Json vocabulary;
  int64_t context = 128;                // tokens per window
  int64_t eval_tokens = 0;              // score valid/test only up to this many targets; 0 = all
  std::string objective = "next_token";  // next_token (gpt) | masked (bert: 15% of positions, 80/10/10)
};

struct OptimizerConfig {
  std::string name;  // sgd | adamw
  double lr = 0.1;
  double momentum = 0.9;                          // sgd
  bool nesterov = false;                          // sgd
  double beta1 = 0.9, beta2 = 0.999, eps = 1e-8;  // adamw
};

struct ScheduleConfig {
  std::string name = "cosine";  // cosine | linear | step | constant
  double warmup_epochs = 0.0;   // linear warm-up from ~0 to lr (fractions of an epoch allowed)
  double final_lr = 0.0;        // cosine, linear: the lr at the end of the stage
  int64_t step_epochs = 30;     // step: multiply by gamma every step_epochs
  double gamma = 0.1;           // step
};

struct EvalConfig {
  int64_t every_epochs = 1;
  int64_t batch_size = 1000;
};

struct StageConfig {
  std::string name;
  std::string kind = "fp";  // a name in the stage-kind table (kind_of(s) gives its entry)
  int64_t epochs = 1;
  int64_t max_steps = 0;  // end the stage after this many steps, even mid-epoch; 0 = after its epochs
  int64_t batch_size = 128;
  OptimizerConfig optimizer;
  ScheduleConfig schedule;
  double weight_decay = 0.0;
  std::vector<std::string> no_weight_decay;  // glob patterns of parameter names excluded from decay
  double label_smoothing = 0.0;
  double grad_clip = 0.0;  // clip the global gradient L2 norm; 0 = off
  EvalConfig eval;
  std::string init_from;   // an earlier stage whose final checkpoint this stage starts from; "" = the previous stage
  QuantStageConfig quant;  // kinds qat and adc (tools/pipeline/stage_kind.h)
  std::string label;       // the method name of its results rows; default: the stage name (adc: method)
  bool save_checkpoint = true;  // false: no checkpoints/<name>.safetensors (nor best) for this stage
  SweepPoint sweep;             // a point of a hardware sweep (adc stages expanded from kind sweep)
};

struct CheckpointConfig {
  int64_t every_steps = 500;  // also at each epoch end; 0 = epoch ends only
};

struct LogConfig {
  int64_t every_steps = 50;  // metrics.jsonl train rows and plain progress lines
};

struct Config {
  std::string name;
  uint64_t seed = 0;
  DataConfig data;
  Json model;        // {"name": ..., options...} resolved by models::validate_model
  Json model_given;  // the model object as written (tells which options the data may fill in)
  std::vector<StageConfig> stages;
  CheckpointConfig checkpoint;
  LogConfig log;
  imc::CostConstants cost;  // the energy proxy's constants (raoq inspect --cost)
};

// A stage name: 1-64 letters, digits, '-' or '_' (it names checkpoint files).
bool valid_stage_name(const std::string& name);

// Validates and converts. `default_name` is used when the config has no "name".
// Throws raoq::Error "config: <key path> <problem>" for the first problem found.
Config parse_config(const Json& j, const std::string& default_name);
// The resolved form: every key, defaults included. parse_config(to_json(c)) == c.
Json to_json(const Config& c);

// The config file `path` means: the path itself, or for a directory (a run directory) its
// config.json. A directory without one is an error saying so.
std::string config_file_of(const std::string& path);
// Reads a JSON config file or a run directory's config.json (parse_json: errors name the file,
// the line and column, or the key path of a number that overflows).
Json read_json_file(const std::string& path);
// Reads, overrides and validates a config file. The default name is the file's stem.
Config load_config(const std::string& path, const std::vector<std::string>& overrides);

// Applies one `--set key.path=value` override to raw config JSON. The value is parsed as JSON
// when it parses ("0.1", "true", "[1,2]", "{...}") and taken as a string otherwise ("sgd").
// Paths use dots and [i] (or .i) for list items; [*] sets every item of a list. Missing objects
// along the way are created (the key is validated afterwards like any other).
void apply_override(Json& j, const std::string& assignment);

// --quick: every stage runs one epoch on a small subset (a smoke test of the whole pipeline).
void make_quick(Config& c);

// The key reference printed by `raoq train --help`.
std::string config_reference();

}  // namespace raoq::tools
