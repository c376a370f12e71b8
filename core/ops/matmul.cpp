// core/ops/matmul.cpp — matrix products: matmul (2-D and batched) and linear (x w^T + b).
//
// Legend: M, K, N the dimensions of a (M, K) times b (K, N); B the batch (product of the leading
// dimensions); R = numel(x) / in, the rows of a linear layer's input taken all at once.
// All products go through detail::gemm (core/ops/detail/gemm.h): row-major Eigen Maps, .noalias(),
// no copies of transposed operands. Parallelism: over the batch for batched matmul, over output
// blocks inside gemm otherwise; no sum crosses threads (bitwise reproducible per thread count).
// Not here: convolution (conv.cpp), attention (attention.cpp), the IMC-tiled product (imc/).
#include <algorithm>

#include "core/autograd.h"
#include "core/error.h"
#include "core/ops.h"
#include "core/ops/detail/gemm.h"
#include "core/parallel.h"

namespace raoq::ops {

using detail::gemm;

namespace {

// The leading (batch) dimensions of a shape: all but the last two.
Shape leading(const Shape& s) { return Shape(s.begin(), s.end() - 2); }

// Batches per thread so that a thread gets at least gemm's own parallel threshold of work:
// small batched products (attention heads of a tiny model) stay on one thread.
int64_t batches_per_thread(int64_t M, int64_t N, int64_t K) {
  const double flops = 2.0 * double(M) * double(N) * double(K);
  return flops <= 0 ? 1 : std::max<int64_t>(1, static_cast<int64_t>(detail::kGemmParallelFlops / flops));
}

}  // namespace

// matmul:  y = a b               a (M, K) or (..., M, K);  b (K, N) or (..., K, N)  ->  y (..., M, N)
//          da += dy b^T          db += a^T dy  (summed over the batch when b is 2-D)   saves: a, b
// With a 2-D b, every batch of a multiplies the same b: that is one GEMM of (B*M, K) by (K, N).
// With a batched b (same leading dimensions as a), batches run in parallel, one GEMM each.
RAOQ_REGISTER_OP("matmul");
Tensor matmul(const Tensor& a, const Tensor& b) {
  RAOQ_CHECK(a.defined() && b.defined(), "matmul: an input is an undefined tensor");
  RAOQ_CHECK(a.dim() >= 2 && b.dim() >= 2, "matmul: expects a (..., M, K) and b (K, N) or (..., K, N), given a ",
             shape_str(a.shape()), " and b ", shape_str(b.shape()), " (reshape a vector to (1, K) or (K, 1))");
  const int64_t M = a.size(-2), K = a.size(-1), N = b.size(-1);
  RAOQ_CHECK(b.size(-2) == K, "matmul: inner dimensions differ: a is ", shape_str(a.shape()), ", b is ",
             shape_str(b.shape()), " (a.cols ", K, " != b.rows ", b.size(-2), ")");
  const bool shared_b = b.dim() == 2;
  RAOQ_CHECK(shared_b || leading(a.shape()) == leading(b.shape()), "matmul: batch dimensions differ: a is ",
             shape_str(a.shape()), ", b is ", shape_str(b.shape()),
             " (b must be 2-D or have exactly a's leading dimensions)");
  Shape out = leading(a.shape());
  out.push_back(M);
  out.push_back(N);
  Tensor y = Tensor::empty(out);
  const int64_t batch = shape_numel(leading(a.shape()));
  if (shared_b) {
    gemm(false, false, batch * M, N, K, a.data(), b.data(), y.data(), false);
  } else {
    const float *pa = a.data(), *pb = b.data();
    float* py = y.data();
    parallel_for(batch, [&](int64_t i0, int64_t i1) {
      for (int64_t i = i0; i < i1; ++i) gemm(false, false, M, N, K, pa + i * M * K, pb + i * K * N, py + i * M * N, false);
    }, batches_per_thread(M, N, K));
  }
  return autograd::record("matmul", {a, b}, y, {"a", "b"},
                          [a = a.detach(), b = b.detach(), batch, M, N, K, shared_b](BackwardContext& ctx) {
    // Each GEMM writes its whole gradient (beta = 0): the buffers need no zero-fill.
    const float* dy = ctx.dout_tensor().data();
    float* da = ctx.needs(0) ? ctx.dinput_uninit(0).data() : nullptr;
    float* db = ctx.needs(1) ? ctx.dinput_uninit(1).data() : nullptr;
    if (shared_b) {
      if (da) gemm(false, true, batch * M, K, N, dy, b.data(), da, false);   // (BM, N) (N, K)
      if (db) gemm(true, false, K, N, batch * M, a.data(), dy, db, false);   // (K, BM) (BM, N)
      return;
    }
    const float *pa = a.data(), *pb = b.data();
    parallel_for(batch, [&](int64_t i0, int64_t i1) {
      for (int64_t i = i0; i < i1; ++i) {
        const float* dyi = dy + i * M * N;
        if (da) gemm(false, true, M, K, N, dyi, pb + i * K * N, da + i * M * K, false);
        if (db) gemm(true, false, K, N, M, pa + i * M * K, dyi, db + i * K * N, false);
      }
    }, batches_per_thread(M, N, K));
  });
}

// linear:  y = x w^T + bias      x (..., in), w (out, in), bias (out) or undefined -> y (..., out)
//          dx += dy w            dw += dy^T x          dbias += sum_r dy[r, :]        saves: x, w
// The R = numel(x)/in rows of x are one GEMM in each direction (the hot path of every Linear
// layer); y starts as the broadcast bias and the GEMM accumulates into it (no second pass).
// dbias adds dy's rows in order r = 0..R-1 (fixed order).
RAOQ_REGISTER_OP("linear");
Tensor linear(const Tensor& x, const Tensor& w, const Tensor& bias) {
  RAOQ_CHECK(x.defined() && w.defined(), "linear: x or w is an undefined tensor");
  RAOQ_CHECK(w.dim() == 2, "linear: expects w (out, in), given w ", shape_str(w.shape()));
  const int64_t out_features = w.size(0), in_features = w.size(1);
  RAOQ_CHECK(x.dim() >= 1 && x.size(-1) == in_features, "linear: expects x (..., ", in_features, ") for w ",
             shape_str(w.shape()), " (out, in), given x ", shape_str(x.shape()));
  const bool has_bias = bias.defined();
  RAOQ_CHECK(!has_bias || bias.shape() == Shape{out_features}, "linear: expects bias (", out_features,
             ") for w ", shape_str(w.shape()), ", given bias ", shape_str(bias.shape()));
  Shape out(x.shape().begin(), x.shape().end() - 1);
  const int64_t R = shape_numel(out);
  out.push_back(out_features);
  Tensor y = Tensor::empty(out);
  if (has_bias && R > 0) {  // rows of bias, then the product added: split over rows (memory-bound)
    const Eigen::Map<const Eigen::RowVectorXf> b(bias.data(), out_features);
    parallel_for(R, [&](int64_t r0, int64_t r1) {
      for (int64_t r = r0; r < r1; ++r) Eigen::Map<Eigen::RowVectorXf>(y.data() + r * out_features, out_features) = b;
    }, std::max<int64_t>(1, 16384 / out_features));
  }
  gemm(false, true, R, out_features, in_features, x.data(), w.data(), y.data(), /*accumulate=*/has_bias);
  std::vector<Tensor> inputs{x, w};
  if (has_bias) inputs.push_back(bias);
  return autograd::record("linear", std::move(inputs), y, {"x", "w"},
                          [x = x.detach(), w = w.detach(), R, in_features, out_features](BackwardContext& ctx) {
    const float* dy = ctx.dout_tensor().data();  // (R, out); dx and dw written whole (beta = 0), no zero-fill
    if (ctx.needs(0)) gemm(false, false, R, in_features, out_features, dy, w.data(), ctx.dinput_uninit(0).data(), false);
    if (ctx.needs(1)) gemm(true, false, out_features, in_features, R, dy, x.data(), ctx.dinput_uninit(1).data(), false);
    if (ctx.needs(2)) {
      // Split over columns, each summed over the rows in order: the same bits at any thread count.
      float* db = ctx.dinput_tensor(2).data();
      parallel_for(out_features, [&](int64_t j0, int64_t j1) {
        ArrayMap part(db + j0, j1 - j0);
        for (int64_t r = 0; r < R; ++r) part += Eigen::Map<const Eigen::ArrayXf>(dy + r * out_features + j0, j1 - j0);
      }, std::max<int64_t>(16, 16384 / std::max<int64_t>(1, R)));
    }
  });
}

}  // namespace raoq::ops
