// core/autograd.h — the reverse-mode autograd graph.
//
// Ops record a Node as they run (when grad mode is on and an input requires grad). A Node is
// five things you can print: the op name, its inputs, the backward function, what the backward
// saved, and a creation sequence number. backward() visits nodes in decreasing sequence order:
// an op's inputs are always created before it, so this is a topological order, and it is the
// same order every time (gradient sums run in a fixed order: bitwise reproducible).
// One backward convention, followed by every op: a backward function produces its node's
// contribution to each input's gradient in a buffer of that node's own, either by adding into
// ctx.dinput(i) (zero-filled on first use) or, for kernels that write rather than add (a GEMM
// with beta = 0), by overwriting all of ctx.dinput_uninit(i). The engine then adds each node's
// buffer into the input's gradient, so gradients always accumulate: over the uses of a tensor
// within one graph, and across backward() calls (BitAug's two passes). zero_grad is explicit.
// A backward with one term per gradient element may instead put it into the sum itself
// (ctx.dinput_sum(i)): the same additions, without a buffer of its own.
//
// A backward captures storage, never its output Tensor (the output owns the node: a cycle).
#pragma once

#include <cstdint>
#include <functional>
#include <iosfwd>
#include <memory>
#include <string>
#include <vector>

#include "core/error.h"
#include "core/tensor.h"

namespace raoq {

class BackwardContext;
namespace detail {
struct GradSums;  // the gradients one backward() pass has summed so far, by tensor (autograd.cpp)
}
using BackwardFn = std::function<void(BackwardContext&)>;

struct Node {
  std::string op;                  // equals the C++ function name: "tanh", "matmul", "lsq_weight"
  std::vector<Tensor> inputs;      // parents, in argument order (cleared when the graph is freed)
  BackwardFn backward;             // reads ctx.dout(), does ctx.dinput(i) += ... (or fills ctx.dinput_uninit(i))
  std::vector<std::string> saved;  // what backward captured, e.g. {"y"} or {"x", "mean", "rstd"}
  uint64_t seq = 0;                // creation order
  std::weak_ptr<TensorImpl> output;
  std::string output_name;         // copies kept for printing after the graph is freed
  Shape output_shape;
  std::vector<std::string> input_names;
  bool released = false;           // backward ran without retain_graph: saved data is gone
  // The output tensor's name now (layers rename an output after the op recorded it), or
  // output_name once the tensor is gone.
  std::string live_output_name() const;
};

// Handed to a backward function. dout() is the gradient of the op's output; dinput(i) is this
// node's gradient buffer for input i, zero-filled on first use, to be accumulated into (+=).
class BackwardContext {
 public:
  // dout_private: dout is the engine's own buffer, which nothing outside this backward pass holds
  // (no hook on the output could have handed in a tensor of the caller's).
  BackwardContext(Node& node, Tensor dout, std::vector<Tensor>* dinputs, detail::GradSums* sums = nullptr,
                  bool dout_private = false)
      : node_(node), dout_(std::move(dout)), dinputs_(dinputs), sums_(sums), dout_private_(dout_private) {}
  ArrayMap dout() const { return dout_.flat(); }
  const Tensor& dout_tensor() const { return dout_; }
  // Whether input i needs a gradient (skip the work when it does not).
  bool needs(size_t i) const;
  ArrayMap dinput(size_t i) { return dinput_tensor(i).flat(); }
  const Tensor& dinput_tensor(size_t i);
  // For kernels that write rather than add (a GEMM with beta = 0): input i's gradient buffer,
  // uninitialised, which the op must overwrite completely. Saves the zero-fill pass of
  // dinput(). Call it at most once per input, and not after dinput(i).
  const Tensor& dinput_uninit(size_t i);
  // For a backward that gives each element of input i's gradient at most one term t: where to
  // put it. When `fresh`, `data` is an uninitialised buffer of this node's own, to be written
  // whole (0 + t where the op has a term, 0 elsewhere), as with dinput_uninit. Otherwise it is
  // input i's gradient as the nodes run before have summed it, and the op adds 0 + t into it
  // (the engine then adds nothing). The engine would have added this node's buffer to that sum,
  // one addition per element, so the sum is the same; only an exact -0 left where the op has no
  // term stays -0 (adding the buffer's +0 gave +0). What it saves is dinput()'s zero-fill and the
  // engine's pass over the whole gradient: a slice of a fused qkv, a residual stream's
  // LayerNorm. Under TraceScope or AnomalyScope every node keeps a buffer of its own, so each
  // node's gradient stays visible. Call it once per input, and not with dinput(i).
  struct GradSum {
    float* data;
    bool fresh;
    // Puts the terms t (an Eigen array expression) into `to`, a view of part of data.
    template <class To, class T>
    void put(To&& to, const T& t) const {
      if (fresh) to = 0.0f + t;
      else to += 0.0f + t;
    }
  };
  GradSum dinput_sum(size_t i);
  // For an op whose gradient is dout itself in input i's shape (reshape): when dout is the engine's
  // own buffer and input i has no gradient yet, dout's storage becomes that gradient, viewed in
  // input i's shape, without a copy; otherwise dout is added into input i's sum (dinput_sum), or
  // copied. The same values either way. Call it once, for one input, and not with dinput(i).
  void dinput_is_dout(size_t i);
  const Tensor& input(size_t i) const { return node_.inputs.at(i); }

 private:
  Node& node_;
  Tensor dout_;
  std::vector<Tensor>* dinputs_;
  detail::GradSums* sums_;
  bool dout_private_;
  // Input i's gradient as the nodes run before summed it, or null (none yet, or traced/checked).
  float* running_sum(size_t i) const;
};

namespace autograd {

bool grad_enabled();

// Disables graph recording in a scope (evaluation, optimizer updates, initialisation).
class NoGradGuard {
 public:
  NoGradGuard();
  ~NoGradGuard();
  NoGradGuard(const NoGradGuard&) = delete;
  NoGradGuard& operator=(const NoGradGuard&) = delete;

 private:
  bool previous_;
};

// Records `out` as the result of `op` on `inputs`. When grad mode is off or no input requires
// grad, returns `out` untouched and drops `backward`. Otherwise out gets a grad_fn and
// requires_grad. An unnamed output is named after the op.
Tensor record(const char* op, std::vector<Tensor> inputs, Tensor out, std::vector<std::string> saved,
              BackwardFn backward);

// Reverse-mode differentiation from a one-element tensor. See Tensor::backward.
void backward(const Tensor& root, bool retain_graph = false);

// Every node reachable from `root`, in the order backward visits them (decreasing seq).
std::vector<std::shared_ptr<Node>> graph_nodes(const Tensor& root);

// Prints the graph of `root` in backward order: seq, op, output name, shape, inputs, saved.
void print_graph(const Tensor& root, std::ostream& os);
// Writes the graph of `root` as Graphviz dot.
void write_dot(const Tensor& root, const std::string& path);

// While alive, every backward node run on this thread is logged to `os` with the L2 norm and
// max-abs of each gradient it produced, and the time it took (CLI: --trace).
class TraceScope {
 public:
  explicit TraceScope(std::ostream& os);
  ~TraceScope();
  TraceScope(const TraceScope&) = delete;
  TraceScope& operator=(const TraceScope&) = delete;

 private:
  std::ostream* previous_;
};

// What AnomalyScope throws: a raoq::Error naming the op, the tensor and the first bad value.
class AnomalyError : public Error {
 public:
  using Error::Error;
};

// While alive, every op run on this thread checks its output for NaN and infinity as it is
// recorded (forward), and backward() checks every gradient a node produces, so the first op that
// made a non-finite value throws AnomalyError naming it (CLI: --detect-anomaly). It reads every
// value once more per op: a debugging aid, not for production runs.
//   detect-anomaly: forward: op 'log' made -inf at element 3 of its output 'log' [2, 3] from finite inputs 'x' [2, 3]
//   detect-anomaly: backward: op 'sqrt' made nan at element 0 of the gradient of its input 'v' [4] (output 'sqrt')
// An input that already holds NaN and was not made by a checked op (a parameter, the data, or a
// tensor computed before the scope) is named as the origin instead. An infinity that an input
// brought in may pass through an op (a causal mask adds -inf to attention scores); NaN may not.
class AnomalyScope {
 public:
  AnomalyScope();
  ~AnomalyScope();
  AnomalyScope(const AnomalyScope&) = delete;
  AnomalyScope& operator=(const AnomalyScope&) = delete;

 private:
  bool previous_;
};
bool anomaly_detection_enabled();

// The op registry: each op family registers its op names at static-initialisation time with
// RAOQ_REGISTER_OP, tagged with the folder that defines it. Tests use it to require a
// gradient check for every op.
struct OpInfo {
  std::string name;
  std::string folder;
  bool differentiable;
};
bool register_op(const char* name, const char* folder, bool differentiable = true);
std::vector<OpInfo> registered_ops();

}  // namespace autograd
}  // namespace raoq

#ifndef RAOQ_FOLDER
#define RAOQ_FOLDER "unknown"
#endif
#define RAOQ_CONCAT_INNER(a, b) a##b
#define RAOQ_CONCAT(a, b) RAOQ_CONCAT_INNER(a, b)
// Registers a differentiable op name (place at namespace scope in the op's .cpp).
#define RAOQ_REGISTER_OP(name) \
  [[maybe_unused]] static const bool RAOQ_CONCAT(raoq_op_registered_, __LINE__) = ::raoq::autograd::register_op(name, RAOQ_FOLDER)
