// bench/peak.h — the machine's measured peak: fp32 fused multiply-adds and int8 dot products
// (VNNI) from register-resident loops with enough independent accumulators to fill both FMA
// ports, on `threads` threads at once. What "percent of peak" in the benchmark lines is taken
// against, measured on the machine and in the run that times the benchmarks.
#pragma once

namespace raoq::bench {

// GFLOP/s (a multiply-add counts 2) of AVX-512 FMAs (AVX2 FMA, else plain C++, when built without).
double measured_peak_fp32_gflops(int threads);
// GOP/s (a multiply-add counts 2) of u8 x s8 -> s32 dot products (AVX-512 VNNI vpdpbusd); 0 when
// the build has no VNNI (the int8 array path then has no native kernel either).
double measured_peak_int8_gops(int threads);
// "avx512", "avx2" or "scalar": which loop measured the fp32 peak.
const char* peak_isa();

}  // namespace raoq::bench
