// bench/work.h — the work a benchmark does, counted as plain GEMM / direct convolution (so a
// Winograd convolution shows as more GFLOP/s than its multiplies, above peak where it is).
#pragma once

#include <cstdint>

#include "core/tensor.h"
#include "layers/module.h"

namespace raoq::bench {

// Multiply-adds of one forward of model on x: every Conv2d (N Ho Wo C_out C_in/groups k^2), Linear
// (rows x in x out) and attention (Q K^T and P V: 2 B H T^2 Dh), measured by a shape probe
// (layers/module.h). Normalisation, activations and the optimizer are not counted.
double forward_macs(Module& model, const Tensor& x);

// A training step: forward, input gradient and weight gradient, each as many multiply-adds as
// the forward, 2 flops each: 6 x forward_macs.
double training_step_flop(Module& model, const Tensor& x);

// C = A B, M x K x N: 2 M K N.  A 3x3 conv forward + backward (input and weight gradients) of
// N x C_in x H x W, padding 1, C_out outputs: 3 x 2 N H W C_out C_in 9.
inline double gemm_flop(int64_t M, int64_t K, int64_t N) { return 2.0 * double(M) * double(K) * double(N); }
inline double conv3x3_fwd_bwd_flop(int64_t N, int64_t C_in, int64_t C_out, int64_t H, int64_t W) {
  return 3.0 * 2.0 * double(N) * double(H) * double(W) * double(C_out) * double(C_in) * 9.0;
}

}  // namespace raoq::bench
