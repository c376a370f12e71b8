// layers/sequential.cpp — Sequential.
#include "layers/sequential.h"

namespace raoq {

Sequential::Sequential() : Module("Sequential") { set_children_read_by_name(); }

Sequential::Sequential(std::initializer_list<std::shared_ptr<Module>> modules) : Sequential() {
  for (const auto& m : modules) push_back(m);
}

std::shared_ptr<Module> Sequential::operator[](size_t i) const {
  RAOQ_CHECK(i < size(), label(), ": index ", i, " out of range for ", size(), " children");
  return children()[i].second;
}

Tensor Sequential::forward(const Tensor& x) {  // x: whatever child 0 takes
  Tensor h = x;
  for (const auto& [name, child] : children()) h = child->forward(h);
  return h;
}

}  // namespace raoq
