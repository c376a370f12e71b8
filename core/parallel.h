// core/parallel.h — raoq's thread count and the one parallel-for it uses.
//
// raoq parallelises at a coarse grain (over the batch, over channel blocks, over tiles)
// with OpenMP, and never inside Eigen (built with EIGEN_DONT_PARALLELIZE). Work is split
// into fixed chunks that do not depend on scheduling, and no reduction crosses chunks,
// so results are bitwise identical for a given thread count.
#pragma once

#include <cstdint>
#include <functional>

namespace raoq {

void set_num_threads(int n);  // n >= 1
int num_threads();

// Runs fn(begin, end) over [0, n) split into at most num_threads() contiguous chunks of
// nearly equal size; each index is visited exactly once. Runs inline when n is small
// or when called from inside another parallel region.
void parallel_for(int64_t n, const std::function<void(int64_t, int64_t)>& fn, int64_t min_per_thread = 1);

// dst[i] += src[i] and dst[i] = src[i] for i < n, split over the threads when n is large: these
// are memory-bound (gradients summed and copied in backward), and one core does not saturate the
// memory bus. Elementwise, so the same bits at any thread count.
void parallel_add(float* dst, const float* src, int64_t n);
void parallel_copy(float* dst, const float* src, int64_t n);

}  // namespace raoq

namespace raoq {
// For a program's main(), before any parallel work: when OMP_WAIT_POLICY is unset, re-executes
// the program with OMP_WAIT_POLICY=passive (the OpenMP runtime reads it only at load time).
// Why: with the default spinning policy, threads of a parallel region collapsed to a fraction
// of one thread's speed whenever another process held a core (measured on 2-core machines);
// sleeping waiters cost a few microseconds per region instead. Returns normally when the policy
// is already set or the re-exec is impossible. Set RAOQ_KEEP_OMP_WAIT=1 to opt out.
void prefer_passive_omp_wait(char** argv);
}  // namespace raoq
