// core/ops/detail/kernels.h — small internal helpers shared by the kernels of core/ops: per-thread
// scratch buffers, the grain below which a loop is not worth splitting over threads, a product's
// split over threads along its longer side, and per-chunk partial sums that reduce in a fixed order.
//
// Not a public header: internal to the library's kernels (core/ops, and kernels elsewhere that
// build on core's Winograd transforms).
#pragma once

#include <Eigen/Core>
#include <algorithm>
#include <cstdint>
#include <vector>

#include "core/parallel.h"

namespace raoq::ops::detail {

// A per-thread buffer of at least `size` floats for `slot` (0..kScratchSlots-1), reused across
// calls on the same thread (it only grows), so kernels do not allocate per image or per call.
// The contents are unspecified. Two live buffers on one thread must use different slots.
constexpr int kScratchSlots = 5;
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

// fn(r0, r1, c0, c1) over a rows x cols output (a product's), split over the threads along its
// longer side in blocks of at least 32, so each thread's block keeps the full length of the other
// side (a matrix kernel stays at full tile width).
template <typename Fn>
void split_longer_side(int64_t rows, int64_t cols, const Fn& fn) {
  if (rows >= cols) parallel_for(rows, [&](int64_t r0, int64_t r1) { fn(r0, r1, int64_t(0), cols); }, 32);
  else parallel_for(cols, [&](int64_t c0, int64_t c1) { fn(int64_t(0), rows, c0, c1); }, 32);
}

// dst (cols, rows) = src (rows, cols)^T, both row-major; with accumulate, dst += src^T.
// Blocked through packet registers (16x16 with AVX-512): a plain transposed copy walks one side
// with a stride and runs at a fraction of the speed.
void transpose(const float* src, int64_t rows, int64_t cols, float* dst, bool accumulate = false);

// The same transpose with the rows of the result placed anywhere: row j of src^T (the `rows`
// floats of column j of src) goes to dst + at[j]. Lets a (C, H*W) image become a channels-last
// image with margins (a padded or differently strided pixel grid) in one pass.
void transpose_to(const float* src, int64_t rows, int64_t cols, const int64_t* at, float* dst);
// Its inverse: dst (rows, cols) = the matrix whose column j is the `rows` floats at src + at[j];
// with accumulate, dst += that.
void transpose_from(const float* src, const int64_t* at, int64_t rows, int64_t cols, float* dst, bool accumulate = false);

// Splits [0, n) into `chunks` contiguous ranges, one task each: fn(chunk, begin, end). The split
// depends only on n and chunks, so per-chunk partial sums reduce in a fixed order.
template <typename Fn>
void for_chunks(int64_t n, int64_t chunks, const Fn& fn) {
  parallel_for(chunks, [&](int64_t c0, int64_t c1) {
    for (int64_t c = c0; c < c1; ++c) fn(c, n * c / chunks, n * (c + 1) / chunks);
  });
}

// Per-chunk partial sums of a gradient of `size` floats: chunk 0 accumulates straight into the
// gradient, chunks 1.. into zeroed blocks of their own, and reduce() adds those in chunk order.
// A null gradient gives null blocks (nothing to accumulate).
class ChunkPartials {
 public:
  ChunkPartials(float* grad, int64_t size, int64_t chunks)
      : extra_(grad ? static_cast<size_t>(size * (chunks - 1)) : 0, 0.0f), target_(grad), size_(size) {}
  float* of(int64_t chunk) {
    return !target_ ? nullptr : chunk == 0 ? target_ : extra_.data() + (chunk - 1) * size_;
  }
  void reduce() {
    for (size_t off = 0; off < extra_.size(); off += static_cast<size_t>(size_))
      Eigen::Map<Eigen::ArrayXf>(target_, size_) += Eigen::Map<const Eigen::ArrayXf>(extra_.data() + off, size_);
  }

 private:
  std::vector<float> extra_;
  float* target_;
  int64_t size_;
};

}  // namespace raoq::ops::detail
