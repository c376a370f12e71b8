// core/ops/kernels_winograd.cpp — Winograd F(2x2, 3x3) convolution kernels (see the header for
// the algorithm and its adjoint).
//
// Layout. Per image and group the kernels work channels-last: x_g (C, H*W) is transposed into
// xt (H*W, C), so a 4x4 tile of 16 consecutive channels is 16 contiguous vectors and every
// transform is vectorised over channels. The transformed tiles of a block of images are kept
// per tile position xi as a (T, C) matrix, the transformed kernel as U[xi] (C, K), so each xi
// is one GEMM M[xi] (T, K) = V[xi] (T, C) U[xi] (C, K); the 2x2 outputs come back channels-last
// in yt (Ho*Wo, K) and are transposed into y.
// Legend: C = C_in/groups, K = C_out/groups, tiles th x tw = t1 per image (th = ceil(Ho/2),
//   tw = ceil(Wo/2)), T = tiles per block of images; xi = 4*r + s is a position in a 4x4 tile.
//   U, dU: 16 x (C, K)   V, dV: 16 x (T, C)   M, dM: 16 x (T, K)
#include "core/ops/detail/kernels_winograd.h"

#include <algorithm>
#include <vector>

#include <Eigen/Core>

#include "core/ops/detail/gemm.h"
#include "core/ops/detail/kernels.h"
#include "core/parallel.h"

namespace raoq::ops::detail {
namespace {
using MatrixRM = Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
using ConstMat = Eigen::Map<const MatrixRM>;
}  // namespace

namespace winograd {

Layout layout_of(const ConvGeometry& g) {
  Layout v{g.cg_in(), g.cg_out(), g.h, g.w, g.ho, g.wo, g.padding, (g.ho + 1) / 2, (g.wo + 1) / 2, 0, 1, 0};
  v.t1 = v.th * v.tw;
  // Keep a block's V and M (16 * T * (C + K) floats) within about 1 MiB, so they stay in L2
  // between the transforms and the GEMMs, but give the GEMMs at least ~64 rows.
  const int64_t target = std::max<int64_t>(64, (1 << 18) / (16 * (v.c + v.k)));
  v.images_per_block = std::clamp<int64_t>(target / v.t1, 1, g.n);
  v.t = v.images_per_block * v.t1;
  return v;
}

// U[xi][c][k] = (G g G^T)[xi] for g = w_g[k][c] (3x3); G = [1 0 0; .5 .5 .5; .5 -.5 .5; 0 0 1].
void kernel_transform(const float* w_g, const Layout& v, float* U) {
  for (int64_t c = 0; c < v.c; ++c)  // k innermost: the 16 output streams are written contiguously
    for (int64_t k = 0; k < v.k; ++k) {
      const float* g = w_g + (k * v.c + c) * 9;
      float t[4][3];  // G g
      for (int j = 0; j < 3; ++j) {
        t[0][j] = g[j];
        t[1][j] = 0.5f * (g[j] + g[3 + j] + g[6 + j]);
        t[2][j] = 0.5f * (g[j] - g[3 + j] + g[6 + j]);
        t[3][j] = g[6 + j];
      }
      for (int r = 0; r < 4; ++r) {  // (G g) G^T
        const float u[4] = {t[r][0], 0.5f * (t[r][0] + t[r][1] + t[r][2]), 0.5f * (t[r][0] - t[r][1] + t[r][2]), t[r][2]};
        for (int s = 0; s < 4; ++s) U[((r * 4 + s) * v.c + c) * v.k + k] = u[s];
      }
    }
}

namespace {
// dw_g[k][c] += G^T dU G (3x3) for dU = dU[xi][c][k] (the adjoint of kernel_transform).
void kernel_transform_adjoint(const float* dU, const Layout& v, float* dw_g) {
  for (int64_t c = 0; c < v.c; ++c)  // k innermost: the 16 input streams are read contiguously
    for (int64_t k = 0; k < v.k; ++k) {
      float u[16];
      for (int xi = 0; xi < 16; ++xi) u[xi] = dU[(xi * v.c + c) * v.k + k];
      float t[3][4];  // G^T dU
      for (int s = 0; s < 4; ++s) {
        t[0][s] = u[s] + 0.5f * (u[4 + s] + u[8 + s]);
        t[1][s] = 0.5f * (u[4 + s] - u[8 + s]);
        t[2][s] = 0.5f * (u[4 + s] + u[8 + s]) + u[12 + s];
      }
      float* dg = dw_g + (k * v.c + c) * 9;
      for (int r = 0; r < 3; ++r) {  // (G^T dU) G
        dg[r * 3 + 0] += t[r][0] + 0.5f * (t[r][1] + t[r][2]);
        dg[r * 3 + 1] += 0.5f * (t[r][1] - t[r][2]);
        dg[r * 3 + 2] += 0.5f * (t[r][1] + t[r][2]) + t[r][3];
      }
    }
}

// The 16 channels-last vectors of the 4x4 input tile (i, j): (ih, iw) = (2i - p + r, 2j - p + s);
// positions outside the image give `outside` (zeros to read, junk to write).
template <typename P>
inline __attribute__((always_inline)) void tile_pointers(P* base, P* outside, int64_t stride, const Layout& v, int64_t i,
                                                         int64_t j, P* out[16]) {
  const int64_t ih0 = 2 * i - v.p, iw0 = 2 * j - v.p;
  if (ih0 >= 0 && ih0 + 4 <= v.h && iw0 >= 0 && iw0 + 4 <= v.w) {  // an interior tile: no tests
    P* p = base + (ih0 * v.w + iw0) * stride;
    for (int r = 0; r < 4; ++r)
      for (int s = 0; s < 4; ++s) out[r * 4 + s] = p + (r * v.w + s) * stride;
    return;
  }
  for (int r = 0; r < 4; ++r)
    for (int s = 0; s < 4; ++s) {
      const int64_t ih = 2 * i - v.p + r, iw = 2 * j - v.p + s;
      const bool inside = ih >= 0 && ih < v.h && iw >= 0 && iw < v.w;
      out[r * 4 + s] = inside ? base + (ih * v.w + iw) * stride : outside;
    }
}

}  // namespace

// V[xi][t0 + tile][:] = (B^T d B)[xi] for every tile of one image; xt: (H*W, C).
// B^T = [1 0 -1 0; 0 1 1 0; 0 -1 1 0; 0 1 0 -1].
void input_transform(const float* xt, const float* zeros, const Layout& v, int64_t t0, float* V) {
  for (int64_t i = 0; i < v.th; ++i)
    for (int64_t j = 0; j < v.tw; ++j) {
      const float* d[16];
      tile_pointers(xt, zeros, v.c, v, i, j, d);
      float* o[16];
      for (int xi = 0; xi < 16; ++xi) o[xi] = V + (xi * v.t + t0 + i * v.tw + j) * v.c;
#pragma omp simd
      for (int64_t c = 0; c < v.c; ++c) {
        float b[16];
        #pragma GCC unroll 4
        for (int s = 0; s < 4; ++s) {  // B^T d
          b[s] = d[s][c] - d[8 + s][c];
          b[4 + s] = d[4 + s][c] + d[8 + s][c];
          b[8 + s] = d[8 + s][c] - d[4 + s][c];
          b[12 + s] = d[4 + s][c] - d[12 + s][c];
        }
        #pragma GCC unroll 4
        for (int r = 0; r < 4; ++r) {  // (B^T d) B
          o[r * 4 + 0][c] = b[r * 4 + 0] - b[r * 4 + 2];
          o[r * 4 + 1][c] = b[r * 4 + 1] + b[r * 4 + 2];
          o[r * 4 + 2][c] = b[r * 4 + 2] - b[r * 4 + 1];
          o[r * 4 + 3][c] = b[r * 4 + 1] - b[r * 4 + 3];
        }
      }
    }
}

namespace {
// dxt[(ih, iw)][:] += (B dV B^T)[r][s] for every tile of one image (the adjoint of
// input_transform; tiles overlap, so they are added one after the other).
void input_transform_adjoint(const float* dV, float* junk, const Layout& v, int64_t t0, float* dxt) {
  for (int64_t i = 0; i < v.th; ++i)
    for (int64_t j = 0; j < v.tw; ++j) {
      float* o[16];
      tile_pointers(dxt, junk, v.c, v, i, j, o);
      const float* m[16];
      for (int xi = 0; xi < 16; ++xi) m[xi] = dV + (xi * v.t + t0 + i * v.tw + j) * v.c;
#pragma omp simd
      for (int64_t c = 0; c < v.c; ++c) {
        float b[16];
        #pragma GCC unroll 4
        for (int s = 0; s < 4; ++s) {  // B dV, B = [1 0 0 0; 0 1 -1 1; -1 1 1 0; 0 0 0 -1]
          b[s] = m[s][c];
          b[4 + s] = m[4 + s][c] - m[8 + s][c] + m[12 + s][c];
          b[8 + s] = m[4 + s][c] + m[8 + s][c] - m[s][c];
          b[12 + s] = -m[12 + s][c];
        }
        #pragma GCC unroll 4
        for (int r = 0; r < 4; ++r) {  // (B dV) B^T
          o[r * 4 + 0][c] += b[r * 4 + 0];
          o[r * 4 + 1][c] += b[r * 4 + 1] - b[r * 4 + 2] + b[r * 4 + 3];
          o[r * 4 + 2][c] += b[r * 4 + 1] + b[r * 4 + 2] - b[r * 4 + 0];
          o[r * 4 + 3][c] += -b[r * 4 + 3];
        }
      }
    }
}

// The channels-last vectors of the 2x2 output tile (i, j); positions past Ho, Wo give `outside`.
template <typename P>
inline __attribute__((always_inline)) void out_pointers(P* base, P* outside, const Layout& v, int64_t i, int64_t j,
                                                        P* out[4]) {
  if (2 * i + 2 <= v.ho && 2 * j + 2 <= v.wo) {  // a whole output tile
    P* p = base + (2 * i * v.wo + 2 * j) * v.k;
    out[0] = p, out[1] = p + v.k, out[2] = p + v.wo * v.k, out[3] = p + (v.wo + 1) * v.k;
    return;
  }
  for (int a = 0; a < 2; ++a)
    for (int b = 0; b < 2; ++b) {
      const int64_t oh = 2 * i + a, ow = 2 * j + b;
      out[a * 2 + b] = (oh < v.ho && ow < v.wo) ? base + (oh * v.wo + ow) * v.k : outside;
    }
}

}  // namespace

// yt[(oh, ow)][:] = (A^T m A) + bias for every tile of one image, m[xi] = M[xi][t0 + tile][:].
// A^T = [1 1 1 0; 0 1 -1 -1].
void output_transform(const float* M, const float* bias, float* junk, const Layout& v, int64_t t0, float* yt) {
  for (int64_t i = 0; i < v.th; ++i)
    for (int64_t j = 0; j < v.tw; ++j) {
      const float* m[16];
      for (int xi = 0; xi < 16; ++xi) m[xi] = M + (xi * v.t + t0 + i * v.tw + j) * v.k;
      float* o[4];
      out_pointers(yt, junk, v, i, j, o);
#pragma omp simd
      for (int64_t k = 0; k < v.k; ++k) {
        float r0[4], r1[4];  // A^T m
        #pragma GCC unroll 4
        for (int s = 0; s < 4; ++s) {
          r0[s] = m[s][k] + m[4 + s][k] + m[8 + s][k];
          r1[s] = m[4 + s][k] - m[8 + s][k] - m[12 + s][k];
        }
        o[0][k] = r0[0] + r0[1] + r0[2] + bias[k];  // (A^T m) A
        o[1][k] = r0[1] - r0[2] - r0[3] + bias[k];
        o[2][k] = r1[0] + r1[1] + r1[2] + bias[k];
        o[3][k] = r1[1] - r1[2] - r1[3] + bias[k];
      }
    }
}

namespace {
// dM[xi][t0 + tile][:] = (A dY A^T)[xi] for every tile of one image; dyt: (Ho*Wo, K).
void output_transform_adjoint(const float* dyt, const float* zeros, const Layout& v, int64_t t0, float* dM) {
  for (int64_t i = 0; i < v.th; ++i)
    for (int64_t j = 0; j < v.tw; ++j) {
      const float* e[4];
      out_pointers(dyt, zeros, v, i, j, e);
      float* o[16];
      for (int xi = 0; xi < 16; ++xi) o[xi] = dM + (xi * v.t + t0 + i * v.tw + j) * v.k;
#pragma omp simd
      for (int64_t k = 0; k < v.k; ++k) {
        // A dY (rows of dY: e0 = (e[0], e[1]), e1 = (e[2], e[3])), A = [1 0; 1 1; 1 -1; 0 -1]
        const float t[4][2] = {{e[0][k], e[1][k]},
                               {e[0][k] + e[2][k], e[1][k] + e[3][k]},
                               {e[0][k] - e[2][k], e[1][k] - e[3][k]},
                               {-e[2][k], -e[3][k]}};
        #pragma GCC unroll 4
        for (int r = 0; r < 4; ++r) {  // (A dY) A^T
          o[r * 4 + 0][k] = t[r][0];
          o[r * 4 + 1][k] = t[r][0] + t[r][1];
          o[r * 4 + 2][k] = t[r][0] - t[r][1];
          o[r * 4 + 3][k] = -t[r][1];
        }
      }
    }
}

}  // namespace
}  // namespace winograd

using namespace winograd;

namespace {
std::vector<float> transformed_kernels(const float* w, const ConvGeometry& g, const Layout& v) {
  std::vector<float> U(static_cast<size_t>(g.groups * 16 * v.c * v.k));
  for (int64_t grp = 0; grp < g.groups; ++grp) kernel_transform(w + grp * v.k * v.c * 9, v, U.data() + grp * 16 * v.c * v.k);
  return U;
}

// UT[grp][xi] = U[grp][xi]^T, (K, C): dV's products read it row by row.
std::vector<float> transposed_kernels(const std::vector<float>& U, const ConvGeometry& g, const Layout& v) {
  std::vector<float> UT(U.size());
  for (int64_t m = 0; m < g.groups * 16; ++m)
    for (int64_t c = 0; c < v.c; ++c)
      for (int64_t k = 0; k < v.k; ++k) UT[static_cast<size_t>((m * v.k + k) * v.c + c)] = U[static_cast<size_t>((m * v.c + c) * v.k + k)];
  return UT;
}
}  // namespace

bool winograd_applies(const ConvGeometry& g) {
  return g.kh == 3 && g.kw == 3 && g.stride == 1 && g.dilation == 1 && g.cg_in() >= 16 && g.cg_out() >= 16;
}

void winograd_forward(const float* x, const float* w, const float* bias, const ConvGeometry& g, float* y) {
  const Layout v = layout_of(g);
  const std::vector<float> U = transformed_kernels(w, g, v);
  const std::vector<float> zeros(static_cast<size_t>(std::max(v.c, v.k)), 0.0f);
  const int64_t blocks = (g.n + v.images_per_block - 1) / v.images_per_block, hw = v.h * v.w, out_hw = v.ho * v.wo;
  parallel_for(blocks, [&](int64_t b0, int64_t b1) {
    float* xt = thread_scratch(0, hw * v.c);
    float* V = thread_scratch(1, 16 * v.t * v.c);
    float* M = thread_scratch(2, 16 * v.t * v.k);
    float* yt = thread_scratch(3, out_hw * v.k);
    std::vector<float> junk(static_cast<size_t>(v.k));
    for (int64_t blk = b0; blk < b1; ++blk) {
      const int64_t n0 = blk * v.images_per_block, nb = std::min(v.images_per_block, g.n - n0), rows = nb * v.t1;
      for (int64_t grp = 0; grp < g.groups; ++grp) {
        for (int64_t b = 0; b < nb; ++b) {
          transpose(x + ((n0 + b) * g.c_in + grp * v.c) * hw, v.c, hw, xt);
          input_transform(xt, zeros.data(), v, b * v.t1, V);
        }
        for (int xi = 0; xi < 16; ++xi)  // M[xi] (rows, K) = V[xi] (rows, C) U[xi] (C, K)
          gemm_serial(false, false, rows, v.k, v.c, V + xi * v.t * v.c, v.c, U.data() + (grp * 16 + xi) * v.c * v.k, v.k,
                        M + xi * v.t * v.k, v.k, false);
        for (int64_t b = 0; b < nb; ++b) {
          output_transform(M, bias ? bias + grp * v.k : zeros.data(), junk.data(), v, b * v.t1, yt);
          transpose(yt, out_hw, v.k, y + ((n0 + b) * g.c_out + grp * v.k) * out_hw);
        }
      }
    }
  }, grain_items(2 * v.images_per_block * v.c * v.k * 9 * out_hw));
}

void winograd_backward(const float* x, const float* w, const float* dy, const ConvGeometry& g, float* dx, float* dw,
                       float* dbias) {
  const Layout v = layout_of(g);
  const std::vector<float> UT = dx ? transposed_kernels(transformed_kernels(w, g, v), g, v) : std::vector<float>();
  const std::vector<float> zeros(static_cast<size_t>(std::max(v.c, v.k)), 0.0f);
  const int64_t hw = v.h * v.w, out_hw = v.ho * v.wo, u_size = 16 * v.c * v.k;
  // dU is reduced per chunk in chunk order and turned into dw at the end (the transform is linear).
  std::vector<float> dU(dw ? static_cast<size_t>(g.groups * u_size) : 0, 0.0f);
  const int64_t chunks = chunk_count(g.n, 4 * g.c_out * v.c * 9 * out_hw, num_threads());
  ChunkPartials du_part(dw ? dU.data() : nullptr, g.groups * u_size, chunks), db_part(dbias, g.c_out, chunks);
  for_chunks(g.n, chunks, [&](int64_t chunk, int64_t c0, int64_t c1) {
    float* duc = du_part.of(chunk);
    float* dbc = db_part.of(chunk);
    float* xt = thread_scratch(0, std::max(hw * v.c, out_hw * v.k));  // x or dy channels-last, then dx
    float* V = thread_scratch(1, 16 * v.t * v.c);                         // V, then dV
    float* dM = thread_scratch(2, 16 * v.t * v.k);
    std::vector<float> junk(static_cast<size_t>(v.c));
    for (int64_t n0 = c0; n0 < c1; n0 += v.images_per_block) {
      const int64_t nb = std::min(v.images_per_block, c1 - n0), rows = nb * v.t1;
      for (int64_t grp = 0; grp < g.groups; ++grp) {
        for (int64_t b = 0; b < nb; ++b) {
          const float* dy_g = dy + ((n0 + b) * g.c_out + grp * v.k) * out_hw;
          if (dbc) Eigen::Map<Eigen::VectorXf>(dbc + grp * v.k, v.k) += ConstMat(dy_g, v.k, out_hw).rowwise().sum();
          transpose(dy_g, v.k, out_hw, xt);
          output_transform_adjoint(xt, zeros.data(), v, b * v.t1, dM);
        }
        if (duc) {
          for (int64_t b = 0; b < nb; ++b) {
            transpose(x + ((n0 + b) * g.c_in + grp * v.c) * hw, v.c, hw, xt);
            input_transform(xt, zeros.data(), v, b * v.t1, V);
          }
          for (int xi = 0; xi < 16; ++xi)  // dU[xi] (C, K) += V[xi]^T (C, rows) dM[xi] (rows, K)
            gemm_serial(true, false, v.c, v.k, rows, V + xi * v.t * v.c, v.c, dM + xi * v.t * v.k, v.k,
                          duc + grp * u_size + xi * v.c * v.k, v.k, true);
        }
        if (!dx) continue;
        for (int xi = 0; xi < 16; ++xi)  // dV[xi] (rows, C) = dM[xi] (rows, K) U[xi]^T (K, C)
          gemm_serial(false, false, rows, v.c, v.k, dM + xi * v.t * v.k, v.k, UT.data() + (grp * 16 + xi) * v.k * v.c, v.c,
                        V + xi * v.t * v.c, v.c, false);
        for (int64_t b = 0; b < nb; ++b) {
          std::fill_n(xt, hw * v.c, 0.0f);
          input_transform_adjoint(V, junk.data(), v, b * v.t1, xt);
          transpose(xt, hw, v.c, dx + ((n0 + b) * g.c_in + grp * v.c) * hw);
        }
      }
    }
  });
  du_part.reduce();
  db_part.reduce();
  if (dw)
    for (int64_t grp = 0; grp < g.groups; ++grp) kernel_transform_adjoint(dU.data() + grp * u_size, v, dw + grp * v.k * v.c * 9);
}

}  // namespace raoq::ops::detail
