// tools/pipeline/results.h — the results table a run ends with (results.json and results.md).
//
// One row per (method, ADC bits, metric): a full-precision stage adds
//   {"method": "fp", "ba": null, "metric": "test_accuracy", "value": 92.41}
// (accuracies in percent). Quantized and ADC stages add rows with their method name and ADC
// bit width, so a sweep over ADC bits is more rows of the same table.
// results.json also carries per-stage details (epochs, best validation accuracy, time) and the
// environment the run ran on (raoq version, threads, CPU model).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "core/json_fields.h"

namespace raoq::tools {

struct ResultRow {
  std::string method;         // "fp"
  std::optional<int64_t> ba;  // ADC bits; none for digital methods
  std::string metric;         // "test_accuracy"
  double value = 0.0;
};

struct StageSummary {
  std::string name, kind;
  int64_t epochs = 0, steps = 0;
  double test_accuracy = 0.0, test_loss = 0.0;
  double best_validation_accuracy = 0.0;  // a language model: the best validation perplexity
  double seconds = 0.0;
  int64_t parameters = 0, trainable_parameters = 0;  // elements; trainable: what the optimizer moved
  int64_t peak_tensor_bytes = 0;  // the largest tensor memory of one training step
  int64_t peak_rss_bytes = -1;    // the process's peak RSS during the stage's training; -1: unknown
};

// One point of a hardware sweep (kind sweep) for one method: its metric on the arrays before and
// after the point's fine-tune, and what the point's hardware costs per sample (imc/cost.h).
struct SweepRow {
  std::string sweep, method, stage;
  int64_t point = 0;              // 1-based, in the sweep's order
  Json values = Json::object();   // {"adc.rows": 256, ...}: the grid's keys and this point's values
  int64_t finetune_steps = 0;     // 0: evaluated only
  std::string metric;             // "test_accuracy" or "test_perplexity"
  double before = 0.0;            // the starting model on the point's arrays
  std::optional<double> after;    // after the fine-tune; none for an evaluation-only point
  bool done = false;              // false while the point's fine-tune runs (`after` and the cost not yet known)
  int64_t arrays = 0;
  double conversions = 0.0, array_macs = 0.0, digital_ops = 0.0, energy = 0.0;  // per sample; energy in J
  double final_value() const { return after ? *after : before; }
};

Json to_json(const SweepRow& r);
SweepRow sweep_row_from_json(const Json& j);

Json to_json(const StageSummary& s);
StageSummary stage_summary_from_json(const Json& j);
Json to_json(const ResultRow& r);
ResultRow result_row_from_json(const Json& j);

struct Results {
  std::string config_name;
  std::string model;
  std::vector<ResultRow> table;
  std::vector<StageSummary> stages;
  std::vector<SweepRow> sweep;  // the finished points of every sweep stage
  // What the run ran on (environment.h): version, threads, CPU; null in results written before it was kept.
  Json environment;

  Json to_json() const;
  static Results from_json(const Json& j);
  std::string markdown() const;
};

// The paper's Table 1 layout of the rows fp, qat, vanilla, raoq (and *_noft) by ADC bits; "" when
// the table has no ADC rows (tools/results_table1.cpp).
std::string table1_markdown(const Results& results);

// ADC-LoRA's Tables 6, 12 and 4 from rows raoq and raoq_lora_* (results_lora.cpp); "" without LoRA rows.
std::string lora_markdown(const Results& results);

// The sweeps in the paper's layout (results_sweep.cpp): a one-key grid as a row per method with
// the values as columns (Tables 13 and 14), a two-key grid as one matrix per method, and every
// point with its cost; "" without sweep rows.
std::string sweep_markdown(const Results& results);
// Every sweep point as CSV, one line each with a header; the Pareto column says whether the point
// is on its method's front (no other point of that method is at least as good at no more energy).
std::string sweep_csv(const Results& results);
// Per row of `rows`: on the Pareto front of the rows of its method (all of a run's sweeps
// together: fine-tuned and evaluation-only points compete), by final_value (higher is better for
// accuracy, lower for perplexity) against energy.
std::vector<bool> pareto_front(const std::vector<SweepRow>& rows);

// v with `digits` digits after the point ("92.41"): how every results table prints a number.
std::string fixed(double v, int digits);

// Writes DIR/results.json and DIR/results.md (atomically).
void write_results(const std::string& json_path, const std::string& md_path, const Results& results);

}  // namespace raoq::tools
