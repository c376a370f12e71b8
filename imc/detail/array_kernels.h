// imc/detail/array_kernels.h — internal: the loops of the array product (array_product.h holds the
// contract): one pass per row tile (GEMM a block into scratch, ADC, add into the output), and the
// masked straight-through backward.
//
// Legend: M output rows (samples, or output pixels of one image), K reduction length, N output
// columns, T = ceil(K / rows) row tiles.
//   w: (N, K) row-major weight codes (one slice)
//   row-major layout (matrix geometry):   x: (M, K)   out, g: (M, N)   clips[t]: indices m*N + n
//   transposed layout (patches geometry): x: (K, M) (image patches)    out, g: (N, M)   clips[t]: n*M + m
// The transposed layout is a convolution's natural one: patches as rows of K, output channels by
// position, so neither the patches nor the output need a transpose.
#pragma once

#include <cstdint>
#include <vector>

#include "core/tensor.h"
#include "imc/adc.h"
#include "imc/array_product.h"

namespace raoq {
class Generator;
}

namespace raoq::imc::detail {

inline constexpr int64_t kBlockRows = 256;  // rows of M per scratch block (256 x N floats: L2-resident)

using ClipLists = std::vector<std::vector<int64_t>>;  // [tile] -> ascending flat indices

struct SlicePair {
  const float* x = nullptr;  // (M, K), or (K, M) when transposed
  const float* w = nullptr;  // (N, K)
  float factor = 1;          // power of two of the slice pair
};

struct TileKernel {
  int64_t M = 0, K = 0, N = 0, rows = 512;
  std::vector<SlicePair> pairs;
  float D = 1;
  quant::CodeRange codes;   // the ADC's code range [lo, hi]
  bool convert = true;      // the ADC converts every tile (AdcConfig::enabled); false: exact sums
  Rounding rounding = Rounding::apply;
  float noise_sigma = 0;    // output noise std in column-sum units (output_noise * D)
  uint64_t noise_seed = 0;
  TileObserver* observer = nullptr;
  bool transposed = false;  // the layout of x and out (legend above)

  int64_t tiles() const { return (K + rows - 1) / rows; }
  int64_t blocks() const { return (M + kBlockRows - 1) / kBlockRows; }
};

// The pieces the array runs: the input and weight slices (or the codes themselves, direct
// mapping), the weight slices with their analog noise, the digital offset of the slicing
// (v = sum_i factor_i part_i + offset), and the weights the array used, recombined (for the
// backward). Noise draws come from gen, or the default generator when null.
struct ArrayOperands {
  std::vector<Tensor> x_parts, w_parts;
  std::vector<float> x_factors, w_factors;
  float offset = 0;
  Tensor w_used;  // wq's shape
};
ArrayOperands prepare_operands(const Tensor& xs, const Tensor& wq, const AdcConfig& config, Generator* gen);

// Every (input slice, weight slice) pair, with x pointers from x_of(x_part) (the caller may point
// at per-image buffers instead of the parts themselves).
template <typename XOf>
std::vector<SlicePair> pairs_of(const ArrayOperands& a, XOf x_of) {
  std::vector<SlicePair> pairs;
  for (size_t i = 0; i < a.x_parts.size(); ++i)
    for (size_t j = 0; j < a.w_parts.size(); ++j)
      pairs.push_back({x_of(a.x_parts[i]), a.w_parts[j].data(), a.x_factors[i] * a.w_factors[j]});
  return pairs;
}

// A kernel for config (D, ADC range, whether it converts, rounding, noise) with geometry and pairs
// left to fill.
TileKernel make_kernel(const AdcConfig& config, Rounding rounding);

// out = sum over tiles and pairs of factor * ADC(column sums), times D (the exact sums when the
// ADC is off), block by block of kBlockRows rows of M in parallel. When clips is non-null, it is
// set to T lists of the clipped indices, in increasing order. `stream` separates noise streams
// (and is passed to the observer).
void tile_product(const TileKernel& k, int64_t stream, float* out, ClipLists* clips);

// One tile's conversion as tile_product does it, for callers that compute the column sums y
// themselves: acc[i] += factor * ADC(y[i]) (factor * y[i] when the ADC is off); with `first`,
// acc[i] = 0 + that (acc need not be zeroed). With `clipped` non-null, appends base + i for every
// i whose y[i] / D left the ADC range, in increasing i. After the last tile, reconstruct()
// multiplies acc by D (unless the ADC is off), as tile_product does.
void convert_tile(const TileKernel& k, const float* y, int64_t count, float factor, float* acc,
                  std::vector<int64_t>* clipped, int64_t base, bool first);
void reconstruct(const TileKernel& k, float* acc, int64_t count);

// Straight-through backward over the tiles, with G_s = g with the span's clipped entries zeroed:
//   row-major:   dx[:, span] += G_s w_used[:, span]       dw[:, span] += G_s^T x[:, span]
//   transposed:  dx[span, :] += w_used[:, span]^T G_s     dw[:, span] += G_s x[span, :]^T
// Spans are runs of unclipped tiles (one GEMM pair) or single clipped tiles. dx or dw may be null.
// Each element of dx and dw gets its term from one span; with `overwrite` it is written (= instead
// of +=: dx and dw need no zero-fill first; a sum that is exactly -0 then stays -0, where adding it
// to a cleared buffer gave +0).
// Parallel over row blocks of dx (row-major) or its columns (transposed), and over the longer side of
// dw; runs inline inside a parallel region.
void masked_backward(int64_t M, int64_t K, int64_t N, int64_t rows, bool transposed, const float* g,
                     const ClipLists& clips, const float* x, const float* w_used, float* dx, float* dw,
                     std::vector<float>& masked, bool overwrite = false);

// ---- batched geometry: G independent (M, K) x (N, K)^T products.
// Groups per thread for a parallel loop over G: at least the plain GEMM's own parallel threshold of
// work (core/ops/detail/gemm.h), so that small groups (the heads of a tiny model) stay on one
// thread. The same split as ops::matmul's batched loop (core/ops/matmul.cpp), which
// batched_backward relies on.
int64_t groups_per_thread(int64_t M, int64_t N, int64_t K);

// The backward of G products, group by group in parallel (no sum crosses groups); dx, dw: (G, M, K)
// and (G, N, K), written in full (either may be null); clips: [g][t], or empty (nothing clipped).
//   a group with a clipped conversion: masked_backward on its own product (row-major);
//   a group without: dx[g] = g[g] w[g], dw[g] = g[g]^T x[g] by the very GEMM calls that
//     ops::matmul(x, transpose(w)) makes in its backward (w[g]^T as a (K, N) operand, dw[g]^T
//     computed as (K, N) and transposed): with the ADC off, the array product's gradients equal
//     that QAT product of codes bit for bit (quant::QuantAttention against imc::ImcAttention).
void batched_backward(int64_t G, int64_t M, int64_t K, int64_t N, int64_t rows, const float* g,
                      const std::vector<ClipLists>& clips, const float* x, const float* w_used, float* dx, float* dw);

}  // namespace raoq::imc::detail
