// core/ops/broadcast.cpp — numpy broadcasting plans and the reduction over stretched dimensions.
#include "core/ops/detail/broadcast.h"

#include "core/error.h"

namespace raoq::ops::detail {

namespace {
// The size of aligned dimension d (of an nd-dimensional output) in `s`: missing leading dims are 1.
int64_t aligned_size(const Shape& s, size_t nd, size_t d) {
  const size_t lead = nd - s.size();
  return d < lead ? 1 : s[d - lead];
}
}  // namespace

Shape broadcast_shape(const char* op, const Shape& a, const Shape& b) {
  const size_t nd = std::max(a.size(), b.size());
  Shape out(nd);
  for (size_t d = 0; d < nd; ++d) {
    const int64_t sa = aligned_size(a, nd, d), sb = aligned_size(b, nd, d);
    RAOQ_CHECK(sa == sb || sa == 1 || sb == 1, op, ": shapes ", shape_str(a), " and ", shape_str(b),
               " do not broadcast (dimension ", static_cast<int64_t>(d) - static_cast<int64_t>(nd), ": ", sa,
               " vs ", sb, "; trailing-aligned dimensions must be equal or 1)");
    out[d] = sa == 1 ? sb : sa;
  }
  return out;
}

BroadcastPlan broadcast_plan(const Shape& a, const Shape& b) {
  BroadcastPlan p;
  const size_t nd = std::max(a.size(), b.size());
  p.out_shape.resize(nd);
  std::vector<int64_t> sa(nd), sb(nd);  // row-major strides of a and b over the aligned dims
  int64_t stride_a = 1, stride_b = 1;
  for (size_t d = nd; d-- > 0;) {
    const int64_t da = aligned_size(a, nd, d), db = aligned_size(b, nd, d);
    p.out_shape[d] = da == 1 ? db : da;
    sa[d] = da == 1 ? 0 : stride_a;
    sb[d] = db == 1 ? 0 : stride_b;
    stride_a *= da;
    stride_b *= db;
  }
  p.numel = shape_numel(p.out_shape);
  for (size_t d = 0; d < nd; ++d) {
    if (p.out_shape[d] == 1) continue;  // a size-1 output dimension changes no offset
    const bool same_pattern =
        !p.dims.empty() && (sa[d] == 0) == (p.a_stride.back() == 0) && (sb[d] == 0) == (p.b_stride.back() == 0);
    if (same_pattern) {  // contiguous with the previous merged dim in both operands: merge
      p.dims.back() *= p.out_shape[d];
      p.a_stride.back() = sa[d];
      p.b_stride.back() = sb[d];
    } else {
      p.dims.push_back(p.out_shape[d]);
      p.a_stride.push_back(sa[d]);
      p.b_stride.push_back(sb[d]);
    }
  }
  if (p.dims.empty()) {  // a one-element output: one run of length 1 reading element 0 of each
    p.dims = {1};
    p.a_stride = {1};
    p.b_stride = {1};
  }
  return p;
}

void broadcast_reduce(const BroadcastPlan& p, const float* g, float* d, float alpha) {
  const int64_t n = p.run();
  if (p.a_contiguous()) {
    for_each_run(p, 0, p.runs(), [&](int64_t o, int64_t ia, int64_t) {
      Eigen::Map<Eigen::ArrayXf>(d + ia, n) += alpha * ConstArrayMap(g + o, n);
    });
  } else {
    for_each_run(p, 0, p.runs(), [&](int64_t o, int64_t ia, int64_t) { d[ia] += alpha * ConstArrayMap(g + o, n).sum(); });
  }
}

}  // namespace raoq::ops::detail
