// quant/channel_blocks.h — the parallel loop shape shared by the elementwise quantizer ops.
//
// A tensor viewed as (C, inner) — C = 1 for per-tensor parameters, C = size(0) for per-channel
// ones — is cut into fixed blocks of at most kBlock elements that never cross a channel. The
// blocks depend only on the shape, never on the thread count, and a reduction keeps one partial
// per block and sums the partials of a channel in block order: reductions are bitwise identical
// whatever the number of threads (DESIGN.md, performance principles).
#pragma once

#include <algorithm>
#include <cstdint>
#include <vector>

#include "core/parallel.h"

namespace raoq::quant::detail {

struct ChannelBlocks {
  static constexpr int64_t kBlock = 16384;
  int64_t channels = 1;  // C
  int64_t inner = 0;     // elements per channel
  int64_t per_channel = 1;

  ChannelBlocks(int64_t c, int64_t n) : channels(c), inner(n), per_channel(std::max<int64_t>(1, (n + kBlock - 1) / kBlock)) {}
  int64_t units() const { return channels * per_channel; }

  // fn(unit, c, begin, end): elements [begin, end) of the flat tensor, all in channel c.
  template <typename Fn>
  void run(Fn&& fn) const {
    const ChannelBlocks self = *this;
    parallel_for(units(), [&](int64_t u0, int64_t u1) {
      for (int64_t u = u0; u < u1; ++u) {
        const int64_t c = u / self.per_channel, b = u % self.per_channel;
        const int64_t begin = c * self.inner + b * kBlock;
        const int64_t end = c * self.inner + std::min(self.inner, (b + 1) * kBlock);
        fn(u, c, begin, end);
      }
    });
  }

  // Sums per-unit partials into per-channel totals, in block order.
  std::vector<double> reduce(const std::vector<double>& partial) const {
    std::vector<double> total(static_cast<size_t>(channels), 0.0);
    for (int64_t u = 0; u < units(); ++u) total[static_cast<size_t>(u / per_channel)] += partial[static_cast<size_t>(u)];
    return total;
  }
};

}  // namespace raoq::quant::detail
