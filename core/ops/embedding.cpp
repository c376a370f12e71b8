// core/ops/embedding.cpp — table lookup: rows of a weight matrix gathered by integer index.
//
// What it does not do: padding_idx, max_norm renormalisation, sparse gradients (the weight
// gradient is a dense (V, D) tensor, accumulated in index order).
//
// Legend: V table rows (vocabulary), D embedding width, I = number of indices.
//   weight, dweight: (V, D)   indices: I values in [0, V), laid out as index_shape
//   y, dy: (index_shape..., D), i.e. (I, D)
#include <cstring>
#include <memory>
#include <vector>

#include "core/autograd.h"
#include "core/error.h"
#include "core/ops.h"
#include "core/parallel.h"

namespace raoq::ops {

RAOQ_REGISTER_OP("embedding");

// embedding:  y[i, :] = weight[indices[i], :]
//   dweight[indices[i], :] += dy[i, :]     (in index order: repeated indices sum reproducibly)
// saves: indices
Tensor embedding(const Tensor& weight, const std::vector<int64_t>& indices, const Shape& index_shape) {
  RAOQ_CHECK(weight.defined() && weight.dim() == 2, "embedding: expected weight of shape (V, D), given ",
             weight.defined() ? shape_str(weight.shape()) : "an undefined tensor");
  const int64_t V = weight.size(0), D = weight.size(1), I = static_cast<int64_t>(indices.size());
  RAOQ_CHECK(shape_numel(index_shape) == I, "embedding: expected index_shape with as many elements as indices (", I,
             "), given index_shape ", index_shape, " of ", shape_numel(index_shape), " elements");
  for (int64_t i = 0; i < I; ++i) {
    const int64_t idx = indices[static_cast<size_t>(i)];
    RAOQ_CHECK(idx >= 0 && idx < V, "embedding: index ", idx, " at position ", i, " is out of range for a table of ",
               V, " rows (expected 0 <= index < ", V, ")");
  }
  Shape out_shape = index_shape;
  out_shape.push_back(D);
  Tensor y = Tensor::empty(out_shape);
  const float* w = weight.data();
  float* yd = y.data();
  parallel_for(I, [&](int64_t i0, int64_t i1) {
    for (int64_t i = i0; i < i1; ++i)
      std::memcpy(yd + i * D, w + indices[static_cast<size_t>(i)] * D, sizeof(float) * static_cast<size_t>(D));
  }, 256);
  auto saved = std::make_shared<const std::vector<int64_t>>(indices);
  return autograd::record("embedding", {weight}, y, {"indices"}, [saved, D](BackwardContext& ctx) {
    float* dw = ctx.dinput_tensor(0).data();
    const float* dy = ctx.dout_tensor().data();
    for (size_t i = 0; i < saved->size(); ++i)
      Eigen::Map<Eigen::ArrayXf>(dw + (*saved)[i] * D, D) += Eigen::Map<const Eigen::ArrayXf>(dy + int64_t(i) * D, D);
  });
}

}  // namespace raoq::ops
