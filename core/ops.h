// core/ops.h — every public differentiable op of core/, declared once.
//
// Each op is one function in core/ops/<family>.cpp whose forward and hand-written backward sit
// side by side (STYLE.md H4). The op name recorded in the graph equals the function name.
// Shapes use these letters throughout: N batch, C channels, H W spatial, B T batch and time,
// K reduction length.
//
// Broadcasting (add, sub, mul, div): numpy rules, aligned at the trailing dimension; a
// dimension of size 1 (or a missing leading one) stretches. The backward sums the gradient
// over the stretched dimensions. A per-channel bias over (N, C, H, W) is given as (C, 1, 1).
#pragma once

#include <cstdint>
#include <vector>

#include "core/tensor.h"

namespace raoq {

class Generator;

namespace ops {

// ---- elementwise (core/ops/elementwise.cpp)
Tensor add(const Tensor& a, const Tensor& b);
Tensor sub(const Tensor& a, const Tensor& b);
Tensor mul(const Tensor& a, const Tensor& b);
Tensor div(const Tensor& a, const Tensor& b);
Tensor add_scalar(const Tensor& x, float c);   // x + c
Tensor scale(const Tensor& x, float c);        // c * x
Tensor neg(const Tensor& x);
Tensor pow(const Tensor& x, float p);          // x^p (x > 0 unless p is a whole number)
Tensor square(const Tensor& x);
Tensor sqrt(const Tensor& x);
Tensor exp(const Tensor& x);
Tensor log(const Tensor& x);
Tensor abs(const Tensor& x);                   // d/dx at 0 is 0
Tensor clamp(const Tensor& x, float lo, float hi);  // gradient 1 strictly inside [lo, hi], 0 outside

// ---- activations (core/ops/activation.cpp)
Tensor relu(const Tensor& x);                  // d/dx at 0 is 0
Tensor gelu(const Tensor& x);                  // exact: x * Phi(x) with erf
Tensor silu(const Tensor& x);
Tensor tanh(const Tensor& x);
Tensor sigmoid(const Tensor& x);

// ---- reductions (core/ops/reduce.cpp); axis may be negative
Tensor sum(const Tensor& x);                                  // -> shape []
Tensor sum(const Tensor& x, int64_t axis, bool keepdim = false);
Tensor mean(const Tensor& x);
Tensor mean(const Tensor& x, int64_t axis, bool keepdim = false);
// Maximum along an axis; the gradient goes to the first maximal element.
Tensor max(const Tensor& x, int64_t axis, bool keepdim = false);

// ---- shape (core/ops/shape.cpp); all outputs are contiguous
Tensor reshape(const Tensor& x, Shape shape);                 // one dimension may be -1
Tensor flatten(const Tensor& x, int64_t start_dim = 1);       // (N, ...) -> (N, prod)
Tensor transpose(const Tensor& x, int64_t dim0, int64_t dim1);
Tensor permute(const Tensor& x, const std::vector<int64_t>& dims);
Tensor slice(const Tensor& x, int64_t axis, int64_t start, int64_t end);  // [start, end)
Tensor concat(const std::vector<Tensor>& xs, int64_t axis);

// ---- products (core/ops/matmul.cpp)
// a: (M, K) or (..., M, K);  b: (K, N) or (..., K, N) with the same leading dims;
// a 3-D+ a with a 2-D b multiplies every batch by b.
Tensor matmul(const Tensor& a, const Tensor& b);
// x: (..., in)  w: (out, in)  bias: (out) or undefined  ->  (..., out)
Tensor linear(const Tensor& x, const Tensor& w, const Tensor& bias = Tensor());

// ---- softmax and losses (core/ops/softmax.cpp, core/ops/loss.cpp)
Tensor softmax(const Tensor& x, int64_t axis);
Tensor log_softmax(const Tensor& x, int64_t axis);
// logits: (N, C), targets: N class indices in [0, C) -> mean loss, shape [].
// With label smoothing e, the target distribution is (1-e) one-hot + e/C uniform.
Tensor cross_entropy(const Tensor& logits, const std::vector<int64_t>& targets, float label_smoothing = 0.0f);
Tensor mse_loss(const Tensor& a, const Tensor& b);            // mean((a-b)^2), shape []

// ---- convolution (core/ops/conv.cpp): im2col + GEMM, parallel over the batch
struct Conv2dOptions {
  int64_t stride = 1;
  int64_t padding = 0;
  int64_t dilation = 1;
  int64_t groups = 1;
  // x and w hold integer codes and the caller needs their exact sums (a QAT layer matching the
  // array bit for bit): Winograd runs only while its quarter-step transforms stay exact in float,
  // 4 * 81 * C_in/groups * max|w| * max|x| < 2^24; beyond that the GEMM path (exact while every
  // sum stays below 2^24) computes it.
  bool exact_integers = false;
};
// x: (N, C_in, H, W)  w: (C_out, C_in/groups, kH, kW)  bias: (C_out) or undefined
// -> (N, C_out, H_out, W_out), H_out = (H + 2p - d(kH-1) - 1)/s + 1
Tensor conv2d(const Tensor& x, const Tensor& w, const Tensor& bias = Tensor(), Conv2dOptions opt = {});
// Direct seven-loop forward kept beside the fast path; tests compare them. No autograd.
Tensor conv2d_reference(const Tensor& x, const Tensor& w, const Tensor& bias = Tensor(), Conv2dOptions opt = {});

// ---- pooling (core/ops/pool.cpp); x: (N, C, H, W)
// stride 0 = kernel; padding <= kernel/2 and kernel <= 255 (the argmax is kept as uint16)
Tensor max_pool2d(const Tensor& x, int64_t kernel, int64_t stride = 0, int64_t padding = 0);
Tensor avg_pool2d(const Tensor& x, int64_t kernel, int64_t stride = 0, int64_t padding = 0);  // padding counted
Tensor global_avg_pool(const Tensor& x);                                                         // -> (N, C)
Tensor max_pool2d_reference(const Tensor& x, int64_t kernel, int64_t stride = 0, int64_t padding = 0);
Tensor avg_pool2d_reference(const Tensor& x, int64_t kernel, int64_t stride = 0, int64_t padding = 0);

// ---- normalisation (core/ops/norm.cpp)
// x: (N, C, H, W) or (N, C); weight, bias: (C). In training, normalises with the batch
// statistics (biased variance) and updates running_mean/running_var in place (unbiased
// variance, r = (1-momentum) r + momentum * stat); in eval, uses the running statistics.
// running_* may be undefined in training (no update).
Tensor batch_norm(const Tensor& x, const Tensor& weight, const Tensor& bias, const Tensor& running_mean,
                  const Tensor& running_var, bool training, float momentum = 0.1f, float eps = 1e-5f);
// Normalises over the last dimension. x: (..., D)  weight, bias: (D) or undefined.
Tensor layer_norm(const Tensor& x, const Tensor& weight, const Tensor& bias, float eps = 1e-5f);
Tensor batch_norm_reference(const Tensor& x, const Tensor& weight, const Tensor& bias, float eps = 1e-5f);
Tensor layer_norm_reference(const Tensor& x, const Tensor& weight, const Tensor& bias, float eps = 1e-5f);

// ---- lookup and regularisation (core/ops/embedding.cpp, core/ops/dropout.cpp)
// weight: (V, D), indices in [0, V) laid out as index_shape -> (index_shape..., D)
Tensor embedding(const Tensor& weight, const std::vector<int64_t>& indices, const Shape& index_shape);
// In training, zeroes each element with probability p and scales the rest by 1/(1-p);
// in eval, returns a copy of x.
Tensor dropout(const Tensor& x, float p, bool training, Generator& gen);

// ---- attention (core/ops/attention.cpp)
// q: (B, H, Tq, Dh), k: (B, H, Tk, Dh), v: (B, H, Tk, Dv) -> (B, H, Tq, Dv);
// softmax(q k^T / sqrt(Dh) [+ causal mask, top-left aligned as in torch]) v.
// Fused forward and backward (saves the attention probabilities).
Tensor scaled_dot_product_attention(const Tensor& q, const Tensor& k, const Tensor& v, bool causal = false);
Tensor scaled_dot_product_attention_reference(const Tensor& q, const Tensor& k, const Tensor& v, bool causal = false);

}  // namespace ops
}  // namespace raoq
