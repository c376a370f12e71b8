// tools/results.cpp — results table: JSON form and a readable Markdown table.
#include "tools/results.h"

#include <cstdio>
#include <sstream>

#include "core/error.h"
#include "tools/atomic_file.h"

namespace raoq::tools {
namespace {

std::string fixed(double v, int digits) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.*f", digits, v);
  return buf;
}

std::string metric_label(const std::string& metric) {
  if (metric == "test_accuracy") return "test accuracy (%)";
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

Json Results::to_json() const {
  Json j = Json::object();
  Json rows = Json::array();
  for (const auto& r : table) {
    Json row = Json::object();
    row["method"] = r.method;
    row["ba"] = r.ba ? Json(*r.ba) : Json(nullptr);
    row["metric"] = r.metric;
    row["value"] = r.value;
    rows.push_back(row);
  }
  j["table"] = rows;
  j["config"] = config_name;
  j["model"] = model;
  Json st = Json::array();
  for (const auto& s : stages) {
    st.push_back({{"name", s.name}, {"kind", s.kind}, {"epochs", s.epochs}, {"steps", s.steps},
                  {"test_accuracy", s.test_accuracy}, {"test_loss", s.test_loss},
                  {"best_validation_accuracy", s.best_validation_accuracy}, {"seconds", s.seconds}});
  }
  j["stages"] = st;
  return j;
}

Results Results::from_json(const Json& j) {
  Results r;
  RAOQ_CHECK(j.is_object() && j.contains("table") && j["table"].is_array(),
             "results: expected an object with a \"table\" list");
  for (const auto& row : j["table"]) {
    ResultRow x;
    x.method = row.at("method").get<std::string>();
    if (!row.at("ba").is_null()) x.ba = row.at("ba").get<int64_t>();
    x.metric = row.at("metric").get<std::string>();
    x.value = row.at("value").get<double>();
    r.table.push_back(x);
  }
  r.config_name = j.value("config", "");
  r.model = j.value("model", "");
  if (j.contains("stages")) {
    for (const auto& s : j["stages"]) {
      StageSummary x;
      x.name = s.at("name").get<std::string>();
      x.kind = s.at("kind").get<std::string>();
      x.epochs = s.at("epochs").get<int64_t>();
      x.steps = s.at("steps").get<int64_t>();
      x.test_accuracy = s.at("test_accuracy").get<double>();
      x.test_loss = s.at("test_loss").get<double>();
      x.best_validation_accuracy = s.at("best_validation_accuracy").get<double>();
      x.seconds = s.at("seconds").get<double>();
      r.stages.push_back(x);
    }
  }
  return r;
}

std::string Results::markdown() const {
  std::ostringstream os;
  os << "# Results: " << config_name << " (" << model << ")\n\n";
  os << "| method | ADC bits | metric | value |\n|---|---|---|---|\n";
  for (const auto& r : table)
    os << "| " << r.method << " | " << (r.ba ? std::to_string(*r.ba) : "-") << " | " << metric_label(r.metric)
       << " | " << fixed(r.value, 2) << " |\n";
  if (!stages.empty()) {
    os << "\n| stage | kind | epochs | steps | test accuracy (%) | test loss | best validation accuracy (%) | time |\n"
       << "|---|---|---|---|---|---|---|---|\n";
    for (const auto& s : stages)
      os << "| " << s.name << " | " << s.kind << " | " << s.epochs << " | " << s.steps << " | "
         << fixed(s.test_accuracy, 2) << " | " << fixed(s.test_loss, 4) << " | " << fixed(s.best_validation_accuracy, 2)
         << " | " << duration(s.seconds) << " |\n";
  }
  return os.str();
}

void write_results(const std::string& json_path, const std::string& md_path, const Results& results) {
  write_file_atomic(json_path, results.to_json().dump(2) + "\n");
  write_file_atomic(md_path, results.markdown());
}

}  // namespace raoq::tools
