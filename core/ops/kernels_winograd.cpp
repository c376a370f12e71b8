// core/ops/kernels_winograd.cpp — Winograd F(2x2, 3x3) convolution kernels (see the header for
// the algorithm and its adjoint).
//
// Layout. Per image and group the kernels work channels-last: x_g (C, H*W) is transposed into a
// zero-margined grid xp (hp, wp, C) with the image at (p, p), so a 4x4 tile of 16 consecutive
// channels is 16 contiguous vectors, every tile lies inside the grid (no edge tests), and every
// transform is vectorised over channels. The transformed tiles of a block of images are kept
// per tile position xi as a (T, C) matrix, the transformed kernel as U[xi] (C, K), so each xi
// is one GEMM M[xi] (T, K) = V[xi] (T, C) U[xi] (C, K); the 2x2 outputs come back channels-last
// in a grid yp (2 th, 2 tw, K) and the first Ho x Wo of it is transposed into y.
// Legend: C = C_in/groups, K = C_out/groups, tiles th x tw = t1 per image (th = ceil(Ho/2),
//   tw = ceil(Wo/2)), T = tiles per block of images; xi = 4*r + s is a position in a 4x4 tile.
//   U, dU: 16 x (C, K)   V, dV: 16 x (T, C)   M, dM: 16 x (T, K)
#include "core/ops/detail/kernels_winograd.h"

#include <algorithm>
#include <cstring>
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
  Layout v{g.cg_in(), g.cg_out(), g.h, g.w, g.ho, g.wo, g.padding, (g.ho + 1) / 2, (g.wo + 1) / 2, 0, 1, 0, 0, 0, 0, 0};
  v.t1 = v.th * v.tw;
  v.hp = 2 * v.th + 2, v.wp = 2 * v.tw + 2;  // holds the image at (p, p): p + h <= ho + 2 <= 2 th + 2
  v.hq = 2 * v.th, v.wq = 2 * v.tw;
  // Keep a block's V and M (16 * T * (C + K) floats) within about 1 MiB, so they stay in L2
  // between the transforms and the GEMMs, but give the GEMMs at least ~64 rows.
  const int64_t target = std::max<int64_t>(64, (1 << 18) / (16 * (v.c + v.k)));
  v.images_per_block = std::clamp<int64_t>(target / v.t1, 1, g.n);
  v.t = v.images_per_block * v.t1;
  return v;
}

// U[xi][c][k] = (G g G^T)[xi] for g = w_g[k][c] (3x3); G = [1 0 0; .5 .5 .5; .5 -.5 .5; 0 0 1].
void kernel_transform(const float* w_g, const Layout& v, float* U) {
  parallel_for(v.c, [&](int64_t c0, int64_t c1) {
    for (int64_t c = c0; c < c1; ++c)  // k innermost: the 16 output streams are written contiguously
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
  }, grain_items(64 * v.k));
}

namespace {
// dw_g[k][c] += G^T dU G (3x3) for dU = dU[xi][c][k] (the adjoint of kernel_transform).
void kernel_transform_adjoint(const float* dU, const Layout& v, float* dw_g) {
  parallel_for(v.c, [&](int64_t c0, int64_t c1) {
    for (int64_t c = c0; c < c1; ++c)  // k innermost: the 16 input streams are read contiguously
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
  }, grain_items(64 * v.k));
}

// The transforms below run over 16 channels at a time as one vector (GCC's vector extension:
// one AVX-512 register, or narrower ones on other targets), then channel by channel for the rest.
// Both kinds run the same expressions, so a channel's bits do not depend on which one it got.
typedef float Lanes __attribute__((vector_size(64)));
constexpr int64_t kLanes = 16;

template <typename T>
inline T load(const float* p) {
  T x;
  std::memcpy(&x, p, sizeof(T));
  return x;
}
template <typename T>
inline void store(float* p, T x) {
  std::memcpy(p, &x, sizeof(T));
}

// body(T{}, c) for the channels [c, c + lanes of T) of [0, n).
template <typename Body>
inline void over_channels(int64_t n, const Body& body) {
  int64_t c = 0;
  for (; c + kLanes <= n; c += kLanes) body(Lanes{}, c);
  for (; c < n; ++c) body(0.0f, c);
}

// Column s of a tile's 4x4 transformed values (positions s, 4 + s, 8 + s, 12 + s), each read from
// its own xi matrix, ts floats apart.
template <typename T>
struct Column {
  T m0, m1, m2, m3;
};
template <typename T>
inline __attribute__((always_inline)) Column<T> tile_column(const float* m, int s, int64_t ts) {
  return {load<T>(m + s * ts), load<T>(m + (4 + s) * ts), load<T>(m + (8 + s) * ts), load<T>(m + (12 + s) * ts)};
}

// One row r of B^T d B for the tiles of a tile row: b = row ra + sign * row rb of the input rows
// (B^T d), then o[s] for s = 0..3 along the row ((B^T d) B). Neighbouring tiles overlap by two
// columns, so the two b of the right half are the left half of the next tile.
template <typename T, int ra, int rb, bool plus>
inline __attribute__((always_inline)) void input_row(const float* rows, int64_t ws, int64_t cs, int64_t tiles,
                                                     float* o, int64_t ts) {
  const float* pa = rows + ra * ws;
  const float* pb = rows + rb * ws;
  const auto b_at = [&](int64_t col) {
    return plus ? load<T>(pa + col * cs) + load<T>(pb + col * cs) : load<T>(pa + col * cs) - load<T>(pb + col * cs);
  };
  T b0 = b_at(0), b1 = b_at(1);
  for (int64_t j = 0; j < tiles; ++j) {
    const T b2 = b_at(2 * j + 2), b3 = b_at(2 * j + 3);
    store(o + j * cs, b0 - b2);
    store(o + ts + j * cs, b1 + b2);
    store(o + 2 * ts + j * cs, b2 - b1);
    store(o + 3 * ts + j * cs, b1 - b3);
    b0 = b2, b1 = b3;
  }
}

}  // namespace

std::vector<int64_t> input_offsets(const Layout& v) {
  std::vector<int64_t> at(static_cast<size_t>(v.h * v.w));
  for (int64_t ih = 0; ih < v.h; ++ih)
    for (int64_t iw = 0; iw < v.w; ++iw) at[static_cast<size_t>(ih * v.w + iw)] = ((ih + v.p) * v.wp + iw + v.p) * v.c;
  return at;
}

std::vector<int64_t> output_offsets(const Layout& v) {
  std::vector<int64_t> at(static_cast<size_t>(v.ho * v.wo));
  for (int64_t oh = 0; oh < v.ho; ++oh)
    for (int64_t ow = 0; ow < v.wo; ++ow) at[static_cast<size_t>(oh * v.wo + ow)] = (oh * v.wq + ow) * v.k;
  return at;
}

// V[xi][t0 + tile][:] = (B^T d B)[xi] for every tile of one image; xp: (hp, wp, C), the tile (i, j)
// at rows 2i.. and columns 2j.. of the padded grid. B^T = [1 0 -1 0; 0 1 1 0; 0 -1 1 0; 0 1 0 -1].
void input_transform(const float* xp, const Layout& v, int64_t t0, float* V) {
  const int64_t cs = v.c, ws = v.wp * v.c, ts = v.t * v.c;
  over_channels(v.c, [&](auto lanes, int64_t c) {
    using T = decltype(lanes);
    for (int64_t i = 0; i < v.th; ++i) {
      const float* rows = xp + 2 * i * ws + c;
      float* o = V + (t0 + i * v.tw) * cs + c;
      input_row<T, 0, 2, false>(rows, ws, cs, v.tw, o, ts);  // B^T rows: d0 - d2, d1 + d2, d2 - d1, d1 - d3
      input_row<T, 1, 2, true>(rows, ws, cs, v.tw, o + 4 * ts, ts);
      input_row<T, 2, 1, false>(rows, ws, cs, v.tw, o + 8 * ts, ts);
      input_row<T, 1, 3, false>(rows, ws, cs, v.tw, o + 12 * ts, ts);
    }
  });
}

namespace {
// dxp[2i + r][2j + s][:] = the sum of (B dV B^T)[r][s] over the tiles that hold the point, added
// in tile order onto zero (the adjoint of input_transform). Every point of the grid is written,
// so dxp needs no clearing. Along a tile row, the two columns a tile shares with the next one
// are carried in registers; a grid row that an earlier tile row already reached is read back.
void input_transform_adjoint(const float* dV, const Layout& v, int64_t t0, float* dxp) {
  const int64_t cs = v.c, ws = v.wp * v.c, ts = v.t * v.c;
  over_channels(v.c, [&](auto lanes, int64_t c) {
    using T = decltype(lanes);
    const T zero = T{} * 0.0f;  // the value the points start from: 0 + x, as a cleared buffer gives
    for (int64_t i = 0; i < v.th; ++i) {
      float* o = dxp + 2 * i * ws + c;
      // Grid rows 2i and 2i + 1 already hold tile row i - 1's part (its rows r = 2, 3).
      const auto old = [&](int r, int64_t col) { return i > 0 && r < 2 ? load<T>(o + r * ws + col * cs) : zero; };
      T carry[4][2];
      #pragma GCC unroll 4
      for (int r = 0; r < 4; ++r) carry[r][0] = old(r, 0), carry[r][1] = old(r, 1);
      for (int64_t j = 0; j < v.tw; ++j) {
        const float* m = dV + (t0 + i * v.tw + j) * cs + c;
        T b[16];
        #pragma GCC unroll 4
        for (int s = 0; s < 4; ++s) {  // B dV, B = [1 0 0 0; 0 1 -1 1; -1 1 1 0; 0 0 0 -1]
          const auto [m0, m1, m2, m3] = tile_column<T>(m, s, ts);
          b[s] = m0;
          b[4 + s] = m1 - m2 + m3;
          b[8 + s] = m1 + m2 - m0;
          b[12 + s] = -m3;
        }
        #pragma GCC unroll 4
        for (int r = 0; r < 4; ++r) {  // (B dV) B^T: columns 2j, 2j + 1 are final, 2j + 2, 2j + 3 carried
          float* row = o + r * ws + 2 * j * cs;
          store(row, carry[r][0] + b[r * 4 + 0]);
          store(row + cs, carry[r][1] + (b[r * 4 + 1] - b[r * 4 + 2] + b[r * 4 + 3]));
          carry[r][0] = old(r, 2 * j + 2) + (b[r * 4 + 1] + b[r * 4 + 2] - b[r * 4 + 0]);
          carry[r][1] = old(r, 2 * j + 3) + -b[r * 4 + 3];
        }
      }
      #pragma GCC unroll 4
      for (int r = 0; r < 4; ++r) {
        store(o + r * ws + 2 * v.tw * cs, carry[r][0]);
        store(o + r * ws + (2 * v.tw + 1) * cs, carry[r][1]);
      }
    }
  });
}
}  // namespace

// yp[2i + a][2j + b][:] = (A^T m A)[a][b] + bias for every tile of one image, m[xi] = M[xi][t0 + tile][:];
// yp: (hq, wq, K). A^T = [1 1 1 0; 0 1 -1 -1].
void output_transform(const float* M, const float* bias, const Layout& v, int64_t t0, float* yp) {
  const int64_t ks = v.k, ws = v.wq * v.k, ts = v.t * v.k;
  over_channels(v.k, [&](auto lanes, int64_t k) {
    using T = decltype(lanes);
    const T bk = load<T>(bias + k);
    for (int64_t i = 0; i < v.th; ++i)
      for (int64_t j = 0; j < v.tw; ++j) {
        const float* m = M + (t0 + i * v.tw + j) * ks + k;
        T r0[4], r1[4];  // A^T m
        #pragma GCC unroll 4
        for (int s = 0; s < 4; ++s) {
          const auto [m0, m1, m2, m3] = tile_column<T>(m, s, ts);
          r0[s] = m0 + m1 + m2;
          r1[s] = m1 - m2 - m3;
        }
        float* o = yp + (2 * i * v.wq + 2 * j) * ks + k;  // (A^T m) A
        store(o, r0[0] + r0[1] + r0[2] + bk);
        store(o + ks, r0[1] - r0[2] - r0[3] + bk);
        store(o + ws, r1[0] + r1[1] + r1[2] + bk);
        store(o + ws + ks, r1[1] - r1[2] - r1[3] + bk);
      }
  });
}

namespace {
// dM[xi][t0 + tile][:] = (A dY A^T)[xi] for every tile of one image; dyp: (hq, wq, K), zero past Ho, Wo.
void output_transform_adjoint(const float* dyp, const Layout& v, int64_t t0, float* dM) {
  const int64_t ks = v.k, ws = v.wq * v.k, ts = v.t * v.k;
  over_channels(v.k, [&](auto lanes, int64_t k) {
    using T = decltype(lanes);
    for (int64_t i = 0; i < v.th; ++i)
      for (int64_t j = 0; j < v.tw; ++j) {
        const float* e = dyp + (2 * i * v.wq + 2 * j) * ks + k;
        const T e0 = load<T>(e), e1 = load<T>(e + ks), e2 = load<T>(e + ws), e3 = load<T>(e + ws + ks);
        // A dY (rows of dY: (e0, e1), (e2, e3)), A = [1 0; 1 1; 1 -1; 0 -1]
        const T t[4][2] = {{e0, e1}, {e0 + e2, e1 + e3}, {e0 - e2, e1 - e3}, {-e2, -e3}};
        float* o = dM + (t0 + i * v.tw + j) * ks + k;
        #pragma GCC unroll 4
        for (int r = 0; r < 4; ++r) {  // (A dY) A^T
          store(o + (r * 4 + 0) * ts, t[r][0]);
          store(o + (r * 4 + 1) * ts, t[r][0] + t[r][1]);
          store(o + (r * 4 + 2) * ts, t[r][0] - t[r][1]);
          store(o + (r * 4 + 3) * ts, -t[r][1]);
        }
      }
  });
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
  const std::vector<float> zeros(static_cast<size_t>(v.k), 0.0f);
  const std::vector<int64_t> at_in = input_offsets(v), at_out = output_offsets(v);
  const int64_t blocks = (g.n + v.images_per_block - 1) / v.images_per_block, hw = v.h * v.w, out_hw = v.ho * v.wo;
  parallel_for(blocks, [&](int64_t b0, int64_t b1) {
    float* xp = thread_scratch(0, v.hp * v.wp * v.c);
    float* V = thread_scratch(1, 16 * v.t * v.c);
    float* M = thread_scratch(2, 16 * v.t * v.k);
    float* yp = thread_scratch(3, v.hq * v.wq * v.k);
    std::fill_n(xp, v.hp * v.wp * v.c, 0.0f);  // the margins; every image overwrites the rest
    for (int64_t blk = b0; blk < b1; ++blk) {
      const int64_t n0 = blk * v.images_per_block, nb = std::min(v.images_per_block, g.n - n0), rows = nb * v.t1;
      for (int64_t grp = 0; grp < g.groups; ++grp) {
        for (int64_t b = 0; b < nb; ++b) {
          transpose_to(x + ((n0 + b) * g.c_in + grp * v.c) * hw, v.c, hw, at_in.data(), xp);
          input_transform(xp, v, b * v.t1, V);
        }
        for (int xi = 0; xi < 16; ++xi)  // M[xi] (rows, K) = V[xi] (rows, C) U[xi] (C, K)
          gemm_serial(false, false, rows, v.k, v.c, V + xi * v.t * v.c, v.c, U.data() + (grp * 16 + xi) * v.c * v.k, v.k,
                        M + xi * v.t * v.k, v.k, false);
        for (int64_t b = 0; b < nb; ++b) {
          output_transform(M, bias ? bias + grp * v.k : zeros.data(), v, b * v.t1, yp);
          transpose_from(yp, at_out.data(), v.k, out_hw, y + ((n0 + b) * g.c_out + grp * v.k) * out_hw);
        }
      }
    }
  }, grain_items(2 * v.images_per_block * v.c * v.k * 9 * out_hw));
}

void winograd_backward(const float* x, const float* w, const float* dy, const ConvGeometry& g, float* dx, float* dw,
                       float* dbias) {
  const Layout v = layout_of(g);
  const std::vector<float> UT = dx ? transposed_kernels(transformed_kernels(w, g, v), g, v) : std::vector<float>();
  const std::vector<int64_t> at_in = input_offsets(v), at_out = output_offsets(v);
  const int64_t hw = v.h * v.w, out_hw = v.ho * v.wo, u_size = 16 * v.c * v.k, xp_size = v.hp * v.wp * v.c;
  // dU is reduced per chunk in chunk order and turned into dw at the end (the transform is linear).
  std::vector<float> dU(dw ? static_cast<size_t>(g.groups * u_size) : 0, 0.0f);
  const int64_t chunks = chunk_count(g.n, 4 * g.c_out * v.c * 9 * out_hw, num_threads());
  ChunkPartials du_part(dw ? dU.data() : nullptr, g.groups * u_size, chunks), db_part(dbias, g.c_out, chunks);
  for_chunks(g.n, chunks, [&](int64_t chunk, int64_t c0, int64_t c1) {
    float* duc = du_part.of(chunk);
    float* dbc = db_part.of(chunk);
    float* dyp = thread_scratch(0, v.hq * v.wq * v.k);  // dy channels-last, zero past Ho, Wo
    float* V = thread_scratch(1, 16 * v.t * v.c);       // V, then dV
    float* dM = thread_scratch(2, 16 * v.t * v.k);
    float* xp = thread_scratch(3, xp_size);
    float* dxp = thread_scratch(4, xp_size);
    std::fill_n(dyp, v.hq * v.wq * v.k, 0.0f);  // the margins stay zero; every image overwrites the rest
    std::fill_n(xp, xp_size, 0.0f);
    for (int64_t n0 = c0; n0 < c1; n0 += v.images_per_block) {
      const int64_t nb = std::min(v.images_per_block, c1 - n0), rows = nb * v.t1;
      for (int64_t grp = 0; grp < g.groups; ++grp) {
        for (int64_t b = 0; b < nb; ++b) {
          const float* dy_g = dy + ((n0 + b) * g.c_out + grp * v.k) * out_hw;
          if (dbc) Eigen::Map<Eigen::VectorXf>(dbc + grp * v.k, v.k) += ConstMat(dy_g, v.k, out_hw).rowwise().sum();
          transpose_to(dy_g, v.k, out_hw, at_out.data(), dyp);
          output_transform_adjoint(dyp, v, b * v.t1, dM);
        }
        if (duc) {
          for (int64_t b = 0; b < nb; ++b) {
            transpose_to(x + ((n0 + b) * g.c_in + grp * v.c) * hw, v.c, hw, at_in.data(), xp);
            input_transform(xp, v, b * v.t1, V);
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
          input_transform_adjoint(V, v, b * v.t1, dxp);
          transpose_from(dxp, at_in.data(), v.c, hw, dx + ((n0 + b) * g.c_in + grp * v.c) * hw);
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
