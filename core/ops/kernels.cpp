// core/ops/kernels.cpp — per-thread scratch buffers and the blocked transpose of core/ops.
#include "core/ops/detail/kernels.h"

#include <array>
#include <Eigen/Core>
#include <vector>

namespace raoq::ops::detail {

float* thread_scratch(int slot, int64_t size) {
  thread_local std::array<std::vector<float>, kScratchSlots> buffers;
  auto& buf = buffers.at(static_cast<size_t>(slot));
  if (static_cast<int64_t>(buf.size()) < size) buf.resize(static_cast<size_t>(size));
  return buf.data();
}

// Eigen's SSE packet type carries vector attributes that GCC drops (with a warning) when it is a
// template argument; the type is only ever used as Eigen intends, so the warning says nothing here.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wignored-attributes"
void transpose(const float* src, int64_t rows, int64_t cols, float* dst, bool accumulate) {
  using Packet = Eigen::internal::packet_traits<float>::type;
  constexpr int64_t kN = Eigen::internal::packet_traits<float>::size;  // 16 with AVX-512
  const int64_t rows_full = rows / kN * kN, cols_full = cols / kN * kN;
  for (int64_t i0 = 0; i0 < rows_full; i0 += kN)
    for (int64_t j0 = 0; j0 < cols_full; j0 += kN) {
      Eigen::internal::PacketBlock<Packet, kN> block;
      for (int64_t r = 0; r < kN; ++r) block.packet[r] = Eigen::internal::ploadu<Packet>(src + (i0 + r) * cols + j0);
      Eigen::internal::ptranspose(block);
      for (int64_t r = 0; r < kN; ++r) {
        float* out = dst + (j0 + r) * rows + i0;
        const Packet p = accumulate ? Eigen::internal::padd(Eigen::internal::ploadu<Packet>(out), block.packet[r]) : block.packet[r];
        Eigen::internal::pstoreu(out, p);
      }
    }
  // The ragged right and bottom edges, element by element.
  for (int64_t i = 0; i < rows; ++i)
    for (int64_t j = (i < rows_full ? cols_full : 0); j < cols; ++j) {
      float& out = dst[j * rows + i];
      out = accumulate ? out + src[i * cols + j] : src[i * cols + j];
    }
}
#pragma GCC diagnostic pop

}  // namespace raoq::ops::detail
