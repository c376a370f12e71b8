// tools/pipeline/results.cpp — results table: JSON form and a readable Markdown table.
#include "tools/pipeline/results.h"

#include <cstdio>
#include <sstream>

#include "core/error.h"
#include "core/json_fields.h"
#include "tools/pipeline/atomic_file.h"

namespace raoq::tools {
namespace {

std::string metric_label(const std::string& metric) {
  if (metric == "test_accuracy") return "test accuracy (%)";
  if (metric == "test_perplexity") return "test perplexity";
  return metric;
}

std::string duration(double seconds) {
  const auto s = static_cast<int64_t>(seconds + 0.5);
  char buf[32];
  std::snprintf(buf, sizeof buf, "%lld:%02lld:%02lld", static_cast<long long>(s / 3600),
                static_cast<long long>(s / 60 % 60), static_cast<long long>(s % 60));
  return buf;
}

}  // namespace

std::string fixed(double v, int digits) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.*f", digits, v);
  return buf;
}

Json to_json(const StageSummary& s) {
  return {{"name", s.name},
          {"kind", s.kind},
          {"epochs", s.epochs},
          {"steps", s.steps},
          {"test_accuracy", s.test_accuracy},
          {"test_loss", s.test_loss},
          {"best_validation_accuracy", s.best_validation_accuracy},
          {"seconds", s.seconds},
          {"parameters", s.parameters},
          {"trainable_parameters", s.trainable_parameters},
          {"peak_tensor_bytes", s.peak_tensor_bytes},
          {"peak_rss_bytes", s.peak_rss_bytes}};
}

StageSummary stage_summary_from_json(const Json& j) {
  StageSummary s;
  s.name = j.at("name").get<std::string>();
  s.kind = j.at("kind").get<std::string>();
  constexpr const char* what = "stage summary";
  s.epochs = json_int64_at(j, "epochs", what);
  s.steps = json_int64_at(j, "steps", what);
  s.test_accuracy = j.at("test_accuracy").get<double>();
  s.test_loss = j.at("test_loss").get<double>();
  s.best_validation_accuracy = j.at("best_validation_accuracy").get<double>();
  s.seconds = j.value("seconds", 0.0);  // absent in a checkpoint's copy (checkpoint.h)
  // Absent in results written before these were kept.
  const auto count_or = [&](const char* key, int64_t fallback) {
    return j.contains(key) ? json_int64_at(j, key, what) : fallback;
  };
  s.parameters = count_or("parameters", 0);
  s.trainable_parameters = count_or("trainable_parameters", 0);
  s.peak_tensor_bytes = count_or("peak_tensor_bytes", 0);
  s.peak_rss_bytes = count_or("peak_rss_bytes", -1);
  return s;
}

Json to_json(const SweepRow& r) {
  return {{"sweep", r.sweep},
          {"method", r.method},
          {"stage", r.stage},
          {"point", r.point},
          {"values", r.values},
          {"finetune_steps", r.finetune_steps},
          {"metric", r.metric},
          {"before_finetune", r.before},
          {"after_finetune", r.after ? Json(*r.after) : Json(nullptr)},
          {"done", r.done},
          {"arrays", r.arrays},
          {"conversions_per_sample", r.conversions},
          {"array_macs_per_sample", r.array_macs},
          {"digital_ops_per_sample", r.digital_ops},
          {"energy_proxy_joules_per_sample", r.energy}};
}

SweepRow sweep_row_from_json(const Json& j) {
  constexpr const char* what = "sweep row";
  SweepRow r;
  r.sweep = j.at("sweep").get<std::string>();
  r.method = j.at("method").get<std::string>();
  r.stage = j.at("stage").get<std::string>();
  r.point = json_int64_at(j, "point", what);
  r.values = j.at("values");
  RAOQ_CHECK(r.values.is_object(), what, ": 'values' must be an object");
  r.finetune_steps = json_int64_at(j, "finetune_steps", what);
  r.metric = j.at("metric").get<std::string>();
  r.before = j.at("before_finetune").get<double>();
  if (!j.at("after_finetune").is_null()) r.after = j.at("after_finetune").get<double>();
  r.done = j.at("done").get<bool>();
  r.arrays = json_int64_at(j, "arrays", what);
  r.conversions = j.at("conversions_per_sample").get<double>();
  r.array_macs = j.at("array_macs_per_sample").get<double>();
  r.digital_ops = j.at("digital_ops_per_sample").get<double>();
  r.energy = j.at("energy_proxy_joules_per_sample").get<double>();
  return r;
}

Json to_json(const ResultRow& r) {
  return {{"method", r.method}, {"ba", r.ba ? Json(*r.ba) : Json(nullptr)}, {"metric", r.metric}, {"value", r.value}};
}

ResultRow result_row_from_json(const Json& j) {
  ResultRow r;
  r.method = j.at("method").get<std::string>();
  if (!j.at("ba").is_null()) r.ba = json_int64_at(j, "ba", "result row");
  r.metric = j.at("metric").get<std::string>();
  r.value = j.at("value").get<double>();
  return r;
}

Json Results::to_json() const {
  Json rows = Json::array(), st = Json::array();
  for (const auto& r : table) rows.push_back(tools::to_json(r));
  for (const auto& s : stages) st.push_back(tools::to_json(s));
  Json j = {{"table", rows}, {"config", config_name}, {"model", model}, {"stages", st}};
  if (!environment.is_null()) j["environment"] = environment;
  if (!sweep.empty()) {
    Json points = Json::array();
    const std::vector<bool> front = pareto_front(sweep);
    for (size_t i = 0; i < sweep.size(); ++i) {
      points.push_back(tools::to_json(sweep[i]));
      points.back()["pareto"] = static_cast<bool>(front[i]);
    }
    j["sweep"] = points;
  }
  return j;
}

Results Results::from_json(const Json& j) {
  RAOQ_CHECK(j.is_object() && j.contains("table") && j["table"].is_array(),
             "results: expected an object with a \"table\" list");
  Results r;
  try {
    for (const auto& row : j["table"]) r.table.push_back(result_row_from_json(row));
    r.config_name = j.value("config", "");
    r.model = j.value("model", "");
    if (j.contains("stages"))
      for (const auto& s : j["stages"]) r.stages.push_back(stage_summary_from_json(s));
    if (j.contains("sweep"))
      for (const auto& p : j["sweep"]) r.sweep.push_back(sweep_row_from_json(p));
    if (j.contains("environment") && j["environment"].is_object()) r.environment = j["environment"];
  } catch (const Json::exception& e) {
    throw Error(std::string("results: malformed entry (") + e.what() + ")");
  }
  return r;
}

std::string Results::markdown() const {
  std::ostringstream os;
  os << "# Results: " << config_name << " (" << model << ")\n\n";
  os << table1_markdown(*this) << lora_markdown(*this) << sweep_markdown(*this);
  os << "| method | ADC bits | metric | value |\n|---|---|---|---|\n";
  for (const auto& r : table)
    os << "| " << r.method << " | " << (r.ba ? std::to_string(*r.ba) : "-") << " | " << metric_label(r.metric) << " | "
       << fixed(r.value, r.metric == "trainable_parameters" ? 0 : 2) << " |\n";
  bool lm = false;  // a language model: next-token accuracy, and its best validation figure is a perplexity
  for (const auto& r : table) lm = lm || r.metric == "test_perplexity";
  if (!stages.empty()) {
    os << (lm ? "\n| stage | kind | epochs | steps | test next-token accuracy (%) | test loss per token | best validation "
                "perplexity | time |\n"
              : "\n| stage | kind | epochs | steps | test accuracy (%) | test loss | best validation accuracy (%) | time |\n")
       << "|---|---|---|---|---|---|---|---|\n";
    for (const auto& s : stages)
      os << "| " << s.name << " | " << s.kind << " | " << s.epochs << " | " << s.steps << " | "
         << fixed(s.test_accuracy, 2) << " | " << fixed(s.test_loss, 4) << " | "
         << (s.best_validation_accuracy >= 0 ? fixed(s.best_validation_accuracy, 2) : std::string("-"))  // none: evaluated only
         << " | " << duration(s.seconds) << " |\n";
    // What each stage trained and held (ADC-LoRA's Table 4, and BitAug's memory cost).
    os << "\n| stage | trainable parameters | of all | peak tensor memory per step (MiB) | peak RSS (MiB) |\n"
       << "|---|---|---|---|---|\n";
    for (const auto& s : stages)
      os << "| " << s.name << " | " << s.trainable_parameters << " | " << s.parameters << " | "
         << fixed(static_cast<double>(s.peak_tensor_bytes) / (1 << 20), 1) << " | "
         << (s.peak_rss_bytes >= 0 ? fixed(static_cast<double>(s.peak_rss_bytes) / (1 << 20), 1) : std::string("n/a"))
         << " |\n";
  }
  return os.str();
}

void write_results(const std::string& json_path, const std::string& md_path, const Results& results) {
  write_file_atomic(json_path, results.to_json().dump(2) + "\n");
  write_file_atomic(md_path, results.markdown());
}

}  // namespace raoq::tools
