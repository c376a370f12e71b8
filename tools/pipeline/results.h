// tools/pipeline/results.h — the results table a run ends with (results.json and results.md).
//
// One row per (method, ADC bits, metric): a full-precision stage adds
//   {"method": "fp", "ba": null, "metric": "test_accuracy", "value": 92.41}
// (accuracies in percent). Quantized and ADC stages add rows with their method name and ADC
// bit width, so a sweep over ADC bits is more rows of the same table.
// results.json also carries per-stage details (epochs, best validation accuracy, time).
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

Json to_json(const StageSummary& s);
StageSummary stage_summary_from_json(const Json& j);
Json to_json(const ResultRow& r);
ResultRow result_row_from_json(const Json& j);

struct Results {
  std::string config_name;
  std::string model;
  std::vector<ResultRow> table;
  std::vector<StageSummary> stages;

  Json to_json() const;
  static Results from_json(const Json& j);
  std::string markdown() const;
};

// The paper's Table 1 layout of the rows fp, qat, vanilla, raoq (and *_noft) by ADC bits; "" when
// the table has no ADC rows (tools/results_table1.cpp).
std::string table1_markdown(const Results& results);

// ADC-LoRA's Tables 6, 12 and 4 from rows raoq and raoq_lora_* (results_lora.cpp); "" without LoRA rows.
std::string lora_markdown(const Results& results);

// Writes DIR/results.json and DIR/results.md (atomically).
void write_results(const std::string& json_path, const std::string& md_path, const Results& results);

}  // namespace raoq::tools
