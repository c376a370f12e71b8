// layers/dropout.cpp — Dropout (the mask and its backward live in ops::dropout).
#include "layers/dropout.h"

#include <sstream>

#include "core/ops.h"

namespace raoq {

Dropout::Dropout(float p_) : Module("Dropout"), p(p_), gen_(default_generator().next_u64()) {
  RAOQ_CHECK(p >= 0.0f && p < 1.0f, "Dropout: p must be in [0, 1) (got ", p, ")");
}

Tensor Dropout::forward(const Tensor& x) {  // x: any shape
  if (!is_training() || p == 0.0f) return x;
  return named_output(ops::dropout(x, p, true, gen_), x);
}

std::string Dropout::extra_repr() const {
  std::ostringstream os;
  os << "p=" << p;
  return os.str();
}

}  // namespace raoq
