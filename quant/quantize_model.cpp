// quant/quantize_model.cpp — the rule-based QAT conversion pass and the W-reshape gathering.
#include "quant/quantize_model.h"

#include <typeinfo>

#include "quant/quant_attention.h"
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

bool is_layer(const Module& m) { return typeid(m) == typeid(Conv2d) || typeid(m) == typeid(Linear); }

// A token lookup (layers' Embedding, or a model's own lookup whose type name ends in "Embedding",
// such as gpt's tied one) is a language model's first layer: it stays digital, so the first
// Linear after it is a body layer (paper appendix J: qkv on the array; embedding and head 8-bit).
bool is_token_lookup(const Module& m) {
  const std::string& t = m.type_name();
  return t.size() >= 9 && t.compare(t.size() - 9, 9, "Embedding") == 0;
}

// The Conv2d or Linear at path -> its QAT layer; `edge`: the first or last such layer.
std::shared_ptr<Module> quantize_layer(const std::shared_ptr<Module>& m, const std::string& path, bool edge,
                                       const QuantizeRules& rules, bool* on_array) {
  QuantOptions q = edge ? rules.edge : any_match(rules.body_paths, path) ? rules.body : rules.signed_body;
  for (const auto& [pattern, opts] : rules.overrides)
    if (path_matches(pattern, path)) {
      q = opts;
      break;
    }
  for (const auto& [pattern, b] : rules.bits)
    if (path_matches(pattern, path)) q.bx = q.bw = b;
  *on_array = !edge && !any_match(rules.off_array, path);
  if (auto conv = std::dynamic_pointer_cast<Conv2d>(m)) {
    auto qc = QuantConv2d::from(*conv, q);
    *on_array = *on_array && conv->options.groups == 1;  // depthwise / grouped convolutions stay off
    qc->on_array = *on_array;
    return qc;
  }
  auto ql = QuantLinear::from(*std::dynamic_pointer_cast<Linear>(m), q);
  ql->on_array = *on_array;
  return ql;
}
}  // namespace

QuantizeSummary quantize_model(Module& root, const QuantizeRules& rules) {
  // Module order, so that an attention layer is replaced before its projections (which it keeps:
  // their paths stay valid below the replacement).
  std::vector<std::pair<std::string, std::shared_ptr<Module>>> candidates;
  int64_t layers = 0;
  bool lookup_first = false;  // a token lookup comes before the first Conv2d / Linear
  for (auto& [path, m] : root.named_modules()) {
    if (path.empty()) continue;  // the root itself is not replaced
    if (layers == 0 && is_token_lookup(*m)) lookup_first = true;
    if (is_layer(*m)) ++layers;
    if (is_layer(*m) || typeid(*m) == typeid(MultiHeadAttention)) candidates.emplace_back(path, m);
  }
  QuantizeSummary summary;
  int64_t index = 0;  // among the Conv2d / Linear layers
  for (const auto& [path, m] : candidates) {
    const bool layer = is_layer(*m);
    const bool edge = layer && rules.edge_layers && ((index == 0 && !lookup_first) || index + 1 == layers);
    if (layer) ++index;
    if (any_match(rules.keep_float, path)) {
      summary.kept_float.push_back(path);
      continue;
    }
    bool on_array = false;
    std::shared_ptr<Module> replacement;
    if (layer) {
      replacement = quantize_layer(m, path, edge, rules, &on_array);
    } else {
      auto qa = QuantAttention::from(*std::dynamic_pointer_cast<MultiHeadAttention>(m), rules.attention);
      qa->on_array = on_array = !any_match(rules.off_array, path);
      replacement = qa;
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
