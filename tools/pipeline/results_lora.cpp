// tools/pipeline/results_lora.cpp — ADC-LoRA's results as the paper lays them out: Table 6 (RAOQ
// with and without ADC-LoRA), Table 12 (the initialisations side by side) and Table 4 (trainable
// parameters), from rows named raoq, raoq_lora_hu, raoq_lora_svd, raoq_lora_adc_mse and their
// variants (raoq_lora_adc_mse_r4, ..._nobitaug), at one ADC width.
#include <cstdio>
#include <map>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include "tools/pipeline/results.h"

namespace raoq::tools {
namespace {

std::string number(const std::optional<double>& v, const char* fmt = "%.2f") {
  if (!v) return "-";
  char buf[48];
  std::snprintf(buf, sizeof buf, fmt, *v);
  return buf;
}

}  // namespace

std::string lora_markdown(const Results& results) {
  std::string metric;
  for (const auto& r : results.table)
    if (r.metric == "test_perplexity" || r.metric == "test_accuracy") metric = r.metric;
  std::map<std::string, double> value, trainable;  // by method, at the rows' ADC width
  std::vector<std::string> lora_methods;            // in order of appearance
  std::optional<int64_t> ba;
  for (const auto& r : results.table) {
    if (r.method.rfind("raoq", 0) != 0) continue;
    if (r.metric == metric) value[r.method] = r.value, ba = r.ba;
    if (r.metric == "trainable_parameters") trainable[r.method] = r.value;
    if (r.method.rfind("raoq_lora_", 0) == 0 && r.metric == metric &&
        r.method.compare(r.method.size() - 5, 5, "_noft") != 0)
      lora_methods.push_back(r.method);
  }
  if (lora_methods.empty()) return "";
  auto get = [](const std::map<std::string, double>& m, const std::string& k) -> std::optional<double> {
    auto it = m.find(k);
    return it == m.end() ? std::nullopt : std::optional<double>(it->second);
  };
  const std::string what = metric == "test_perplexity" ? "test perplexity (lower is better)" : "test accuracy (%)";
  const std::string at = ba ? " at ba=" + std::to_string(*ba) : "";
  std::ostringstream os;
  os << "## Table 6: RAOQ with and without ADC-LoRA, " << what << at << "\n\n"
     << "| model | no ADC-LoRA | ADC-LoRA (adc_mse) | trainable parameters without / with |\n|---|---|---|---|\n"
     << "| " << results.model << " | " << number(get(value, "raoq")) << " | " << number(get(value, "raoq_lora_adc_mse"))
     << " | " << number(get(trainable, "raoq"), "%.0f") << " / " << number(get(trainable, "raoq_lora_adc_mse"), "%.0f")
     << " |\n\n";
  os << "## Table 12: ADC-LoRA's initialisations, " << what << at << "\n\n"
     << "| model | Hu et al. (hu) | LoftQ (svd) | ADC-LoRA (adc_mse) |\n|---|---|---|---|\n";
  for (const bool noft : {false, true}) {
    const std::string tail = noft ? "_noft" : "";
    os << "| " << results.model << (noft ? ", no fine-tune" : "") << " | " << number(get(value, "raoq_lora_hu" + tail))
       << " | " << number(get(value, "raoq_lora_svd" + tail)) << " | " << number(get(value, "raoq_lora_adc_mse" + tail))
       << " |\n";
  }
  os << "\n## Table 4: trainable parameters of the ADC stage, and every LoRA variant\n\n"
     << "| method | trainable parameters | fewer than full | " << what << " |\n|---|---|---|---|\n";
  const std::optional<double> full = get(trainable, "raoq");
  std::vector<std::string> rows{"raoq"};
  if (value.count("raoq_nobitaug")) rows.push_back("raoq_nobitaug");
  rows.insert(rows.end(), lora_methods.begin(), lora_methods.end());
  for (const std::string& m : rows) {
    const std::optional<double> t = get(trainable, m);
    os << "| " << m << " | " << number(t, "%.0f") << " | "
       << (full && t && *t > 0 ? number(*full / *t, "%.1fx") : std::string("-")) << " | " << number(get(value, m))
       << " |\n";
  }
  os << "\n";
  return os.str();
}

}  // namespace raoq::tools
