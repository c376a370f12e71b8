// tools/pipeline/run_dir.h — where a training run keeps its files, and the metrics log.
//
//   DIR/config.json                   the resolved config (defaults, --set and --quick applied)
//   DIR/metrics.jsonl                 one JSON object per logged step and per evaluation
//   DIR/checkpoints/last.safetensors  every checkpoint.every_steps steps and at each epoch end
//   DIR/checkpoints/best.safetensors  the best validation accuracy of the latest stage (each stage
//                                     trains a different kind of model, so stages do not compete)
//   DIR/checkpoints/<stage>.safetensors   the model at the end of each stage
//   DIR/results.json, DIR/results.md  the results table, written when the run ends
//   DIR/training_curves.{png,svg}     loss, evaluations, learning rate and lambda_b per step
//   DIR/results.{png,svg}             the Table 1/2 rows against the ADC bits (runs with adc stages)
//   DIR/sweep.csv, DIR/pareto.{png,svg}  a run with sweep stages: every point, and the accuracy
//                                     (or perplexity) against the energy proxy
//   DIR/report.html                   `raoq report`'s page (tools/pipeline/report.h), when asked for
#pragma once

#include <cstdint>
#include <fstream>
#include <map>
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
  std::string sweep_csv() const { return root + "/sweep.csv"; }
  std::string pareto_figure() const { return root + "/pareto"; }  // .png and .svg
  std::string curves_figure() const { return root + "/training_curves"; }
  std::string results_figure() const { return root + "/results"; }
  std::string report() const { return root + "/report.html"; }

  // Whether a run already lives here (it has a last checkpoint or a metrics log).
  bool holds_run() const;
  // Creates DIR and DIR/checkpoints.
  void create() const;
  // Deletes the files a run writes (and only those), for --overwrite.
  void clear() const;
  // Deletes the temporary files of writes that a crash cut short ("<file>.safetensors.tmp.<pid>.<n>"
  // in checkpoints/, ".<file>.tmp.<pid>" beside config.json); returns how many. Their targets
  // were never replaced, so nothing else is lost.
  int remove_partial_writes() const;
};

// What the rows of metrics.jsonl that a checkpoint has seen say about time. A checkpoint holds
// no time (so identical runs write identical checkpoint bytes); a resumed run recovers its clock
// from here, losing only the time between the last row and the interruption.
struct MetricsTimes {
  double seconds = 0.0;                         // the last row's "seconds": the run's time so far
  std::map<std::string, double> stage_seconds;  // each stage's last "stage_seconds"
  // Each finished stage's memory figures (its "stage_done" row): peak tensor bytes, peak RSS bytes.
  std::map<std::string, std::pair<int64_t, int64_t>> stage_memory;
};

// Reads the first `rows` lines of a metrics log's text. Each must be a JSON object with a finite,
// non-negative "seconds"; "stage_seconds", when present, is such a number and comes with a string
// "stage". *bytes receives the length of those lines. Errors are one line naming `path`, the line
// and its byte offset, and what was expected; fewer than `rows` whole lines is an error too.
MetricsTimes read_metrics_rows(const std::string& text, int64_t rows, const std::string& path, int64_t* bytes);

// Appends one JSON object per line to metrics.jsonl. Each line is flushed as written, so a
// killed run leaves whole lines (and at most one partial line, which a resume cuts off); a
// resumed run first cuts the file back to the rows its checkpoint had seen, so no step is
// logged twice.
class MetricsLog {
 public:
  MetricsLog() = default;
  // Opens `path` for appending after cutting it to its first `keep_rows` rows (-1: truncate to
  // empty), and returns what those rows say about time (read_metrics_rows).
  MetricsTimes open(const std::string& path, int64_t keep_rows);
  void write(const Json& row);
  int64_t rows() const { return rows_; }

 private:
  std::ofstream out_;
  std::string path_;
  int64_t rows_ = 0;
};

}  // namespace raoq::tools
