// core/ops/shape.cpp — reshape, flatten, permute, transpose, slice and concat.
//
// Legend: along an axis, x is viewed as (outer, n, inner) as in reduce.cpp. Every output is
// contiguous and row-major. reshape and flatten return a view that shares x's storage (the
// only kind of view a Tensor has: a whole-storage reshape); the others copy.
// What this file does not do: strided views, gather/scatter by index (see embedding.cpp).
#include <algorithm>
#include <numeric>

#include "core/autograd.h"
#include "core/error.h"
#include "core/ops.h"
#include "core/parallel.h"
#include "core/ops/detail/broadcast.h"
#include "core/ops/detail/kernels.h"

namespace raoq::ops {

using detail::ConstArrayMap;

namespace {

void check_defined(const char* op, const Tensor& t) { RAOQ_CHECK(t.defined(), op, ": input is an undefined tensor"); }

// Normalises a possibly negative axis of an nd-dimensional tensor, naming op and shape on error.
int64_t normalize_axis(const char* op, int64_t axis, const Shape& s) {
  const auto nd = static_cast<int64_t>(s.size());
  RAOQ_CHECK(axis >= -nd && axis < nd, op, ": axis ", axis, " out of range for shape ", shape_str(s), " (expected ",
             -nd, " to ", nd - 1, ")");
  return axis < 0 ? axis + nd : axis;
}

int64_t prod(const Shape& s, size_t begin, size_t end) {
  int64_t p = 1;
  for (size_t d = begin; d < end; ++d) p *= s[d];
  return p;
}

// out (A, B) (=|+=) in (B, A)^T. Eigen's transposed assignment is fastest while a block fits in
// L1, but walks one side with a large stride beyond that (measured: 19x a plain copy at 4096x512),
// so larger blocks go in 32x32 tiles that keep both sides in cache (3x a plain copy).
void transpose_into(const float* in, int64_t B, int64_t A, float* out, bool accumulate) {
  if (A * B <= 64 * 64) {
    const Eigen::Map<const MatrixRM> x(in, B, A);
    MatrixMapRM y(out, A, B);
    if (accumulate) y += x.transpose();
    else y = x.transpose();
    return;
  }
  constexpr int64_t kTile = 32;
  for (int64_t i0 = 0; i0 < A; i0 += kTile) {
    for (int64_t j0 = 0; j0 < B; j0 += kTile) {
      const int64_t i1 = std::min(i0 + kTile, A), j1 = std::min(j0 + kTile, B);
      for (int64_t i = i0; i < i1; ++i) {
        float* row = out + i * B;
        if (accumulate) {
          for (int64_t j = j0; j < j1; ++j) row[j] += in[j * A + i];
        } else {
          for (int64_t j = j0; j < j1; ++j) row[j] = in[j * A + i];
        }
      }
    }
  }
}

// dst (=|+=) src permuted by dims: dst[o_0, ..., o_{nd-1}] = src[i] with i[dims[j]] = o_j.
// Output dimensions of size 1 are dropped and dimensions that stay adjacent in src are merged,
// so a permutation that keeps the last axis copies whole contiguous runs, and one that swaps the
// last two axes is a batch of 2-D transposes.
void permute_copy(const float* src, const Shape& src_shape, const std::vector<int64_t>& dims, float* dst,
                  bool accumulate) {
  const size_t nd = src_shape.size();
  std::vector<int64_t> src_stride(nd, 1);
  for (size_t d = nd; d-- > 1;) src_stride[d - 1] = src_stride[d] * src_shape[d];
  std::vector<int64_t> size, stride;  // merged output dims and their strides in src
  for (size_t j = 0; j < nd; ++j) {
    const int64_t sz = src_shape[size_t(dims[j])], st = src_stride[size_t(dims[j])];
    if (sz == 1) continue;
    if (!size.empty() && stride.back() == st * sz) {
      size.back() *= sz;
      stride.back() = st;
    } else {
      size.push_back(sz);
      stride.push_back(st);
    }
  }
  if (size.empty()) size = {1}, stride = {1};
  const int64_t total = shape_numel(src_shape);
  if (total == 0) return;
  const size_t m = size.size();
  const int64_t n = size[m - 1], s = stride[m - 1];
  // A batch of 2-D transposes: out block (A, n) from a contiguous src block (n, A).
  const bool transpose2d = m >= 2 && stride[m - 2] == 1 && s == size[m - 2];
  const size_t outer_dims = transpose2d ? m - 2 : m - 1;
  const int64_t block = transpose2d ? size[m - 2] * n : n;
  // Blocks are independent copies: split over the threads, each starting its odometer (idx, off)
  // at the digits of its first block.
  parallel_for(total / block, [&](int64_t b0, int64_t b1) {
    std::vector<int64_t> idx(outer_dims, 0);
    int64_t off = 0;
    for (size_t d = outer_dims, rest = size_t(b0); d-- > 0;) {
      idx[d] = int64_t(rest % size_t(size[d]));
      off += idx[d] * stride[d];
      rest /= size_t(size[d]);
    }
    for (int64_t o = b0 * block; o < b1 * block; o += block) {
      float* out = dst + o;
      if (transpose2d) {
        transpose_into(src + off, n, size[m - 2], out, accumulate);
      } else {
        using StridedMap = Eigen::Map<const Eigen::ArrayXf, 0, Eigen::InnerStride<>>;
        const StridedMap in(src + off, n, Eigen::InnerStride<>(s));
        if (accumulate) ArrayMap(out, n) += in;
        else ArrayMap(out, n) = in;
      }
      for (size_t d = outer_dims; d-- > 0;) {  // odometer over the outer output dims
        off += stride[d];
        if (++idx[d] < size[d]) break;
        off -= stride[d] * size[d];
        idx[d] = 0;
      }
    }
  }, detail::grain_items(block));
}

}  // namespace

// reshape:  y = x with a new shape of the same numel (one dimension may be -1: inferred)
//           dx += dy (same elements, same order)                             saves: nothing
// y is a view: it shares x's storage.
RAOQ_REGISTER_OP("reshape");
Tensor reshape(const Tensor& x, Shape shape) {
  check_defined("reshape", x);
  int64_t known = 1, infer = -1;
  for (size_t d = 0; d < shape.size(); ++d) {
    if (shape[d] == -1) {
      RAOQ_CHECK(infer < 0, "reshape: only one dimension may be -1, given ", shape_str(shape));
      infer = static_cast<int64_t>(d);
    } else {
      RAOQ_CHECK(shape[d] >= 0, "reshape: dimensions must be >= 0 or -1, given ", shape_str(shape));
      known *= shape[d];
    }
  }
  if (infer >= 0) {
    RAOQ_CHECK(known > 0 && x.numel() % known == 0, "reshape: cannot reshape ", shape_str(x.shape()), " (",
               x.numel(), " elements) to ", shape_str(shape));
    shape[size_t(infer)] = x.numel() / known;
  }
  RAOQ_CHECK(shape_numel(shape) == x.numel(), "reshape: cannot reshape ", shape_str(x.shape()), " (", x.numel(),
             " elements) to ", shape_str(shape), " (", shape_numel(shape), " elements)");
  Tensor y = x.view_as_shape(shape);
  y.set_name("");
  return autograd::record("reshape", {x}, y, {}, [](BackwardContext& ctx) {
    if (ctx.needs(0)) ctx.dinput_is_dout(0);  // dy's own storage, seen in x's shape: no copy
  });
}

// flatten:  (d0, ..., d_{s-1}, d_s, ..., d_last) -> (d0, ..., d_{s-1}, d_s * ... * d_last)
// A composite of reshape (no backward of its own, so not a registered op); a 0-d x gives [1].
Tensor flatten(const Tensor& x, int64_t start_dim) {
  check_defined("flatten", x);
  if (x.dim() == 0) return reshape(x, {1});
  const size_t s = size_t(normalize_axis("flatten", start_dim, x.shape()));
  Shape shape(x.shape().begin(), x.shape().begin() + static_cast<std::ptrdiff_t>(s));
  shape.push_back(prod(x.shape(), s, x.shape().size()));
  return reshape(x, shape);
}

// permute:  y[o_0, ..., o_{nd-1}] = x[i] with i[dims[j]] = o_j;  y.shape[j] = x.shape[dims[j]]
//           dx += permute(dy, inverse(dims))                                 saves: dims
RAOQ_REGISTER_OP("permute");
Tensor permute(const Tensor& x, const std::vector<int64_t>& dims) {
  check_defined("permute", x);
  const Shape& s = x.shape();
  const size_t nd = s.size();
  std::vector<int64_t> p(dims.size()), inverse(nd, -1);
  bool ok = dims.size() == nd;
  for (size_t j = 0; ok && j < nd; ++j) {
    const auto d = static_cast<int64_t>(nd);
    ok = dims[j] >= -d && dims[j] < d;
    if (!ok) break;
    p[j] = dims[j] < 0 ? dims[j] + d : dims[j];
    ok = inverse[size_t(p[j])] < 0;
    inverse[size_t(p[j])] = static_cast<int64_t>(j);
  }
  RAOQ_CHECK(ok, "permute: dims ", shape_str(dims), " are not a permutation of 0..", static_cast<int64_t>(nd) - 1,
             " for shape ", shape_str(s));
  Shape out(nd);
  for (size_t j = 0; j < nd; ++j) out[j] = s[size_t(p[j])];
  Tensor y = Tensor::empty(out);
  permute_copy(x.data(), s, p, y.data(), /*accumulate=*/false);
  return autograd::record("permute", {x}, y, {"dims"}, [out, inverse](BackwardContext& ctx) {
    if (ctx.needs(0)) permute_copy(ctx.dout_tensor().data(), out, inverse, ctx.dinput_uninit(0).data(), false);
  });
}

// transpose: swaps two axes; a composite of permute (not a registered op).
Tensor transpose(const Tensor& x, int64_t dim0, int64_t dim1) {
  check_defined("transpose", x);
  const int64_t a = normalize_axis("transpose", dim0, x.shape()), b = normalize_axis("transpose", dim1, x.shape());
  std::vector<int64_t> dims(x.shape().size());
  std::iota(dims.begin(), dims.end(), 0);
  std::swap(dims[size_t(a)], dims[size_t(b)]);
  return permute(x, dims);
}

// slice:    y[o, k, i] = x[o, start + k, i] for k in [0, end - start)
//           dx[o, start + k, i] += dy[o, k, i]                               saves: start
RAOQ_REGISTER_OP("slice");
Tensor slice(const Tensor& x, int64_t axis, int64_t start, int64_t end) {
  check_defined("slice", x);
  const Shape& s = x.shape();
  const size_t a = size_t(normalize_axis("slice", axis, s));
  const int64_t n = s[a];
  RAOQ_CHECK(0 <= start && start <= end && end <= n, "slice: range [", start, ", ", end, ") is not within [0, ", n,
             "] along axis ", axis, " of shape ", shape_str(s));
  const int64_t outer = prod(s, 0, a), inner = prod(s, a + 1, s.size()), len = end - start;
  Shape out = s;
  out[a] = len;
  Tensor y = Tensor::empty(out);
  const int64_t grain = detail::grain_items(len * inner);
  parallel_for(outer, [&](int64_t o0, int64_t o1) {
    for (int64_t o = o0; o < o1; ++o)
      ArrayMap(y.data() + o * len * inner, len * inner) = ConstArrayMap(x.data() + (o * n + start) * inner, len * inner);
  }, grain);
  return autograd::record("slice", {x}, y, {"start"}, [outer, inner, n, start, end, len, grain](BackwardContext& ctx) {
    if (!ctx.needs(0)) return;
    // A fused projection's slices (q, k, v of one qkv) all feed one gradient: the first writes it
    // whole, the others add their range into it.
    const auto dx = ctx.dinput_sum(0);
    const float* dy = ctx.dout_tensor().data();
    const int64_t row_grain = dx.fresh ? detail::grain_items(n * inner) : grain;  // a fresh row is written whole
    parallel_for(outer, [&](int64_t o0, int64_t o1) {
      for (int64_t o = o0; o < o1; ++o) {
        float* row = dx.data + o * n * inner;
        dx.put(ArrayMap(row + start * inner, len * inner), ConstArrayMap(dy + o * len * inner, len * inner));
        if (!dx.fresh) continue;
        std::fill(row, row + start * inner, 0.0f);
        std::fill(row + end * inner, row + n * inner, 0.0f);
      }
    }, row_grain);
  });
}

// concat:   y = [x_0, x_1, ...] along axis (all other dimensions equal)
//           dx_t += the slice of dy that x_t filled                          saves: sizes
RAOQ_REGISTER_OP("concat");
Tensor concat(const std::vector<Tensor>& xs, int64_t axis) {
  RAOQ_CHECK(!xs.empty(), "concat: needs at least one tensor");
  for (size_t t = 0; t < xs.size(); ++t) RAOQ_CHECK(xs[t].defined(), "concat: input ", t, " is an undefined tensor");
  const Shape& s0 = xs[0].shape();
  const size_t a = size_t(normalize_axis("concat", axis, s0));
  std::vector<int64_t> sizes;  // each input's extent along axis
  Shape out = s0;
  out[a] = 0;
  for (size_t t = 0; t < xs.size(); ++t) {
    const Shape& st = xs[t].shape();
    bool match = st.size() == s0.size();
    for (size_t d = 0; match && d < st.size(); ++d) match = d == a || st[d] == s0[d];
    RAOQ_CHECK(match, "concat: input ", t, " has shape ", shape_str(st), " but input 0 has ", shape_str(s0),
               "; all dimensions except axis ", axis, " must be equal");
    sizes.push_back(st[a]);
    out[a] += st[a];
  }
  const int64_t outer = prod(s0, 0, a), inner = prod(s0, a + 1, s0.size()), total = out[a];
  Tensor y = Tensor::empty(out);
  float* dst = y.data();
  for (int64_t o = 0; o < outer; ++o) {
    for (size_t t = 0; t < xs.size(); ++t) {
      const int64_t len = sizes[t] * inner;  // x_t[o] is one contiguous block of y[o]
      ArrayMap(dst, len) = ConstArrayMap(xs[t].data() + o * len, len);
      dst += len;
    }
  }
  return autograd::record("concat", xs, y, {"sizes"}, [sizes, outer, inner, total](BackwardContext& ctx) {
    const float* dy = ctx.dout_tensor().data();
    int64_t first = 0;  // where x_t starts along axis
    for (size_t t = 0; t < sizes.size(); first += sizes[t], ++t) {
      if (!ctx.needs(t)) continue;
      float* dx = ctx.dinput_uninit(t).data();  // every block written below
      const int64_t len = sizes[t] * inner;
      for (int64_t o = 0; o < outer; ++o) ArrayMap(dx + o * len, len) = ConstArrayMap(dy + (o * total + first) * inner, len);
    }
  });
}

}  // namespace raoq::ops
