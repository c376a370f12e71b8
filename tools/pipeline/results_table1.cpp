// tools/pipeline/results_table1.cpp — the results as the paper's Tables 1 and 2 lay them out (test accuracy,
// or test perplexity for a language model): one line per model
// with full precision, QAT without ADC, then vanilla QAT* and RAOQ side by side for each ADC width;
// a second line gives the same models before fine-tuning (the QAT model with the ADC inserted).
#include <algorithm>
#include <cstdio>
#include <map>
#include <optional>
#include <set>
#include <sstream>
#include <string>
#include <vector>

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

// A results row's method as (base, suffix, no fine-tune): "raoq_k1_noft" -> ("raoq", "_k1", true).
struct MethodParts {
  std::string base, suffix;
  bool noft = false;
};
std::optional<MethodParts> parts_of(std::string m) {
  MethodParts p;
  if (m.size() > 5 && m.compare(m.size() - 5, 5, "_noft") == 0) m.resize(m.size() - 5), p.noft = true;
  for (const char *base : {"vanilla", "raoq"})
    if (m.rfind(base, 0) == 0) {
      p.base = base, p.suffix = m.substr(std::string(base).size());
      return p;
    }
  return std::nullopt;
}

std::string table1_markdown(const Results &results) {
  // Classification: test accuracy (Table 1); a language model: test perplexity (Table 2's metric).
  bool perplexity = false;
  for (const auto &r : results.table) perplexity = perplexity || r.metric == "test_perplexity";
  const std::string metric = perplexity ? "test_perplexity" : "test_accuracy";
  std::map<std::pair<std::string, int64_t>, double> by;  // (method, ba) -> value; ba -1 = none
  std::set<int64_t> bas;
  std::vector<std::string> suffixes;  // "" first, then each sweep's label_suffix in order of appearance
  for (const auto &r : results.table) {
    if (r.metric != metric) continue;
    by[{r.method, r.ba.value_or(-1)}] = r.value;
    const auto p = parts_of(r.method);
    if (!r.ba || !p) continue;
    bas.insert(*r.ba);
    if (std::find(suffixes.begin(), suffixes.end(), p->suffix) == suffixes.end()) suffixes.push_back(p->suffix);
  }
  if (bas.empty()) return "";
  std::stable_partition(suffixes.begin(), suffixes.end(), [](const std::string &x) { return x.empty(); });
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
  for (const std::string &sfx : suffixes)
    for (const bool noft : {false, true}) {
      const std::string tail = noft ? "_noft" : "";
      os << "\n| " << results.model << (sfx.empty() ? "" : " (" + sfx.substr(sfx[0] == '_' ? 1 : 0) + ")")
         << (noft ? ", no fine-tune" : "") << " | " << cell(get("fp", -1)) << " | " << cell(get("qat", -1)) << " |";
      for (int64_t b : bas) os << " " << cell(get("vanilla" + sfx + tail, b)) << " | " << cell(get("raoq" + sfx + tail, b)) << " |";
    }
  os << "\n\n";
  return os.str();
}

}  // namespace raoq::tools
