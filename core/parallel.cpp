// core/parallel.cpp — thread count and static chunked parallel-for over OpenMP.
#include "core/parallel.h"

#include <algorithm>
#include <cstdlib>
#include <exception>
#include <unistd.h>

#include "core/error.h"

#ifdef _OPENMP
#include <omp.h>
#endif

namespace raoq {
namespace {
int& thread_count() {
#ifdef _OPENMP
  static int n = omp_get_max_threads();
#else
  static int n = 1;
#endif
  return n;
}
}  // namespace

void set_num_threads(int n) {
  RAOQ_CHECK(n >= 1, "set_num_threads: need at least 1 thread (got ", n, ")");
  thread_count() = n;
#ifdef _OPENMP
  omp_set_num_threads(n);
#endif
}

int num_threads() { return thread_count(); }

void parallel_for(int64_t n, const std::function<void(int64_t, int64_t)>& fn, int64_t min_per_thread) {
  if (n <= 0) return;
  int64_t chunks = std::min<int64_t>(num_threads(), std::max<int64_t>(1, n / std::max<int64_t>(1, min_per_thread)));
#ifdef _OPENMP
  if (omp_in_parallel()) chunks = 1;
#endif
  if (chunks <= 1) {
    fn(0, n);
    return;
  }
  // An exception must not leave an OpenMP region (that terminates the process): keep the
  // first one and rethrow it on the calling thread.
  std::exception_ptr error;
#pragma omp parallel for schedule(static, 1) num_threads(static_cast<int>(chunks))
  for (int64_t c = 0; c < chunks; ++c) {
    const int64_t begin = n * c / chunks, end = n * (c + 1) / chunks;
    try {
      if (begin < end) fn(begin, end);
    } catch (...) {
#pragma omp critical(raoq_parallel_for_error)
      if (!error) error = std::current_exception();
    }
  }
  if (error) std::rethrow_exception(error);
}

namespace {
constexpr int64_t kMemoryGrain = int64_t(1) << 16;  // floats per thread at least (256 KiB)
}  // namespace

void parallel_add(float* dst, const float* src, int64_t n) {
  parallel_for(n, [&](int64_t i0, int64_t i1) {
#pragma omp simd
    for (int64_t i = i0; i < i1; ++i) dst[i] += src[i];
  }, kMemoryGrain);
}

void parallel_copy(float* dst, const float* src, int64_t n) {
  parallel_for(n, [&](int64_t i0, int64_t i1) { std::copy(src + i0, src + i1, dst + i0); }, kMemoryGrain);
}

void prefer_passive_omp_wait(char** argv) {
  if (std::getenv("OMP_WAIT_POLICY") != nullptr || std::getenv("RAOQ_KEEP_OMP_WAIT") != nullptr) return;
  if (setenv("OMP_WAIT_POLICY", "passive", 1) != 0) return;
  execv("/proc/self/exe", argv);  // returns only on failure: then carry on with the default policy
}

}  // namespace raoq
