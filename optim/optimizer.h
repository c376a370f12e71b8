// optim/optimizer.h — the Optimizer base: named parameters in groups, per-parameter state,
// the learning rate, and checkpointable state by parameter name.
//
// An optimizer is built from a model's named_parameters() (any list of (name, tensor) pairs).
// Each parameter joins the first GroupSpec whose patterns match its name, or the "default"
// group otherwise; a group carries its own lr scale and weight decay:
//
//   SGD opt(model->named_parameters(), {.lr = 0.1, .momentum = 0.9, .weight_decay = 5e-4},
//           {no_weight_decay()});      // *.bias, *.scale, *.beta and every 1-D tensor: no decay
//
// Parameters that do not require grad (frozen weights) are left out. Parameters whose grad is
// undefined at step() are skipped: neither they nor their state change (PyTorch semantics).
// Updates run under NoGradGuard as vectorised array expressions over each tensor.
//
// Learning rate: set_lr() sets the base lr (a Schedule calls it every step); a group's lr is
// base lr * lr_scale.
//
// State: every state tensor is named "<parameter name>.<slot>" ("layer1.weight.momentum",
// "fc.bias.exp_avg"); "<parameter name>.step" counts the updates that parameter received (AdamW's
// bias correction uses it), and "step" counts step() calls. Counts are stored as one-element
// float tensors, exact up to 2^24.
// state_dict() returns handles to the live tensors; load_state_dict() copies into them.
//
// What it deliberately does not do: closures, sparse gradients, adding parameters after
// construction.
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "core/tensor.h"

namespace raoq {


// Whether `name` matches a glob `pattern` in which '*' matches any run of characters
// (dots included) and every other character matches itself: "*.bias" matches "fc.bias" and
// "layer1.0.bn1.bias"; "*bn*.weight" matches "layer1.0.bn1.weight".
bool glob_match(const std::string& pattern, const std::string& name);

struct GroupSpec {
  std::string name;                   // appears in errors and describe()
  std::vector<std::string> patterns;  // glob patterns over full parameter names
  bool include_vectors = false;       // also take every parameter with dim() <= 1
  double lr_scale = 1.0;
  double weight_decay = 0.0;
};

// The usual no-decay group: biases, quantizer scales and offsets, and every tensor of at most
// one dimension (which covers BatchNorm and LayerNorm weights).
GroupSpec no_weight_decay(std::vector<std::string> patterns = {"*.bias", "*.scale", "*.beta"});

struct ParamGroup {
  std::string name;
  double lr_scale = 1.0;
  double weight_decay = 0.0;
  std::vector<size_t> members;  // indices into Optimizer::params()
};

class Optimizer {
 public:
  virtual ~Optimizer();
  Optimizer(const Optimizer&) = delete;
  Optimizer& operator=(const Optimizer&) = delete;

  // One update of every parameter that has a gradient; increments step_count().
  void step();
  // Clears gradients (set_to_none, the default) or zeroes existing ones.
  void zero_grad(bool set_to_none = true);
  void set_lr(double lr);
  double lr() const { return lr_; }
  int64_t step_count() const { return step_; }

  const NamedTensors& params() const { return params_; }
  const std::vector<ParamGroup>& groups() const { return groups_; }
  // One line per group: name, lr scale, weight decay and its parameter names.
  std::string describe() const;

  // "step" and every "<param>.<slot>" tensor; handles to the live state.
  NamedTensors state_dict() const;
  // Copies a state_dict() back. Every key must be present with its shape, and no other key may
  // be given (the error names the key); nothing is copied unless all checks pass.
  void load_state_dict(const NamedTensors& entries);

 protected:
  Optimizer(NamedTensors params, double lr, double weight_decay, std::vector<GroupSpec> groups);
  // Declares the per-parameter state slots, each a zero tensor of the parameter's shape
  // (subclass constructors call it once).
  void add_state_slots(const std::vector<std::string>& slots);
  // The state tensor `slot` (index into the declared slots) of parameter i.
  const Tensor& state(size_t i, size_t slot) const { return state_[i][slot]; }
  // Updates parameter i (its grad is defined) with the group's lr and weight decay.
  // `t` is this parameter's update count including this one (1 on its first update).
  virtual void update(size_t i, const Tensor& param, const Tensor& grad, double lr, double weight_decay, int64_t t) = 0;

 private:
  NamedTensors params_;
  std::vector<ParamGroup> groups_;
  std::vector<std::string> slot_names_;
  std::vector<std::vector<Tensor>> state_;  // [param][slot], each shaped like the parameter
  std::vector<int64_t> param_steps_;        // [param] updates received
  double lr_;
  int64_t step_ = 0;
};

}  // namespace raoq
