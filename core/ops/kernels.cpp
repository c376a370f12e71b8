// core/ops/kernels.cpp — per-thread scratch buffers for the kernels of core/ops.
#include "core/ops/kernels.h"

#include <array>
#include <vector>

namespace raoq::ops::detail {

float* thread_scratch(int slot, int64_t size) {
  thread_local std::array<std::vector<float>, kScratchSlots> buffers;
  auto& buf = buffers.at(static_cast<size_t>(slot));
  if (static_cast<int64_t>(buf.size()) < size) buf.resize(static_cast<size_t>(size));
  return buf.data();
}

}  // namespace raoq::ops::detail
