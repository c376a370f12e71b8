// tools/pipeline/results_table1.cpp — the results as the paper's Tables 1 and 2 lay them out (test accuracy,
// or test perplexity for a language model): one line per model
// with full precision, QAT without ADC, then vanilla QAT* and RAOQ side by side for each ADC width;
// a second line gives the same models before fine-tuning (the QAT model with the ADC inserted).
#include <cstdio>
#include <map>
#include <optional>
#include <set>
#include <sstream>

#include "tools/pipeline/results.h"

namespace raoq::tools {
namespace {

std::string cell(const std::optional<double> &v) {
  if (!v) return "-";
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.2f", *v);
  return buf;
}

}  // namespace

std::string table1_markdown(const Results &results) {
  // Classification: test accuracy (Table 1); a language model: test perplexity (Table 2's metric).
  bool perplexity = false;
  for (const auto &r : results.table) perplexity = perplexity || r.metric == "test_perplexity";
  const std::string metric = perplexity ? "test_perplexity" : "test_accuracy";
  std::map<std::pair<std::string, int64_t>, double> by;  // (method, ba) -> value; ba -1 = none
  std::set<int64_t> bas;
  for (const auto &r : results.table) {
    if (r.metric != metric) continue;
    by[{r.method, r.ba.value_or(-1)}] = r.value;
    if (r.ba && (r.method == "vanilla" || r.method == "raoq" || r.method == "vanilla_noft" || r.method == "raoq_noft"))
      bas.insert(*r.ba);
  }
  if (bas.empty()) return "";
  auto get = [&](const std::string &m, int64_t ba) -> std::optional<double> {
    auto it = by.find({m, ba});
    if (it == by.end()) return std::nullopt;
    return it->second;
  };
  std::ostringstream os;
  os << (perplexity ? "## Table 2: test perplexity (lower is better), QAT* = vanilla QAT\n\n"
                     : "## Table 1: test accuracy (%), QAT* = vanilla QAT\n\n")
     << "| model | full precision | no ADC |";
  for (int64_t b : bas) os << " ba=" << b << " QAT* | ba=" << b << " RAOQ |";
  os << "\n|---|---|---|";
  for (size_t i = 0; i < bas.size(); ++i) os << "---|---|";
  os << "\n| " << results.model << " | " << cell(get("fp", -1)) << " | " << cell(get("qat", -1)) << " |";
  for (int64_t b : bas) os << " " << cell(get("vanilla", b)) << " | " << cell(get("raoq", b)) << " |";
  os << "\n| " << results.model << ", no fine-tune | " << cell(get("fp", -1)) << " | " << cell(get("qat", -1)) << " |";
  for (int64_t b : bas) os << " " << cell(get("vanilla_noft", b)) << " | " << cell(get("raoq_noft", b)) << " |";
  os << "\n\n";
  return os.str();
}

}  // namespace raoq::tools
