// core/ops/kernels.h — small internal helpers shared by the kernels of core/ops: per-thread
// scratch buffers and the grain below which a loop is not worth splitting over threads.
//
// Not a public header: nothing outside core/ops includes it.
#pragma once

#include <algorithm>
#include <cstdint>

namespace raoq::ops::detail {

// A per-thread buffer of at least `size` floats for `slot` (0..kScratchSlots-1), reused across
// calls on the same thread (it only grows), so kernels do not allocate per image or per call.
// The contents are unspecified. Two live buffers on one thread must use different slots.
constexpr int kScratchSlots = 4;
float* thread_scratch(int slot, int64_t size);

// Work (in multiply-adds or element visits) that one thread should get at least: a parallel
// region costs a few microseconds to start and join (much more when another process holds a
// core), which is what about 32K multiply-adds take.
constexpr int64_t kParallelGrain = 32768;

// The min_per_thread argument of parallel_for for items that each cost `work_per_item`.
inline int64_t grain_items(int64_t work_per_item) {
  return std::max<int64_t>(1, kParallelGrain / std::max<int64_t>(1, work_per_item));
}

// How many chunks to split `items` items of `work_per_item` each into, at most `threads`:
// what parallel_for would use, for loops that keep one partial result per chunk.
inline int64_t chunk_count(int64_t items, int64_t work_per_item, int64_t threads) {
  return std::max<int64_t>(1, std::min<int64_t>(threads, items / grain_items(work_per_item)));
}

}  // namespace raoq::ops::detail
