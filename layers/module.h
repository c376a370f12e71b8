// layers/module.h — Module: the named tree of parameters, buffers and child modules.
//
// Every layer and model derives from Module. A module registers its tensors and children by
// name; names contain no '.', and paths join names with '.' ("layer1.0.conv1.weight"). The
// derived class keeps plain typed fields assigned from the registration calls:
//
//   Linear::Linear(int64_t in, int64_t out) : Module("Linear") {
//     weight = register_parameter("weight", init::kaiming_uniform({out, in}, in));  // (out, in)
//   }
//   Block::Block() : Module("Block") {
//     register_module("conv1", conv1, std::make_shared<Conv2d>(16, 16, 3));  // field form: replaceable
//     act = register_module("act", std::make_shared<ReLU>());                // value form
//   }
//
// Paths and names. A module knows its path from the root: "" for a root, "layer1.0.conv1" for a
// child. The path is set when the module is registered under a parent and is re-derived for the
// whole subtree whenever that parent is itself registered, so it is always the path from the
// topmost module the tree has been registered into. Parameter and buffer tensors are named with
// their full dotted path, and layers name their outputs "<path>:out" (named_output), so a
// printed graph reads "layer2.0.conv1:out". A module shared under two parents takes the path of
// its latest registration.
//
// Replacing children. replace_module(path, m) swaps the child at a dotted path (a rule-based
// pass turns a Conv2d into a quantized conv this way). The parent's typed field must follow the
// swap, so a child is replaceable when it was registered with the field form above (the field
// is reassigned; `m` must be convertible to the field's type, so replacements of a Conv2d field
// derive from Conv2d) or when the parent reads its children by name (Sequential). Replacing a
// child registered in value form elsewhere is an error that says how to register it.
//
// Module is neither copyable nor movable: it is held by std::shared_ptr, and field-form
// registration keeps the address of the field.
//
// What it deliberately does not do: hooks on forward (ShapeProbe below only lists what ran, with
// its shapes), multiple-input forward signatures in the base class (a module with other inputs
// declares its own forward overload), device moves.
#pragma once

#include <cstdint>
#include <functional>
#include <iosfwd>
#include <memory>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "core/error.h"
#include "core/tensor.h"

namespace raoq {

class Module;
using NamedModules = std::vector<std::pair<std::string, std::shared_ptr<Module>>>;

class Module : public std::enable_shared_from_this<Module> {
 public:
  explicit Module(std::string type_name);
  virtual ~Module();
  Module(const Module&) = delete;
  Module& operator=(const Module&) = delete;

  // The single-tensor forward. The default is an error: a module without a single input
  // (e.g. Embedding taking indices) declares its own overload.
  virtual Tensor forward(const Tensor& x);

  const std::string& type_name() const { return type_name_; }
  // The dotted path from the root ("" for a root). See the file comment.
  const std::string& path() const { return path_; }
  // "Conv2d 'layer1.0.conv1'" (or just the type name for a root): how errors name a module.
  std::string label() const { return path_.empty() ? type_name_ : type_name_ + " '" + path_ + "'"; }
  // The configuration shown by operator<<, e.g. "in_features=2, out_features=8, bias=true".
  virtual std::string extra_repr() const { return ""; }

  // ---- registration. `name` must be non-empty, contain no '.', and be new in this module
  // (parameters, buffers and children share one namespace).
  // Registers a trainable leaf tensor: sets requires_grad, names it with its path, returns it.
  Tensor register_parameter(std::string name, Tensor t);
  // Registers state that is saved and loaded but not trained (running statistics).
  Tensor register_buffer(std::string name, Tensor t);
  // Value form: registers `child` and returns it. replace_module can swap it only in a module
  // that reads its children by name (Sequential).
  template <class M>
  std::shared_ptr<M> register_module(std::string name, std::shared_ptr<M> child) {
    static_assert(std::is_base_of_v<Module, M>, "register_module: child must derive from Module");
    add_child(std::move(name), child, nullptr);
    return child;
  }
  // Field form: registers `child`, stores it in `field` and returns `field`; replace_module
  // later reassigns `field` too (the replacement must be an M).
  template <class M, class D>
  std::shared_ptr<M>& register_module(std::string name, std::shared_ptr<M>& field, std::shared_ptr<D> child) {
    static_assert(std::is_base_of_v<Module, M> && std::is_convertible_v<D*, M*>,
                  "register_module: child must be convertible to the field's type");
    field = child;
    add_child(std::move(name), field, [&field](const std::shared_ptr<Module>& m) {
      auto typed = std::dynamic_pointer_cast<M>(m);
      if (typed) field = typed;
      return typed != nullptr;
    });
    return field;
  }
  // Removes the direct child `name` (a layer dropping an optional part it registered, such as
  // a LoRA adapter); its parameters leave named_parameters() and state_dict(). Returns it.
  std::shared_ptr<Module> unregister_module(const std::string& name);
  // Swaps the child at a dotted path below this module ("layer1.0.conv1") for `replacement`
  // and returns the old child. The replacement takes the old one's path and this module's
  // train/eval mode. Errors name the path and say what to do.
  std::shared_ptr<Module> replace_module(const std::string& path, std::shared_ptr<Module> replacement);
  // The module at a dotted path below this one ("" is this module); an error names the
  // missing part.
  std::shared_ptr<Module> submodule(const std::string& path);

  // ---- traversal. All recurse in registration order and return dotted paths relative to
  // this module (not its own path()).
  NamedTensors named_parameters() const;
  NamedTensors named_buffers() const;
  NamedModules named_children() const;  // direct children only
  // This module first (under ""), then every descendant, depth first. When this module is not
  // owned by a shared_ptr, its own entry is a non-owning handle valid while it lives.
  NamedModules named_modules();
  std::vector<Tensor> parameters() const;
  int64_t num_parameters() const;            // elements over all parameters
  int64_t num_trainable_parameters() const;  // elements of parameters that require grad

  // ---- modes and gradients
  void train(bool on = true);  // recursive
  void eval() { train(false); }
  bool is_training() const { return training_; }
  // Clears every parameter gradient (set_to_none, the default: optimizers then skip
  // parameters that receive no gradient) or sets existing ones to zero.
  void zero_grad(bool set_to_none = true);

  // ---- checkpoints
  // Parameters and buffers by dotted path: for each module its parameters, then its
  // buffers, then its children. The tensors are handles to the live values (clone() them for
  // a snapshot).
  NamedTensors state_dict() const;
  // Copies values into the existing tensors (optimizers keep their handles). Every check runs
  // before anything is copied. A shape mismatch is always an error; with strict, a key the
  // model has and `entries` lacks (missing) or the reverse (unexpected) is an error too.
  void load_state_dict(const NamedTensors& entries, bool strict = true);

 protected:
  // Names a layer's output "<path>:out" (unless this is a root, or y is the input itself) and
  // returns it; layers end their forward with `return named_output(y, x);`.
  Tensor named_output(Tensor y, const Tensor& x) const;
  // For containers whose forward looks children up by name: their value-form children may be
  // replaced.
  void set_children_read_by_name() { children_read_by_name_ = true; }
  // The children in registration order (containers iterate these in forward).
  const NamedModules& children() const { return children_; }

 private:
  using FieldSetter = std::function<bool(const std::shared_ptr<Module>&)>;
  struct ChildSlot {
    std::string name;
    FieldSetter setter;  // null for value-form registration
  };
  void add_child(std::string name, std::shared_ptr<Module> child, FieldSetter setter);
  void check_new_name(const char* what, const std::string& name) const;
  void set_path(const std::string& path);
  void collect(const std::string& prefix, NamedTensors* params, NamedTensors* buffers) const;

  std::string type_name_;
  std::string path_;
  bool training_ = true;
  bool children_read_by_name_ = false;
  NamedTensors parameters_;
  NamedTensors buffers_;
  NamedModules children_;
  std::vector<ChildSlot> child_slots_;  // parallel to children_

  friend std::ostream& operator<<(std::ostream& os, const Module& m);
};

// Prints the tree like PyTorch's module print, plus shapes and parameter counts:
//   Sequential(  # 57 params
//     (0): Linear(in_features=2, out_features=8, bias=true)  weight [8, 2], bias [8]  # 24 params
//     (1): ReLU()
//   )
std::ostream& operator<<(std::ostream& os, const Module& m);

// While a ShapeProbe lives, every named_output of the calling thread appends the module, its input
// shape and its output shape, in the order the layers finish (a parent after its children). It
// lets a caller measure a model's geometry with one forward (the IMC cost model, imc/cost.h)
// without a hook mechanism. Probes do not nest; run the forward with one thread's worth of work.
class ShapeProbe {
 public:
  struct Record {
    const Module* module;
    std::string path;
    Shape input, output;
  };
  ShapeProbe();
  ~ShapeProbe();
  ShapeProbe(const ShapeProbe&) = delete;
  ShapeProbe& operator=(const ShapeProbe&) = delete;
  const std::vector<Record>& records() const { return records_; }

 private:
  friend class Module;
  std::vector<Record> records_;
};

}  // namespace raoq
