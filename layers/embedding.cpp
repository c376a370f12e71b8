// layers/embedding.cpp — Embedding (the lookup and its backward live in ops::embedding).
#include "layers/embedding.h"

#include <cmath>

#include "core/ops.h"
#include "layers/init.h"

namespace raoq {

Embedding::Embedding(int64_t num_embeddings_, int64_t embedding_dim_)
    : Module("Embedding"), num_embeddings(num_embeddings_), embedding_dim(embedding_dim_) {
  RAOQ_CHECK(num_embeddings > 0 && embedding_dim > 0, "Embedding: sizes must be positive (got ", num_embeddings,
             " x ", embedding_dim, ")");
  weight = register_parameter("weight", init::normal({num_embeddings, embedding_dim}));
}

Tensor Embedding::forward(const Tensor& ids) {  // ids: (...) whole numbers -> (..., D)
  RAOQ_CHECK(ids.defined(), label(), ": ids tensor is undefined");
  std::vector<int64_t> indices(static_cast<size_t>(ids.numel()));
  const float* v = ids.data();
  for (size_t i = 0; i < indices.size(); ++i) {
    RAOQ_CHECK(std::floor(v[i]) == v[i], label(), ": id ", v[i], " at flat position ", i, " is not a whole number");
    indices[i] = static_cast<int64_t>(v[i]);
  }
  return forward(indices, ids.shape());
}

Tensor Embedding::forward(const std::vector<int64_t>& indices, const Shape& index_shape) {
  RAOQ_CHECK(static_cast<int64_t>(indices.size()) == shape_numel(index_shape), label(), ": ", indices.size(),
             " indices do not fill index shape ", shape_str(index_shape));
  for (size_t i = 0; i < indices.size(); ++i)
    RAOQ_CHECK(indices[i] >= 0 && indices[i] < num_embeddings, label(), ": index ", indices[i], " at flat position ",
               i, " is outside [0, ", num_embeddings, ")");
  Tensor y = ops::embedding(weight, indices, index_shape);
  if (!path().empty()) y.set_name(path() + ":out");
  return y;
}

std::string Embedding::extra_repr() const {
  return std::to_string(num_embeddings) + ", " + std::to_string(embedding_dim);
}

}  // namespace raoq
