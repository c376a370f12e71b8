// quant/ashift.cpp — the A-shift map, its op and the exact digital correction (see ashift.h).
#include "quant/ashift.h"

#include <cmath>
#include <string>
#include <vector>

#include "core/autograd.h"
#include "core/error.h"
#include "core/parallel.h"

namespace raoq::quant {

RAOQ_REGISTER_OP("a_shift");
RAOQ_REGISTER_OP("ashift_correct");

const char* to_string(Representation rep) {
  return rep == Representation::zero_one ? "zero_one" : "minus_one_one";
}

Representation representation_from_string(const std::string& name) {
  if (name == "zero_one" || name == "0/1") return Representation::zero_one;
  if (name == "minus_one_one" || name == "-1/1") return Representation::minus_one_one;
  RAOQ_CHECK(false, "representation must be \"zero_one\" (\"0/1\") or \"minus_one_one\" (\"-1/1\") (got \"", name, "\")");
  return Representation::zero_one;
}

ShiftMap a_shift_map(int bx, Representation rep) {
  RAOQ_CHECK(bx >= 1 && bx <= 16, "a_shift_map: bx must be in [1, 16] (got ", bx, ")");
  if (rep == Representation::zero_one) return {1.0f, std::ldexp(1.0f, bx - 1)};
  return {2.0f, std::ldexp(1.0f, bx) - 1.0f};
}

// xq: any shape -> xs: same shape.   dxq = gain * dxs
// Both passes split the flat range over the threads, and the backward writes its fresh gradient
// buffer once (no zero-fill, no second pass): on the array layers' activations these passes are
// memory-bound, and serial ones were the larger part of the ADC step's extra time at 2 threads.
Tensor a_shift(const Tensor& xq, ShiftMap map) {
  RAOQ_CHECK(map.gain != 0.0f, "a_shift: gain must be non-zero");
  Tensor out = Tensor::empty(xq.shape());
  const float gain = map.gain, shift = map.shift;
  const float* in = xq.data();
  float* o = out.data();
  parallel_for(xq.numel(), [&](int64_t i0, int64_t i1) {
#pragma omp simd
    for (int64_t i = i0; i < i1; ++i) o[i] = gain * in[i] - shift;
  }, 1 << 14);
  return autograd::record("a_shift", {xq}, out, {"gain"}, [gain](BackwardContext& ctx) {
    const float* g = ctx.dout_tensor().data();
    float* d = ctx.dinput_uninit(0).data();  // written in full below
    parallel_for(ctx.dout_tensor().numel(), [&](int64_t i0, int64_t i1) {
#pragma omp simd
      for (int64_t i = i0; i < i1; ++i) d[i] = gain * g[i];
    }, 1 << 14);
  });
}

// y_array: (M, N) viewed flat over leading dims   wq: (N, K)   -> y: (M, N)
//   y = (y_array + shift * rowsum(wq)) / gain
//   dy_array += dy / gain;   dwq[n, :] += (shift / gain) * sum_m dy[m, n]      saves: nothing but the map
Tensor ashift_correct(const Tensor& y_array, const Tensor& wq, ShiftMap map) {
  RAOQ_CHECK(wq.dim() == 2, "ashift_correct: wq must be (N, K) (got ", shape_str(wq.shape()), ")");
  const int64_t N = wq.size(0), K = wq.size(1);
  RAOQ_CHECK(y_array.dim() >= 1 && y_array.size(-1) == N, "ashift_correct: y_array must be (..., ", N,
             ") to match wq ", shape_str(wq.shape()), " (got ", shape_str(y_array.shape()), ")");
  RAOQ_CHECK(map.gain != 0.0f, "ashift_correct: gain must be non-zero");
  const int64_t M = N ? y_array.numel() / N : 0;
  std::vector<float> offset(static_cast<size_t>(N));
  const auto W = wq.as_matrix(N, K);
  for (int64_t n = 0; n < N; ++n) offset[size_t(n)] = map.shift * W.row(n).sum();  // exact: integer codes
  Tensor out = Tensor::empty(y_array.shape());
  const float* yp = y_array.data();
  float* op = out.data();
  const float inv_gain = 1.0f / map.gain;  // gain is 1 or 2: the reciprocal is exact
  parallel_for(M, [&](int64_t m0, int64_t m1) {
    const float* off = offset.data();
    for (int64_t m = m0; m < m1; ++m) {
#pragma omp simd
      for (int64_t n = 0; n < N; ++n) op[m * N + n] = (yp[m * N + n] + off[n]) * inv_gain;
    }
  }, 64);
  return autograd::record(
      "ashift_correct", {y_array, wq}, out, {"gain", "shift"}, [M, N, K, map, inv_gain](BackwardContext& ctx) {
        const float* g = ctx.dout_tensor().data();
        if (ctx.needs(0)) ctx.dinput(0) += inv_gain * ctx.dout();
        if (ctx.needs(1) && map.shift != 0.0f) {
          std::vector<double> col(static_cast<size_t>(N), 0.0);
          for (int64_t m = 0; m < M; ++m)
            for (int64_t n = 0; n < N; ++n) col[size_t(n)] += g[m * N + n];
          auto dW = ctx.dinput_tensor(1).as_matrix(N, K);
          for (int64_t n = 0; n < N; ++n) dW.row(n).array() += static_cast<float>(map.shift * inv_gain * col[size_t(n)]);
        }
      });
}

double second_moment(const Tensor& v) {
  RAOQ_CHECK(v.numel() > 0, "second_moment: empty tensor");
  double acc = 0;
  for (int64_t i = 0; i < v.numel(); ++i) acc += double(v.data()[i]) * v.data()[i];
  return acc / double(v.numel());
}

}  // namespace raoq::quant
