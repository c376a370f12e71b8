// imc/array_winograd.cpp — the Winograd tile sums of detail/array_winograd.h: V once per block of images
// for all channels; per row tile t of the array, the GEMMs read the columns of V of the channels
// the row tile touches, against U_t, the transform of w restricted to those channels with the taps
// outside the row tile zeroed.
// Legend (as core/ops/kernels_winograd.cpp): C input channels, N (K there) output channels, xi a
// position of a 4x4 Winograd tile, T Winograd tiles per block of images (v.t), t a row tile, C_t
// its channels;  U_t: 16 x (C_t, N)  V: 16 x (T, C)  M: 16 x (T, N)  z: (N, Ho*Wo)
#include "imc/detail/array_winograd.h"

#include <algorithm>
#include <vector>

#include <Eigen/Core>

#include "core/ops/detail/kernels.h"
#include "core/ops/detail/kernels_winograd.h"
#include "core/parallel.h"
#include "imc/detail/gemm_int8.h"

namespace raoq::imc::detail {

namespace {
using MatrixRM = Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
using ConstMat = Eigen::Map<const MatrixRM>;
using Mat = Eigen::Map<MatrixRM>;
using ops::detail::grain_items;
using ops::detail::thread_scratch;
using ops::detail::transpose_from;
using ops::detail::transpose_to;
using ops::detail::winograd::Layout;

struct Range {
  int64_t c0, c1;  // channels [c0, c1) the tile touches
};
Range range_of(const ConvGeometry& g, int64_t rows, int64_t t) {
  const int64_t r0 = t * rows, r1 = std::min(g.k(), r0 + rows);
  return {r0 / 9, (r1 - 1) / 9 + 1};
}

// Per tile t: U_t, the transformed kernels of its channels with the other tiles' taps zeroed, and
// with int8 the same times 4 (the kernel transform's quarters made whole) packed for gemm_u8s8.
struct RangeKernels {
  std::vector<std::vector<float>> U;          // [t]: 16 x (C_t, N)
  std::vector<std::vector<PackedS8>> packed;  // [t][xi], int8 only
};
RangeKernels range_kernels(const float* w, const ConvGeometry& g, const Layout& v, int64_t rows, bool int8) {
  const int64_t ranges = (g.k() + rows - 1) / rows;
  RangeKernels rk;
  rk.packed.resize(int8 ? static_cast<size_t>(ranges) : 0);
  rk.U.resize(static_cast<size_t>(ranges));
  for (int64_t t = 0; t < ranges; ++t) {
    const Range r = range_of(g, rows, t);
    Layout vt = v;
    vt.c = r.c1 - r.c0;
    std::vector<float> wt(static_cast<size_t>(v.k * vt.c * 9));  // w[:, c0:c1] with other tiles' taps zeroed
    for (int64_t k = 0; k < v.k; ++k)
      for (int64_t c = r.c0; c < r.c1; ++c)
        for (int64_t tap = 0; tap < 9; ++tap) {
          const int64_t row = c * 9 + tap;
          const bool inside = row >= t * rows && row < (t + 1) * rows;
          wt[static_cast<size_t>((k * vt.c + c - r.c0) * 9 + tap)] = inside ? w[(k * v.c + c) * 9 + tap] : 0.0f;
        }
    std::vector<float>& U = rk.U[static_cast<size_t>(t)];
    U.resize(static_cast<size_t>(16 * vt.c * v.k));
    ops::detail::winograd::kernel_transform(wt.data(), vt, U.data());
    for (int xi = 0; int8 && xi < 16; ++xi)
      rk.packed[static_cast<size_t>(t)].push_back(pack_s8(U.data() + xi * vt.c * v.k, vt.c, v.k, 4.0f));
  }
  return rk;
}
}  // namespace

double winograd_range_bound(const ConvGeometry& g, int64_t rows, double max_abs_w, double max_abs_x) {
  int64_t widest = 0;
  for (int64_t t = 0; t * rows < g.k(); ++t) {
    const Range r = range_of(g, rows, t);
    widest = std::max(widest, r.c1 - r.c0);
  }
  return 4.0 * 81.0 * double(widest) * max_abs_w * max_abs_x;
}

bool winograd_int8_applies(const ConvGeometry& g, const IntegerOperands& integers) {
  return gemm_u8s8_vectorised() && 4.0 * integers.max_abs_x <= 127.0 && 9.0 * integers.max_abs_w <= 127.0 &&
         g.cg_out() % 16 == 0;
}

void winograd_range_sums(const float* x, const float* w, const ConvGeometry& g, int64_t rows, const RangeSink& consume,
                         const IntegerOperands* integers) {
  const Layout v = ops::detail::winograd::layout_of(g);
  const bool int8 = integers && winograd_int8_applies(g, *integers);
  const RangeKernels rk = range_kernels(w, g, v, rows, int8);
  const int64_t ranges = (g.k() + rows - 1) / rows, hw = v.h * v.w, out_hw = v.ho * v.wo;
  const int64_t ldv = v.c + 4;  // byte rows of V: the last group of four may read past C
  const std::vector<float> zeros(static_cast<size_t>(v.k), 0.0f);
  const std::vector<int64_t> at_in = ops::detail::winograd::input_offsets(v), at_out = ops::detail::winograd::output_offsets(v);
  const int64_t blocks = (g.n + v.images_per_block - 1) / v.images_per_block;
  using Strided = Eigen::Map<const MatrixRM, 0, Eigen::OuterStride<>>;
  parallel_for(blocks, [&](int64_t b0, int64_t b1) {
    float* xp = thread_scratch(0, v.hp * v.wp * v.c);
    float* V = thread_scratch(1, 16 * v.t * v.c);
    float* M = thread_scratch(2, 16 * v.t * v.k);
    float* yp = thread_scratch(3, v.hq * v.wq * v.k);
    std::vector<float> z(static_cast<size_t>(v.k * out_hw));
    std::fill_n(xp, v.hp * v.wp * v.c, 0.0f);  // the margins; every image overwrites the rest
    std::vector<uint8_t> v8(int8 ? static_cast<size_t>(16 * v.t * ldv) : 0, uint8_t(128));  // V + 128
    for (int64_t blk = b0; blk < b1; ++blk) {
      const int64_t n0 = blk * v.images_per_block, nb = std::min(v.images_per_block, g.n - n0), n_rows = nb * v.t1;
      for (int64_t b = 0; b < nb; ++b) {
        transpose_to(x + (n0 + b) * v.c * hw, v.c, hw, at_in.data(), xp);
        ops::detail::winograd::input_transform(xp, v, b * v.t1, V);
      }
      for (int xi = 0; int8 && xi < 16; ++xi)  // whole numbers in [-128, 127] (winograd_int8_applies)
        for (int64_t row = 0; row < n_rows; ++row) {
          const float* src = V + (xi * v.t + row) * v.c;
          uint8_t* dst = v8.data() + (xi * v.t + row) * ldv;
#pragma omp simd
          for (int64_t c = 0; c < v.c; ++c) dst[c] = static_cast<uint8_t>(static_cast<int32_t>(src[c]) + 128);
        }
      for (int64_t t = 0; t < ranges; ++t) {
        const Range r = range_of(g, rows, t);
        const int64_t ct = r.c1 - r.c0;
        for (int xi = 0; xi < 16; ++xi) {
          if (int8) {
            gemm_u8s8(v8.data() + xi * v.t * ldv + r.c0, ldv, n_rows, rk.packed[static_cast<size_t>(t)][static_cast<size_t>(xi)],
                      0.25f, M + xi * v.t * v.k, v.k);
            continue;
          }
          Mat(M + xi * v.t * v.k, n_rows, v.k).noalias() =
              Strided(V + xi * v.t * v.c + r.c0, n_rows, ct, Eigen::OuterStride<>(v.c)) *
              ConstMat(rk.U[static_cast<size_t>(t)].data() + xi * ct * v.k, ct, v.k);
        }
        for (int64_t b = 0; b < nb; ++b) {
          ops::detail::winograd::output_transform(M, zeros.data(), v, b * v.t1, yp);
          transpose_from(yp, at_out.data(), v.k, out_hw, z.data());
          consume(n0 + b, t, z.data());
        }
      }
    }
  }, grain_items(2 * v.images_per_block * v.c * v.k * 9 * out_hw));
}

}  // namespace raoq::imc::detail
