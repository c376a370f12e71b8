// core/tensor.h — the Tensor: float32, contiguous, row-major, shared storage.
//
// A Tensor is a shared handle, like torch::Tensor or flashlight's Variable: copying a
// Tensor shares its data, gradient and graph node; use clone() for a deep copy of the data.
// Constness belongs to the handle, not the data: data(), flat() and as_matrix() on a
// const Tensor still give writable views (ops read inputs through them and must not write).
// Eigen access goes through named views only: flat() for elementwise work, as_matrix()
// for GEMM (always RowMajor). Never bind an Eigen expression to `auto`.
//
// What it deliberately does not do: strides, views with offsets other than whole-storage
// reshapes, dtypes other than float32, devices.
#pragma once

#include <Eigen/Core>
#include <cstdint>
#include <functional>
#include <initializer_list>
#include <iosfwd>
#include <memory>
#include <string>
#include <utility>
#include <vector>

namespace raoq {

class Generator;
struct Node;

using Shape = std::vector<int64_t>;
std::string shape_str(const Shape& shape);                 // "[32, 784]"
std::ostream& operator<<(std::ostream& os, const Shape& shape);
// Product of the dimensions; checks that none is negative and that it does not overflow.
int64_t shape_numel(const Shape& shape);

using ArrayMap = Eigen::Map<Eigen::ArrayXf>;
using MatrixRM = Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
using MatrixMapRM = Eigen::Map<MatrixRM>;

// A 64-byte aligned float buffer. Never resized; shared between reshapes of one tensor.
class Storage {
 public:
  explicit Storage(int64_t size);
  ~Storage();
  Storage(const Storage&) = delete;
  Storage& operator=(const Storage&) = delete;
  float* data() const { return data_; }
  int64_t size() const { return size_; }

 private:
  float* data_ = nullptr;
  int64_t size_ = 0;
};

// Bytes of tensor storage alive now, and the most alive at once since the last reset (every
// Storage counts, parameters, gradients, activations and optimizer state alike; the sizes are
// those allocated, rounded up to 64-byte lines). For memory figures such as an ADC stage's peak
// with and without LoRA; the counters are atomic, so threads may allocate meanwhile.
struct TensorMemory {
  int64_t live_bytes = 0;
  int64_t peak_bytes = 0;
};
TensorMemory tensor_memory();
void reset_tensor_memory_peak();  // peak := live
// Hands the cache of freed storage buffers (reused by later tensors of the same size) back to the
// system; returns the bytes released. For a memory figure that starts from what is alive.
int64_t release_cached_tensor_buffers();

class Tensor;
// A gradient hook sees the gradient of a tensor once it is complete for this backward pass
// and may modify it in place (e.g. clip or log it). Signature: void(Tensor& grad).
using GradHook = std::function<void(Tensor&)>;

struct TensorImpl;  // the shared state behind a handle: internal (core/detail/tensor_impl.h)
namespace detail {
struct TensorAccess;  // core's own access to it (autograd), not part of the API
}

class Tensor {
 public:
  Tensor() = default;  // undefined: defined() is false

  // ---- factories (uninitialised, constant, ranges, random, from data)
  static Tensor empty(const Shape& shape);
  static Tensor zeros(const Shape& shape);
  static Tensor ones(const Shape& shape);
  static Tensor full(const Shape& shape, float value);
  static Tensor scalar(float value);                      // shape []
  static Tensor arange(float start, float end, float step = 1.0f);
  static Tensor from_vector(const std::vector<float>& values, const Shape& shape);
  static Tensor randn(const Shape& shape, Generator& gen, float mean = 0.0f, float stddev = 1.0f);
  static Tensor uniform(const Shape& shape, Generator& gen, float low = 0.0f, float high = 1.0f);
  static Tensor zeros_like(const Tensor& t) { return zeros(t.shape()); }

  // ---- shape and data
  bool defined() const { return impl_ != nullptr; }
  const Shape& shape() const;
  int64_t dim() const { return static_cast<int64_t>(shape().size()); }
  int64_t size(int64_t d) const;  // negative d counts from the end
  int64_t numel() const;
  float* data() const;
  ArrayMap flat() const;
  MatrixMapRM as_matrix(int64_t rows, int64_t cols) const;  // rows*cols must equal numel()
  float item() const;                                       // numel() must be 1
  float at(std::initializer_list<int64_t> index) const;     // bounds-checked element read
  std::vector<float> to_vector() const;

  // ---- identity and autograd state
  const std::string& name() const;
  Tensor& set_name(std::string name);
  bool requires_grad() const;
  // Marks a leaf as trainable. Only leaves (tensors without grad_fn) may be changed.
  Tensor& set_requires_grad(bool flag);
  bool is_leaf() const;
  const std::shared_ptr<Node>& grad_fn() const;
  // The accumulated gradient; undefined until a backward pass reaches this tensor.
  Tensor grad() const;
  void set_grad(const Tensor& grad);  // replaces (or with an undefined tensor, clears) the gradient
  void zero_grad();                   // sets an existing gradient to 0; keeps it allocated
  // Keep this non-leaf's gradient after backward (leaves always keep theirs).
  void retain_grad();
  void register_grad_hook(GradHook hook);
  // Seeds d(self)/d(self) = 1 and runs reverse-mode autodiff. self must hold one element.
  // The graph is freed afterwards unless retain_graph is true. Gradients accumulate (+=).
  void backward(bool retain_graph = false) const;

  // A handle to the same data outside any graph (requires_grad false).
  Tensor detach() const;
  // A deep copy of the data outside any graph; keeps the name.
  Tensor clone() const;
  // Copies values from src (same numel) into this tensor's storage, outside autograd.
  void copy_from(const Tensor& src) const;
  // Same storage, new shape with the same numel, outside autograd (use ops::reshape to differentiate).
  Tensor view_as_shape(const Shape& shape) const;

  bool is_same(const Tensor& other) const { return impl_ == other.impl_; }

 private:
  friend struct detail::TensorAccess;
  explicit Tensor(std::shared_ptr<TensorImpl> impl) : impl_(std::move(impl)) {}
  TensorImpl& checked() const;
  std::shared_ptr<TensorImpl> impl_;
};

std::ostream& operator<<(std::ostream& os, const Tensor& t);  // name, shape and a few values

// The index of the first NaN or infinity in t's values, or -1 when every value is finite.
int64_t first_non_finite(const Tensor& t);

// (name, tensor) pairs in a meaningful order: parameters, state dicts, checkpoint entries.
using NamedTensors = std::vector<std::pair<std::string, Tensor>>;

}  // namespace raoq
