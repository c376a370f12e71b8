// layers/sequential.h — Sequential: children "0", "1", ... applied in order.
#pragma once

#include <cstddef>
#include <initializer_list>
#include <memory>
#include <string>

#include "layers/module.h"

namespace raoq {

// forward(x) = child_{n-1}(... child_1(child_0(x))). Children are looked up by name at each
// forward, so replace_module("2", m) takes effect at once.
//   auto net = std::make_shared<Sequential>(std::initializer_list<std::shared_ptr<Module>>{
//       std::make_shared<Linear>(2, 8), std::make_shared<ReLU>(), std::make_shared<Linear>(8, 2)});
class Sequential : public Module {
 public:
  Sequential();
  Sequential(std::initializer_list<std::shared_ptr<Module>> modules);

  // Appends `m` under the next index name and returns it.
  template <class M>
  std::shared_ptr<M> push_back(std::shared_ptr<M> m) {
    return register_module(std::to_string(size()), std::move(m));
  }
  size_t size() const { return children().size(); }
  std::shared_ptr<Module> operator[](size_t i) const;
  // The child at `i` as an M; an error names the index and both types when it is not one.
  template <class M>
  std::shared_ptr<M> at(size_t i) const {
    auto typed = std::dynamic_pointer_cast<M>((*this)[i]);
    RAOQ_CHECK(typed != nullptr, label(), ": child ", i, " is a ", (*this)[i]->type_name(), ", not the requested type");
    return typed;
  }
  Tensor forward(const Tensor& x) override;
};

}  // namespace raoq
