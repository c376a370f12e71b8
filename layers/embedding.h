// layers/embedding.h — Embedding: a lookup table of D-dimensional rows.
#pragma once

#include <cstdint>
#include <vector>

#include "layers/module.h"

namespace raoq {

// indices in [0, V) laid out as index_shape -> (index_shape..., D).   weight: (V, D), init N(0, 1).
// Tensors are float, so the Tensor overload takes ids stored as exact whole numbers (exact
// below 2^24); the vector overload takes int64 ids directly.
class Embedding : public Module {
 public:
  Embedding(int64_t num_embeddings, int64_t embedding_dim);
  // ids: any shape, whole numbers in [0, V) -> (ids.shape..., D)
  Tensor forward(const Tensor& ids) override;
  Tensor forward(const std::vector<int64_t>& indices, const Shape& index_shape);
  std::string extra_repr() const override;

  int64_t num_embeddings, embedding_dim;
  Tensor weight;  // (V, D)
};

}  // namespace raoq
