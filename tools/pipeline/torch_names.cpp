// tools/pipeline/torch_names.cpp — the default raoq <-> PyTorch name tables (listed in torch_names.h).
#include "tools/pipeline/torch_names.h"

#include <map>
#include <regex>
#include <set>

#include "core/error.h"

namespace raoq::tools {
namespace {

using Rule = std::pair<std::regex, std::string>;  // a pattern over the raoq name and its replacement

std::string rewrite(const std::string& name, const std::vector<Rule>& rules) {
  for (const auto& [pattern, replacement] : rules)
    if (std::regex_search(name, pattern)) return std::regex_replace(name, pattern, replacement);
  return name;
}

const std::vector<Rule>& resnet_rules() {
  static const std::vector<Rule> rules = {{std::regex(R"(\.downsample\.conv\.)"), ".downsample.0."},
                                          {std::regex(R"(\.downsample\.bn\.)"), ".downsample.1."}};
  return rules;
}

const std::vector<Rule>& cnn_small_rules() {
  static const std::vector<Rule> rules = {{std::regex(R"(^features\.(\d+)\.conv\.)"), "features.$1.0."},
                                          {std::regex(R"(^features\.(\d+)\.bn\.)"), "features.$1.1."}};
  return rules;
}

// torchvision numbers the parts of an inverted residual block's `conv` Sequential in order, so
// the depthwise and projection indices shift down by one in a block without an expansion.
std::string mobilenet_v2_name(const std::string& name, const std::set<std::string>& all) {
  static const std::regex block(R"(^features\.(\d+)\.(expand|depthwise|project)\.(conv|bn)\.(.*)$)");
  static const std::regex unit(R"(^features\.(\d+)\.(conv|bn)\.(.*)$)");
  std::smatch m;
  if (std::regex_match(name, m, block)) {
    const std::string k = m[1], part = m[2], layer = m[3], rest = m[4];
    const int first = all.count("features." + k + ".expand.conv.weight") ? 1 : 0;  // the depthwise unit's index
    const std::string head = "features." + k + ".conv.";
    if (part == "expand") return head + "0." + (layer == "conv" ? "0." : "1.") + rest;
    if (part == "depthwise") return head + std::to_string(first) + (layer == "conv" ? ".0." : ".1.") + rest;
    return head + std::to_string(first + (layer == "conv" ? 1 : 2)) + "." + rest;  // project: a bare conv, then its BN
  }
  if (std::regex_match(name, m, unit)) return "features." + m[1].str() + (m[2] == "conv" ? ".0." : ".1.") + m[3].str();
  if (name.rfind("classifier.", 0) == 0) return "classifier.1." + name.substr(11);
  return name;
}

const std::vector<Rule>& transformer_rules() {
  static const std::vector<Rule> rules = {{std::regex(R"(\.attn\.qkv_proj\.weight$)"), ".attn.in_proj_weight"},
                                          {std::regex(R"(\.attn\.qkv_proj\.bias$)"), ".attn.in_proj_bias"}};
  return rules;
}

bool is_transformer(const std::string& model_name) {
  return model_name == "gpt" || model_name == "gpt-tiny" || model_name == "bert" || model_name == "bert-tiny";
}

}  // namespace

TorchNames default_torch_names(const std::string& model_name, const Module& model) {
  const NamedTensors state = model.state_dict();
  std::set<std::string> all;
  for (const auto& [name, t] : state) all.insert(name);
  TorchNames names;
  for (const auto& [name, t] : state) {
    std::string torch = name;
    if (model_name == "resnet20" || model_name == "resnet18") torch = rewrite(name, resnet_rules());
    if (model_name == "cnn-small") torch = rewrite(name, cnn_small_rules());
    if (model_name == "mobilenetv2") torch = mobilenet_v2_name(name, all);
    if (is_transformer(model_name)) torch = rewrite(name, transformer_rules());
    names.entries.push_back({name, torch, false});
    // A tied model registers the shared table once, as head.weight; PyTorch lists it under both keys.
    if (is_transformer(model_name) && name == "head.weight" && !all.count("tok_emb.weight"))
      names.entries.push_back({name, "tok_emb.weight", true});
    const std::string stat = ".running_mean";
    if (name.size() > stat.size() && name.compare(name.size() - stat.size(), stat.size(), stat) == 0 &&
        torch.size() > stat.size() && torch.compare(torch.size() - stat.size(), stat.size(), stat) == 0)
      names.counters.push_back(torch.substr(0, torch.size() - stat.size()) + ".num_batches_tracked");
  }
  return names;
}

void apply_torch_map(TorchNames& names, const Json& map, const std::string& what) {
  RAOQ_CHECK(map.is_object(), what, ": expected a JSON object {\"torch_name\": \"raoq_name\", ...}, got ", json_brief(map));
  for (auto it = map.begin(); it != map.end(); ++it) {
    const std::string& torch = it.key();
    const Json& value = it.value();
    if (value.is_null()) {
      names.ignored.push_back(torch);
      continue;
    }
    RAOQ_CHECK(value.is_string(), what, ": \"", printable(torch), "\" maps to ", json_brief(value),
               ", expected a raoq tensor name (a string) or null to skip the tensor");
    const std::string raoq = value.get<std::string>();
    TorchName* target = nullptr;
    for (auto& e : names.entries)
      if (e.raoq == raoq && !e.alias) target = &e;
    RAOQ_CHECK(target != nullptr, what, ": \"", printable(torch), "\" maps to \"", printable(raoq),
               "\", which is no tensor of the model (see raoq models NAME for its layers)");
    target->torch = torch;
  }
  // The map may move a tensor onto a key the defaults gave another one; each key must name one tensor.
  std::map<std::string, std::string> owner;
  for (const auto& e : names.entries) {
    const auto placed = owner.emplace(e.torch, e.raoq);
    RAOQ_CHECK(placed.second || e.alias, what, ": PyTorch key \"", printable(e.torch), "\" would hold both raoq '",
               printable(placed.first->second), "' and '", printable(e.raoq), "'; map the other one elsewhere too");
  }
}

}  // namespace raoq::tools
