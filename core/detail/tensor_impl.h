// core/detail/tensor_impl.h — internal to core: the state a Tensor handle shares, and core's
// access to it (the autograd engine attaches nodes and gradients through it). Not installed: a
// program using raoq reaches all of this through Tensor's public members.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "core/tensor.h"

namespace raoq {

struct TensorImpl {
  std::shared_ptr<Storage> storage;
  Shape shape;
  std::string name;
  bool requires_grad = false;
  bool retains_grad = false;
  std::shared_ptr<TensorImpl> grad;      // accumulated gradient (leaves, retained non-leaves)
  std::shared_ptr<Node> grad_fn;         // the op that produced this tensor (null for leaves)
  std::vector<GradHook> hooks;
};

namespace detail {
struct TensorAccess {
  static TensorImpl* impl(const Tensor& t) { return t.impl_.get(); }
  static const std::shared_ptr<TensorImpl>& ptr(const Tensor& t) { return t.impl_; }
  static Tensor wrap(std::shared_ptr<TensorImpl> impl) { return Tensor(std::move(impl)); }
};
}  // namespace detail

}  // namespace raoq
