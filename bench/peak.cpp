// bench/peak.cpp — peak loops (contract in peak.h). Each thread runs 16 independent accumulator
// chains (FMA latency 4 cycles x 2 ports = 8 in flight needed; 16 leaves slack), for a fixed
// number of iterations; the best of 5 repetitions is kept. The chain loop is unrolled so that the
// accumulators live in registers (a loop over an array of them would run at store-forwarding speed).
#include "bench/peak.h"

#include <immintrin.h>
#include <omp.h>

#include <algorithm>
#include <chrono>

namespace raoq::bench {

namespace {
constexpr int kChains = 16;
constexpr long kIters = 2'000'000;

// Returns a value the compiler cannot discard; `ops` gets the operations one call performs.
float fp32_loop(double* ops) {
#if defined(__AVX512F__)
  __m512 acc[kChains];
  for (int i = 0; i < kChains; ++i) acc[i] = _mm512_set1_ps(0.001f * float(i));
  const __m512 a = _mm512_set1_ps(0.999999f), b = _mm512_set1_ps(1e-7f);
  for (long it = 0; it < kIters; ++it)
#pragma GCC unroll 16
    for (int i = 0; i < kChains; ++i) acc[i] = _mm512_fmadd_ps(acc[i], a, b);
  __m512 s = acc[0];
  for (int i = 1; i < kChains; ++i) s = _mm512_add_ps(s, acc[i]);
  *ops = 2.0 * 16 * kChains * double(kIters);
  return _mm512_reduce_add_ps(s);
#elif defined(__AVX2__) && defined(__FMA__)
  __m256 acc[kChains];
  for (int i = 0; i < kChains; ++i) acc[i] = _mm256_set1_ps(0.001f * float(i));
  const __m256 a = _mm256_set1_ps(0.999999f), b = _mm256_set1_ps(1e-7f);
  for (long it = 0; it < kIters; ++it)
#pragma GCC unroll 16
    for (int i = 0; i < kChains; ++i) acc[i] = _mm256_fmadd_ps(acc[i], a, b);
  float out[8], total = 0;
  __m256 s = acc[0];
  for (int i = 1; i < kChains; ++i) s = _mm256_add_ps(s, acc[i]);
  _mm256_storeu_ps(out, s);
  for (float v : out) total += v;
  *ops = 2.0 * 8 * kChains * double(kIters);
  return total;
#else
  float acc[kChains];
  for (int i = 0; i < kChains; ++i) acc[i] = 0.001f * float(i);
  for (long it = 0; it < kIters; ++it)
#pragma GCC unroll 16
    for (int i = 0; i < kChains; ++i) acc[i] = acc[i] * 0.999999f + 1e-7f;
  float total = 0;
  for (float v : acc) total += v;
  *ops = 2.0 * kChains * double(kIters);
  return total;
#endif
}

int int8_loop(double* ops) {
#if defined(__AVX512VNNI__)
  __m512i acc[kChains];
  for (int i = 0; i < kChains; ++i) acc[i] = _mm512_set1_epi32(i);
  const __m512i a = _mm512_set1_epi8(3), b = _mm512_set1_epi8(-2);
  for (long it = 0; it < kIters; ++it)
#pragma GCC unroll 16
    for (int i = 0; i < kChains; ++i) acc[i] = _mm512_dpbusd_epi32(acc[i], a, b);
  __m512i s = acc[0];
  for (int i = 1; i < kChains; ++i) s = _mm512_add_epi32(s, acc[i]);
  *ops = 2.0 * 64 * kChains * double(kIters);  // 64 u8 x s8 products per instruction
  return _mm512_reduce_add_epi32(s);
#else
  *ops = 0;
  return 0;
#endif
}

template <typename Loop>
double best_rate(int threads, Loop loop) {
  double best = 0;
  for (int rep = 0; rep < 5; ++rep) {
    double ops_total = 0;
    volatile double sink = 0;
    const auto t0 = std::chrono::steady_clock::now();
#pragma omp parallel num_threads(threads) reduction(+ : ops_total)
    {
      double ops = 0;
      const double v = double(loop(&ops));
      ops_total += ops;
      if (v == 12345.678) sink = v;  // keeps the loop's result live
    }
    const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    (void)sink;
    if (ops_total == 0) return 0;
    best = std::max(best, ops_total / s / 1e9);
  }
  return best;
}
}  // namespace

double measured_peak_fp32_gflops(int threads) { return best_rate(std::max(1, threads), fp32_loop); }
double measured_peak_int8_gops(int threads) { return best_rate(std::max(1, threads), int8_loop); }

const char* peak_isa() {
#if defined(__AVX512F__)
  return "avx512";
#elif defined(__AVX2__) && defined(__FMA__)
  return "avx2";
#else
  return "scalar";
#endif
}

}  // namespace raoq::bench
