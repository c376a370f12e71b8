// core/autograd.cpp — graph recording, the backward pass, graph printing and tracing.
#include "core/autograd.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <fstream>
#include <mutex>
#include <ostream>
#include <unordered_map>
#include <unordered_set>

#include "core/detail/tensor_impl.h"
#include "core/error.h"
#include "core/parallel.h"

namespace raoq {

// Each entry also owns its tensor: freeing a node's inputs must not free a tensor whose gradient
// is still pending (its address could then be reused by a new allocation).
struct detail::GradSums {
  struct Pending {
    std::shared_ptr<TensorImpl> owner;
    Tensor grad;
  };
  std::unordered_map<TensorImpl*, Pending> by_tensor;
};

namespace {
thread_local bool tls_grad_enabled = true;
thread_local std::ostream* tls_trace = nullptr;
thread_local bool tls_anomaly = false;
std::atomic<uint64_t> next_seq{1};
}  // namespace

bool BackwardContext::needs(size_t i) const {
  return i < node_.inputs.size() && node_.inputs[i].defined() && node_.inputs[i].requires_grad();
}

const Tensor& BackwardContext::dinput_tensor(size_t i) {
  RAOQ_CHECK(needs(i), node_.op, " backward: input ", i, " does not require grad");
  Tensor& g = (*dinputs_)[i];
  if (!g.defined()) g = Tensor::zeros(node_.inputs[i].shape());
  return g;
}

const Tensor& BackwardContext::dinput_uninit(size_t i) {
  RAOQ_CHECK(needs(i), node_.op, " backward: input ", i, " does not require grad");
  Tensor& g = (*dinputs_)[i];
  RAOQ_CHECK(!g.defined(), node_.op, " backward: dinput_uninit(", i, ") after the buffer was already created");
  g = Tensor::empty(node_.inputs[i].shape());
  return g;
}

float* BackwardContext::running_sum(size_t i) const {
  if (!sums_ || tls_trace || tls_anomaly) return nullptr;
  const auto it = sums_->by_tensor.find(detail::TensorAccess::impl(node_.inputs[i]));
  return it == sums_->by_tensor.end() ? nullptr : it->second.grad.data();
}

BackwardContext::GradSum BackwardContext::dinput_sum(size_t i) {
  RAOQ_CHECK(needs(i), node_.op, " backward: input ", i, " does not require grad");
  RAOQ_CHECK(!(*dinputs_)[i].defined(), node_.op, " backward: dinput_sum(", i, ") after the buffer was already created");
  if (float* sum = running_sum(i)) return {sum, false};
  return {dinput_uninit(i).data(), true};
}

void BackwardContext::dinput_is_dout(size_t i) {
  RAOQ_CHECK(needs(i), node_.op, " backward: input ", i, " does not require grad");
  RAOQ_CHECK(!(*dinputs_)[i].defined(), node_.op, " backward: dinput_is_dout(", i, ") after the buffer was already created");
  RAOQ_CHECK(dout_.numel() == node_.inputs[i].numel(), node_.op, " backward: dinput_is_dout(", i, "): input ", i,
             " has ", node_.inputs[i].numel(), " elements, the output's gradient ", dout_.numel());
  if (float* sum = running_sum(i)) {
    parallel_add(sum, dout_.data(), dout_.numel());
  } else if (dout_private_) {
    (*dinputs_)[i] = dout_.view_as_shape(node_.inputs[i].shape());
    dout_private_ = false;  // one input at most may own it
  } else {
    parallel_copy(dinput_uninit(i).data(), dout_.data(), dout_.numel());
  }
}

std::string Node::live_output_name() const {
  const auto impl = output.lock();
  return impl ? impl->name : output_name;
}

namespace autograd {

bool grad_enabled() { return tls_grad_enabled; }

NoGradGuard::NoGradGuard() : previous_(tls_grad_enabled) { tls_grad_enabled = false; }
NoGradGuard::~NoGradGuard() { tls_grad_enabled = previous_; }

TraceScope::TraceScope(std::ostream& os) : previous_(tls_trace) { tls_trace = &os; }
TraceScope::~TraceScope() { tls_trace = previous_; }

AnomalyScope::AnomalyScope() : previous_(tls_anomaly) { tls_anomaly = true; }
AnomalyScope::~AnomalyScope() { tls_anomaly = previous_; }
bool anomaly_detection_enabled() { return tls_anomaly; }

namespace {

std::string value_text(float v) { return std::isnan(v) ? "nan" : v > 0 ? "inf" : "-inf"; }

std::string described(const std::string& name, const Tensor& t) { return "'" + name + "' " + shape_str(t.shape()); }

int64_t first_nan(const Tensor& t) {
  const float* p = t.data();
  for (int64_t i = 0, n = t.numel(); i < n; ++i)
    if (std::isnan(p[i])) return i;
  return -1;
}

// Forward: NaN in an output is an anomaly; so is an infinity that no input held. An infinity an
// input brought in may pass through: that is how a causal mask (-inf above the diagonal, added to
// attention scores) works.
void check_forward(const char* op, const std::vector<Tensor>& inputs, const Tensor& out) {
  const int64_t bad = first_non_finite(out);
  if (bad < 0) return;
  const int64_t nan = first_nan(out);
  std::string names;
  bool inputs_hold_infinity = false;
  for (const Tensor& in : inputs) {
    if (!in.defined()) continue;
    const int64_t k = first_nan(in);
    if (k >= 0)
      throw AnomalyError("detect-anomaly: forward: op '" + std::string(op) + "' received nan at element " +
                         std::to_string(k) + " of its input " + described(in.name(), in) +
                         ", which no checked op made (a parameter, the data, or a tensor computed before detection started)");
    inputs_hold_infinity = inputs_hold_infinity || first_non_finite(in) >= 0;
    names += (names.empty() ? "" : ", ") + described(in.name(), in);
  }
  if (nan < 0 && inputs_hold_infinity) return;
  const int64_t at = nan >= 0 ? nan : bad;
  throw AnomalyError("detect-anomaly: forward: op '" + std::string(op) + "' made " + value_text(out.data()[at]) +
                     " at element " + std::to_string(at) + " of its output " + described(out.name(), out) +
                     (names.empty() ? std::string(" (it has no inputs)")
                                    : std::string(inputs_hold_infinity ? " from inputs " : " from finite inputs ") + names));
}

void check_backward(const Node& node, const std::vector<Tensor>& dinputs) {
  for (size_t i = 0; i < dinputs.size(); ++i) {
    if (!dinputs[i].defined()) continue;
    const int64_t bad = first_non_finite(dinputs[i]);
    if (bad < 0) continue;
    throw AnomalyError("detect-anomaly: backward: op '" + node.op + "' made " + value_text(dinputs[i].data()[bad]) +
                       " at element " + std::to_string(bad) + " of the gradient of its input " +
                       described(node.input_names[i], dinputs[i]) + " (output '" + node.live_output_name() + "')");
  }
}

}  // namespace

Tensor record(const char* op, std::vector<Tensor> inputs, Tensor out, std::vector<std::string> saved,
              BackwardFn backward) {
  if (out.name().empty()) out.set_name(op);
  if (tls_anomaly) check_forward(op, inputs, out);
  if (!tls_grad_enabled) return out;
  const bool any = std::any_of(inputs.begin(), inputs.end(),
                               [](const Tensor& t) { return t.defined() && t.requires_grad(); });
  if (!any) return out;
  RAOQ_CHECK(out.is_leaf(), op, ": output already belongs to a graph");
  auto node = std::make_shared<Node>();
  node->op = op;
  node->saved = std::move(saved);
  node->backward = std::move(backward);
  node->seq = next_seq.fetch_add(1);
  node->output = detail::TensorAccess::ptr(out);
  node->output_name = out.name();
  node->output_shape = out.shape();
  for (const Tensor& t : inputs) node->input_names.push_back(t.defined() ? t.name() : "(none)");
  node->inputs = std::move(inputs);
  detail::TensorAccess::impl(out)->grad_fn = node;
  detail::TensorAccess::impl(out)->requires_grad = true;
  return out;
}

std::vector<std::shared_ptr<Node>> graph_nodes(const Tensor& root) {
  std::vector<std::shared_ptr<Node>> nodes;
  if (!root.defined() || !root.grad_fn()) return nodes;
  std::unordered_set<const Node*> seen;
  std::vector<std::shared_ptr<Node>> stack{root.grad_fn()};
  seen.insert(root.grad_fn().get());
  while (!stack.empty()) {  // iterative: deep graphs never meet the stack limit
    auto node = std::move(stack.back());
    stack.pop_back();
    for (const Tensor& in : node->inputs) {
      if (!in.defined() || !in.grad_fn()) continue;
      if (seen.insert(in.grad_fn().get()).second) stack.push_back(in.grad_fn());
    }
    nodes.push_back(std::move(node));
  }
  std::sort(nodes.begin(), nodes.end(), [](const auto& a, const auto& b) { return a->seq > b->seq; });
  return nodes;
}

namespace {
void run_hooks(TensorImpl* impl, Tensor& grad) {
  for (auto& hook : impl->hooks) {
    hook(grad);
    RAOQ_CHECK(grad.defined() && grad.shape() == impl->shape, "grad hook on '", impl->name,
               "' must leave a gradient of shape ", shape_str(impl->shape));
  }
}

// `owned`: g is this pass's private buffer and may become the gradient itself (no copy).
void accumulate_into(TensorImpl* impl, const Tensor& g, bool owned) {
  if (!impl->grad) {
    impl->grad = owned ? detail::TensorAccess::ptr(g) : detail::TensorAccess::ptr(g.clone());
    impl->grad->name = impl->name + ".grad";
  } else {
    Tensor acc = detail::TensorAccess::wrap(impl->grad);
    parallel_add(acc.data(), g.data(), acc.numel());
  }
}

void trace_node(std::ostream& os, const Node& node, const std::vector<Tensor>& dinputs, double ms) {
  os << "backward #" << node.seq << ' ' << node.op << " -> '" << node.output_name << "' "
     << shape_str(node.output_shape) << " (" << ms << " ms)";
  for (size_t i = 0; i < dinputs.size(); ++i) {
    if (!dinputs[i].defined()) continue;
    const auto g = dinputs[i].flat();
    os << "\n    d" << node.input_names[i] << ": l2 " << std::sqrt(g.cast<double>().square().sum())
       << " max|.| " << (g.size() ? g.abs().maxCoeff() : 0.0f);
  }
  os << '\n';
}
}  // namespace

void backward(const Tensor& root, bool retain_graph) {
  RAOQ_CHECK(root.defined(), "backward: undefined tensor");
  RAOQ_CHECK(root.numel() == 1, "backward: '", root.name(), "' has shape ", shape_str(root.shape()),
             "; backward() starts from a one-element tensor (reduce it with sum or mean first)");
  RAOQ_CHECK(root.requires_grad(), "backward: '", root.name(),
             "' does not require grad (no input of its graph requires grad, or it was computed under NoGradGuard)");
  // Gradients of this pass, by tensor. Leaves are accumulated into .grad at the end, after
  // their hooks ran on this pass's complete contribution.
  detail::GradSums sums;
  auto& grads = sums.by_tensor;
  using Pending = detail::GradSums::Pending;
  std::vector<TensorImpl*> leaf_order;
  grads[detail::TensorAccess::impl(root)] = {detail::TensorAccess::ptr(root), Tensor::ones(root.shape())};
  if (root.is_leaf()) leaf_order.push_back(detail::TensorAccess::impl(root));

  const NoGradGuard no_grad;  // backward formulas are not themselves recorded
  for (const auto& node : graph_nodes(root)) {
    RAOQ_CHECK(!node->released, "backward: the graph through '", node->op, "' (output '", node->output_name,
               "') was already freed by an earlier backward(); pass retain_graph=true to backward twice");
    auto out = node->output.lock();
    auto it = out ? grads.find(out.get()) : grads.end();
    if (it == grads.end()) continue;  // this node does not lead to root
    Tensor dout = it->second.grad;
    run_hooks(out.get(), dout);
    if (out->retains_grad) accumulate_into(out.get(), dout, /*owned=*/false);
    grads.erase(it);

    std::vector<Tensor> dinputs(node->inputs.size());
    BackwardContext ctx(*node, dout, &dinputs, &sums, /*dout_private=*/out->hooks.empty());
    const auto t0 = std::chrono::steady_clock::now();
    node->backward(ctx);
    if (tls_anomaly) check_backward(*node, dinputs);
    if (tls_trace) {
      const double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
      trace_node(*tls_trace, *node, dinputs, ms);
    }
    for (size_t i = 0; i < dinputs.size(); ++i) {
      if (!dinputs[i].defined()) continue;
      TensorImpl* in = detail::TensorAccess::impl(node->inputs[i]);
      auto [slot, fresh] = grads.try_emplace(in, Pending{detail::TensorAccess::ptr(node->inputs[i]), dinputs[i]});
      if (!fresh) parallel_add(slot->second.grad.data(), dinputs[i].data(), dinputs[i].numel());
      if (fresh && node->inputs[i].is_leaf()) leaf_order.push_back(in);
    }
    if (!retain_graph) {
      node->backward = nullptr;  // frees what the backward saved
      node->inputs.clear();
      node->released = true;
    }
  }
  for (TensorImpl* leaf : leaf_order) {
    auto it = grads.find(leaf);
    if (it == grads.end()) continue;
    run_hooks(leaf, it->second.grad);
    // A hook may have swapped in a tensor the user still holds: copy it then.
    accumulate_into(leaf, it->second.grad, /*owned=*/leaf->hooks.empty());
  }
}

void print_graph(const Tensor& root, std::ostream& os) {
  const auto nodes = graph_nodes(root);
  os << "graph of '" << root.name() << "': " << nodes.size() << " nodes (backward order)\n";
  for (const auto& node : nodes) {
    const auto out = node->output.lock();  // the live name, if the output was renamed after the op
    os << "  #" << node->seq << ' ' << node->op << " -> '" << (out ? out->name : node->output_name) << "' "
       << shape_str(node->output_shape) << "  inputs: ";
    for (size_t i = 0; i < node->input_names.size(); ++i) {
      os << (i ? ", " : "") << '\'' << node->input_names[i] << '\'';
      if (i < node->inputs.size() && node->inputs[i].defined()) os << ' ' << shape_str(node->inputs[i].shape());
    }
    os << "  saved: {";
    for (size_t i = 0; i < node->saved.size(); ++i) os << (i ? ", " : "") << node->saved[i];
    os << '}' << (node->released ? "  (freed)" : "") << '\n';
  }
}

void write_dot(const Tensor& root, const std::string& path) {
  std::ofstream f(path);
  RAOQ_CHECK(f.good(), "write_dot: cannot open '", path, "' for writing");
  const auto nodes = graph_nodes(root);
  f << "digraph raoq {\n  rankdir=BT;\n  node [fontname=\"monospace\"];\n";
  std::unordered_set<const TensorImpl*> leaves;
  for (const auto& node : nodes) {
    f << "  n" << node->seq << " [shape=box,label=\"" << node->op << "\\n" << node->output_name << ' '
      << shape_str(node->output_shape) << "\"];\n";
    for (size_t i = 0; i < node->inputs.size(); ++i) {
      const Tensor& in = node->inputs[i];
      if (!in.defined()) continue;
      if (in.grad_fn()) {
        f << "  n" << in.grad_fn()->seq << " -> n" << node->seq << ";\n";
      } else {
        const auto id = reinterpret_cast<uintptr_t>(detail::TensorAccess::impl(in));
        if (leaves.insert(detail::TensorAccess::impl(in)).second)
          f << "  t" << id << " [shape=ellipse,label=\"" << in.name() << ' ' << shape_str(in.shape()) << "\""
            << (in.requires_grad() ? ",style=bold" : "") << "];\n";
        f << "  t" << id << " -> n" << node->seq << ";\n";
      }
    }
  }
  f << "}\n";
  RAOQ_CHECK(f.good(), "write_dot: failed writing '", path, "'");
}

namespace {
std::mutex& registry_mutex() {
  static std::mutex m;
  return m;
}
std::vector<OpInfo>& registry() {
  static std::vector<OpInfo> ops;
  return ops;
}
}  // namespace

bool register_op(const char* name, const char* folder, bool differentiable) {
  std::lock_guard<std::mutex> lock(registry_mutex());
  for (const auto& op : registry())
    if (op.name == name) return true;
  registry().push_back({name, folder, differentiable});
  return true;
}

std::vector<OpInfo> registered_ops() {
  std::lock_guard<std::mutex> lock(registry_mutex());
  return registry();
}

}  // namespace autograd
}  // namespace raoq
