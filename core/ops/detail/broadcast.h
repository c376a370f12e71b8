// core/ops/detail/broadcast.h — internal: numpy broadcasting and chunked loops for the elementwise ops.
//
// A BroadcastPlan walks the output of a binary op a (op) b as a list of contiguous "runs" of the
// innermost dimension. Output dimensions of size 1 are dropped and neighbours that stretch the
// same way are merged, so the common cases cost one Eigen expression per run:
//   equal shapes           -> one run over everything, both operands contiguous
//   one-element b          -> one run, b a scalar
//   (C,1,1) over (N,C,H,W) -> dims [N, C, H*W], b strides [0, 1, 0]: N*C runs, b a scalar in each
//   (D) over (N,T,D)       -> dims [N*T, D],     b strides [0, 1]:    N*T runs, b the same vector
// The innermost merged dimension is never stretched in both operands (the output would have
// size 1 there and be dropped), so every run reads each operand as a vector or as a scalar.
//
// Not a public header: only core/ops/*.cpp include it.
#pragma once

#include <Eigen/Core>
#include <algorithm>
#include <cstdint>
#include <functional>
#include <vector>

#include "core/parallel.h"
#include "core/tensor.h"

namespace raoq::ops::detail {

using ConstArrayMap = Eigen::Map<const Eigen::ArrayXf>;

// Elementwise loops split into chunks of at least this many elements per thread: on smaller
// tensors, starting a parallel region costs more than the second thread saves.
constexpr int64_t kElementwiseGrain = 1 << 16;

// Runs fn(begin, end) over [0, n) in fixed chunks (core/parallel.h); no reduction crosses chunks.
inline void elementwise_for(int64_t n, const std::function<void(int64_t, int64_t)>& fn) {
  parallel_for(n, fn, kElementwiseGrain);
}

// The output shape of broadcasting a with b; throws naming `op` and both shapes when a
// trailing-aligned pair of dimensions differs and neither is 1.
Shape broadcast_shape(const char* op, const Shape& a, const Shape& b);

struct BroadcastPlan {
  Shape out_shape;
  int64_t numel = 0;                  // elements of the output
  std::vector<int64_t> dims;          // merged output dimensions, outer to inner (never empty)
  std::vector<int64_t> a_stride;      // a's element stride per merged dimension (0 = stretched)
  std::vector<int64_t> b_stride;
  int64_t run() const { return dims.back(); }  // length of one innermost run
  int64_t runs() const { return dims.back() ? numel / dims.back() : 0; }
  bool a_contiguous() const { return a_stride.back() != 0; }  // a is a vector (not a scalar) in each run
  bool b_contiguous() const { return b_stride.back() != 0; }
};

// Plan for a (op) b. The shapes must broadcast (call broadcast_shape first for the error message).
BroadcastPlan broadcast_plan(const Shape& a, const Shape& b);

// Visits runs [begin, end) of the plan: fn(out_offset, a_offset, b_offset) for each run, in order.
template <class Fn>
void for_each_run(const BroadcastPlan& p, int64_t begin, int64_t end, Fn&& fn) {
  const size_t outer = p.dims.size() - 1;
  std::vector<int64_t> idx(outer, 0);
  int64_t a_off = 0, b_off = 0;
  for (size_t d = outer, rest = static_cast<size_t>(begin); d-- > 0;) {  // unravel `begin`
    idx[d] = static_cast<int64_t>(rest) % p.dims[d];
    rest /= static_cast<size_t>(p.dims[d]);
    a_off += idx[d] * p.a_stride[d];
    b_off += idx[d] * p.b_stride[d];
  }
  for (int64_t r = begin; r < end; ++r) {
    fn(r * p.run(), a_off, b_off);
    for (size_t d = outer; d-- > 0;) {  // odometer step over the outer dimensions
      a_off += p.a_stride[d];
      b_off += p.b_stride[d];
      if (++idx[d] < p.dims[d]) break;
      a_off -= p.a_stride[d] * p.dims[d];
      b_off -= p.b_stride[d] * p.dims[d];
      idx[d] = 0;
    }
  }
}

// out (=|+=) op(a, b) over the plan's output. op is a generic lambda called with each operand
// either as a ConstArrayMap (a vector run) or as a float (a stretched scalar; never both),
// returning an Eigen array expression. Returning an unevaluated expression is safe here: it
// refers only to op's arguments, which live until the assignment below completes (the Eigen
// `auto` pitfall is an expression outliving the temporaries it refers to).
// Parallel over runs in fixed chunks (a single run, over pieces of it); each output element is
// written by exactly one task.
template <class Op>
void broadcast_apply(const BroadcastPlan& p, const float* a, const float* b, float* out, bool accumulate, Op op) {
  const int64_t n = p.run();
  const bool av = p.a_contiguous(), bv = p.b_contiguous();
  // out[o, o + len) from a run of a (or its one value) and a run of b (or its one value).
  auto apply = [&](int64_t o, int64_t ia, int64_t ib, int64_t len) {
    Eigen::Map<Eigen::ArrayXf> y(out + o, len);
    if (av && bv) {
      if (accumulate) y += op(ConstArrayMap(a + ia, len), ConstArrayMap(b + ib, len));
      else y = op(ConstArrayMap(a + ia, len), ConstArrayMap(b + ib, len));
    } else if (av) {
      if (accumulate) y += op(ConstArrayMap(a + ia, len), b[ib]);
      else y = op(ConstArrayMap(a + ia, len), b[ib]);
    } else {
      if (accumulate) y += op(a[ia], ConstArrayMap(b + ib, len));
      else y = op(a[ia], ConstArrayMap(b + ib, len));
    }
  };
  const int64_t runs = p.runs();
  if (runs == 1) {  // one run (same shapes, or one side a scalar): split the run itself
    parallel_for(n, [&](int64_t begin, int64_t end) { apply(begin, av ? begin : 0, bv ? begin : 0, end - begin); },
                 kElementwiseGrain);
    return;
  }
  parallel_for(runs, [&](int64_t begin, int64_t end) {
    for_each_run(p, begin, end, [&](int64_t o, int64_t ia, int64_t ib) { apply(o, ia, ib, n); });
  }, std::max<int64_t>(1, kElementwiseGrain / std::max<int64_t>(n, 1)));
}

// d += alpha * (g summed over the dimensions where a stretches), for a plan built as
// broadcast_plan(d_shape, out_shape) and g of out_shape. Serial, in output order, so the sum
// order is fixed (bitwise reproducible).
void broadcast_reduce(const BroadcastPlan& p, const float* g, float* d, float alpha = 1.0f);

}  // namespace raoq::ops::detail
