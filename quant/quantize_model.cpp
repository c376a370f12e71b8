// quant/quantize_model.cpp — the rule-based QAT conversion pass and the W-reshape gathering.
#include "quant/quantize_model.h"

#include <typeinfo>

#include "quant/quant_conv2d.h"
#include "quant/quant_linear.h"
#include "quant/wreshape.h"

namespace raoq::quant {

bool path_matches(const std::string& pattern, const std::string& path) {
  // Iterative glob with one backtrack point (the last '*'): linear in practice.
  size_t p = 0, s = 0, star = std::string::npos, mark = 0;
  while (s < path.size()) {
    if (p < pattern.size() && (pattern[p] == '?' || pattern[p] == path[s])) {
      ++p, ++s;
    } else if (p < pattern.size() && pattern[p] == '*') {
      star = p++, mark = s;
    } else if (star != std::string::npos) {
      p = star + 1, s = ++mark;
    } else {
      return false;
    }
  }
  while (p < pattern.size() && pattern[p] == '*') ++p;
  return p == pattern.size();
}

namespace {
bool any_match(const std::vector<std::string>& patterns, const std::string& path) {
  for (const auto& pat : patterns)
    if (path_matches(pat, path)) return true;
  return false;
}
}  // namespace

QuantizeSummary quantize_model(Module& root, const QuantizeRules& rules) {
  std::vector<std::pair<std::string, std::shared_ptr<Module>>> candidates;
  for (auto& [path, m] : root.named_modules()) {
    if (path.empty()) continue;  // the root itself is not replaced
    if (typeid(*m) == typeid(Conv2d) || typeid(*m) == typeid(Linear)) candidates.emplace_back(path, m);
  }
  QuantizeSummary summary;
  for (size_t i = 0; i < candidates.size(); ++i) {
    const auto& [path, m] = candidates[i];
    if (any_match(rules.keep_float, path)) {
      summary.kept_float.push_back(path);
      continue;
    }
    const bool edge = rules.edge_layers && (i == 0 || i + 1 == candidates.size());
    QuantOptions q = edge ? rules.edge : rules.body;
    for (const auto& [pattern, opts] : rules.overrides)
      if (path_matches(pattern, path)) {
        q = opts;
        break;
      }
    bool on_array = !edge && !any_match(rules.off_array, path);
    std::shared_ptr<Module> replacement;
    if (auto conv = std::dynamic_pointer_cast<Conv2d>(m)) {
      auto qc = QuantConv2d::from(*conv, q);
      on_array = on_array && conv->options.groups == 1;  // depthwise / grouped convolutions stay off
      qc->on_array = on_array;
      replacement = qc;
    } else {
      auto ql = QuantLinear::from(*std::dynamic_pointer_cast<Linear>(m), q);
      ql->on_array = on_array;
      replacement = ql;
    }
    root.replace_module(path, replacement);
    (on_array ? summary.on_array : summary.off_array).push_back(path);
  }
  return summary;
}

std::vector<Tensor> wreshape_kurtoses(Module& root) {
  std::vector<Tensor> kappas;
  for (auto& [path, m] : root.named_modules()) {
    if (auto c = std::dynamic_pointer_cast<QuantConv2d>(m); c && c->on_array) kappas.push_back(kurtosis(c->weight_codes()));
    if (auto l = std::dynamic_pointer_cast<QuantLinear>(m); l && l->on_array) kappas.push_back(kurtosis(l->weight_codes()));
  }
  return kappas;
}

}  // namespace raoq::quant
