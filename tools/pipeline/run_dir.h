// tools/pipeline/run_dir.h — where a training run keeps its files, and the metrics log.
//
//   DIR/config.json                   the resolved config (defaults, --set and --quick applied)
//   DIR/metrics.jsonl                 one JSON object per logged step and per evaluation
//   DIR/checkpoints/last.safetensors  every checkpoint.every_steps steps and at each epoch end
//   DIR/checkpoints/best.safetensors  the best validation accuracy of the latest stage (each stage
//                                     trains a different kind of model, so stages do not compete)
//   DIR/checkpoints/<stage>.safetensors   the model at the end of each stage
//   DIR/results.json, DIR/results.md  the results table, written when the run ends
#pragma once

#include <cstdint>
#include <fstream>
#include <string>

#include "core/json_fields.h"

namespace raoq::tools {

struct RunDir {
  std::string root;

  std::string config() const { return root + "/config.json"; }
  std::string metrics() const { return root + "/metrics.jsonl"; }
  std::string checkpoints() const { return root + "/checkpoints"; }
  std::string last_checkpoint() const { return checkpoints() + "/last.safetensors"; }
  std::string best_checkpoint() const { return checkpoints() + "/best.safetensors"; }
  std::string stage_checkpoint(const std::string& stage) const { return checkpoints() + "/" + stage + ".safetensors"; }
  std::string results_json() const { return root + "/results.json"; }
  std::string results_md() const { return root + "/results.md"; }

  // Whether a run already lives here (it has a last checkpoint or a metrics log).
  bool holds_run() const;
  // Creates DIR and DIR/checkpoints.
  void create() const;
  // Deletes the files a run writes (and only those), for --overwrite.
  void clear() const;
};

// Appends one JSON object per line to metrics.jsonl. Each line is flushed as written, so a
// killed run leaves whole lines; a resumed run first cuts the file back to the size it had
// when its checkpoint was written, so no step is logged twice.
class MetricsLog {
 public:
  MetricsLog() = default;
  // Opens `path` for appending, after cutting it to `keep_bytes` (-1: truncate to empty).
  void open(const std::string& path, int64_t keep_bytes);
  void write(const Json& row);
  int64_t size_bytes() const { return size_; }

 private:
  std::ofstream out_;
  std::string path_;
  int64_t size_ = 0;
};

}  // namespace raoq::tools
