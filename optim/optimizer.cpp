// optim/optimizer.cpp — parameter groups, the step loop and optimizer state (see optimizer.h).
#include "optim/optimizer.h"

#include <sstream>
#include <unordered_map>
#include <unordered_set>

#include "core/autograd.h"
#include "core/error.h"
#include "core/json_fields.h"

namespace raoq {

bool glob_match(const std::string& pattern, const std::string& name) {
  // Iterative matcher with one backtrack point: the last '*' seen and where it started matching.
  size_t p = 0, n = 0, star = std::string::npos, resume = 0;
  while (n < name.size()) {
    if (p < pattern.size() && pattern[p] == '*') {
      star = p++;
      resume = n;
    } else if (p < pattern.size() && pattern[p] == name[n]) {
      ++p;
      ++n;
    } else if (star != std::string::npos) {
      p = star + 1;
      n = ++resume;
    } else {
      return false;
    }
  }
  while (p < pattern.size() && pattern[p] == '*') ++p;
  return p == pattern.size();
}

GroupSpec no_weight_decay(std::vector<std::string> patterns) {
  GroupSpec g;
  g.name = "no_decay";
  g.patterns = std::move(patterns);
  g.include_vectors = true;
  g.weight_decay = 0.0;
  return g;
}

Optimizer::Optimizer(NamedTensors params, double lr, double weight_decay, std::vector<GroupSpec> specs) : lr_(lr) {
  RAOQ_CHECK(lr >= 0.0, "optimizer: lr must be >= 0 (got ", lr, ")");
  RAOQ_CHECK(weight_decay >= 0.0, "optimizer: weight_decay must be >= 0 (got ", weight_decay, ")");
  for (const auto& s : specs) {
    RAOQ_CHECK(!s.name.empty() && s.name != "default", "optimizer: group names must be non-empty and not 'default' ",
               "(got '", s.name, "')");
    RAOQ_CHECK(s.lr_scale >= 0.0 && s.weight_decay >= 0.0, "optimizer: group '", s.name,
               "' needs lr_scale >= 0 and weight_decay >= 0");
    groups_.push_back({s.name, s.lr_scale, s.weight_decay, {}});
  }
  groups_.push_back({"default", 1.0, weight_decay, {}});
  std::unordered_set<std::string> seen;
  for (auto& [name, t] : params) {
    RAOQ_CHECK(t.defined(), "optimizer: parameter '", name, "' is undefined");
    RAOQ_CHECK(seen.insert(name).second, "optimizer: parameter name '", name, "' appears twice");
    if (!t.requires_grad()) continue;  // frozen
    size_t g = 0;
    for (; g < specs.size(); ++g) {
      bool hit = specs[g].include_vectors && t.dim() <= 1;
      for (const auto& pat : specs[g].patterns) hit = hit || glob_match(pat, name);
      if (hit) break;
    }
    groups_[g].members.push_back(params_.size());
    params_.emplace_back(name, t);
  }
  state_.resize(params_.size());
  param_steps_.assign(params_.size(), 0);
}

Optimizer::~Optimizer() = default;

void Optimizer::add_state_slots(const std::vector<std::string>& slots) {
  for (const auto& slot : slots) {
    slot_names_.push_back(slot);
    for (size_t i = 0; i < params_.size(); ++i) {
      Tensor s = Tensor::zeros(params_[i].second.shape());
      s.set_name(params_[i].first + "." + slot);
      state_[i].push_back(s);
    }
  }
}

void Optimizer::step() {
  const autograd::NoGradGuard no_grad;
  ++step_;
  for (const auto& g : groups_) {
    for (size_t i : g.members) {
      const Tensor& p = params_[i].second;
      const Tensor grad = p.grad();
      if (!grad.defined()) continue;
      update(i, p, grad, lr_ * g.lr_scale, g.weight_decay, ++param_steps_[i]);
    }
  }
}

void Optimizer::zero_grad(bool set_to_none) {
  for (auto& [name, p] : params_) {
    if (set_to_none)
      p.set_grad(Tensor());
    else
      p.zero_grad();
  }
}

void Optimizer::set_lr(double lr) {
  RAOQ_CHECK(lr >= 0.0, "optimizer: set_lr needs lr >= 0 (got ", lr, ")");
  lr_ = lr;
}

std::string Optimizer::describe() const {
  std::ostringstream os;
  for (const auto& g : groups_) {
    os << "group '" << g.name << "': lr_scale " << g.lr_scale << ", weight_decay " << g.weight_decay << ", "
       << g.members.size() << " params:";
    for (size_t i : g.members) os << ' ' << params_[i].first;
    os << '\n';
  }
  return os.str();
}

NamedTensors Optimizer::state_dict() const {
  NamedTensors out{{"step", Tensor::scalar(static_cast<float>(step_))}};
  for (size_t i = 0; i < params_.size(); ++i) {
    out.emplace_back(params_[i].first + ".step", Tensor::scalar(static_cast<float>(param_steps_[i])));
    for (size_t s = 0; s < slot_names_.size(); ++s) out.emplace_back(params_[i].first + "." + slot_names_[s], state_[i][s]);
  }
  return out;
}

void Optimizer::load_state_dict(const NamedTensors& entries) {
  std::unordered_map<std::string, const Tensor*> given;
  for (const auto& [key, t] : entries) {
    RAOQ_CHECK(t.defined(), "optimizer load_state_dict: entry '", printable(key), "' is undefined");
    RAOQ_CHECK(given.emplace(key, &t).second, "optimizer load_state_dict: key '", printable(key), "' appears twice");
  }
  const NamedTensors own = state_dict();
  for (const auto& [key, dst] : own) {
    auto it = given.find(key);
    RAOQ_CHECK(it != given.end(), "optimizer load_state_dict: missing key '", key, "' (shape ", shape_str(dst.shape()),
               "); was the checkpoint written for the same model and optimizer?");
    RAOQ_CHECK(it->second->shape() == dst.shape(), "optimizer load_state_dict: '", key, "' has shape ",
               shape_str(it->second->shape()), " in the entries but ", shape_str(dst.shape()), " here");
  }
  std::unordered_set<std::string> known;
  for (const auto& [key, t] : own) known.insert(key);
  for (const auto& [key, t] : entries) {
    RAOQ_CHECK(known.count(key), "optimizer load_state_dict: unexpected key '", printable(key), "' (shape ", shape_str(t.shape()), ")");
  }
  step_ = static_cast<int64_t>(given.at("step")->item());
  for (size_t i = 0; i < params_.size(); ++i) {
    param_steps_[i] = static_cast<int64_t>(given.at(params_[i].first + ".step")->item());
    for (size_t s = 0; s < slot_names_.size(); ++s)
      state_[i][s].copy_from(*given.at(params_[i].first + "." + slot_names_[s]));
  }
}

}  // namespace raoq
