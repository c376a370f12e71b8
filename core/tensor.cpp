// core/tensor.cpp — Tensor storage, factories and accessors (no autograd logic here).
#include "core/tensor.h"

#include <cmath>

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <mutex>
#include <ostream>
#include <sstream>
#include <unordered_map>

#include "core/autograd.h"
#include "core/detail/tensor_impl.h"
#include "core/error.h"
#include "core/parallel.h"
#include "core/rng.h"

namespace raoq {

std::string shape_str(const Shape& shape) {
  std::ostringstream os;
  os << '[';
  for (size_t i = 0; i < shape.size(); ++i) os << (i ? ", " : "") << shape[i];
  os << ']';
  return os.str();
}

std::ostream& operator<<(std::ostream& os, const Shape& shape) { return os << shape_str(shape); }

int64_t shape_numel(const Shape& shape) {
  int64_t n = 1;
  for (int64_t d : shape) {
    RAOQ_CHECK(d >= 0, "shape ", shape_str(shape), ": dimensions must be >= 0");
    RAOQ_CHECK(d == 0 || n <= std::numeric_limits<int64_t>::max() / d, "shape ", shape_str(shape),
               ": element count overflows int64");
    n *= d;
  }
  return n;
}

namespace {
// A cache of freed buffers, keyed by their exact byte size. A training step allocates the
// same activation and gradient sizes every step; without reuse, every large buffer comes fresh
// from mmap and is paid for again in page faults (measured: a few percent of a cnn-small step).
// Buffers of 64 KiB or more are cached, up to kCacheLimitBytes in total; smaller ones go
// straight to malloc, which already recycles them.
class BufferCache {
 public:
  static constexpr size_t kMinCachedBytes = size_t(64) << 10;
  static constexpr size_t kCacheLimitBytes = size_t(2) << 30;
#ifdef __SANITIZE_ADDRESS__
  static constexpr bool kEnabled = false;  // let AddressSanitizer see every use after free
#else
  static constexpr bool kEnabled = true;
#endif

  void* get(size_t bytes) {
    if (kEnabled && bytes >= kMinCachedBytes) {
      std::lock_guard<std::mutex> lock(mutex_);
      auto it = free_.find(bytes);
      if (it != free_.end() && !it->second.empty()) {
        void* p = it->second.back();
        it->second.pop_back();
        cached_ -= bytes;
        return p;
      }
    }
    return std::aligned_alloc(64, bytes);
  }
  int64_t release() {
    std::lock_guard<std::mutex> lock(mutex_);
    const auto bytes = static_cast<int64_t>(cached_);
    for (auto& [size, list] : free_)
      for (void* p : list) std::free(p);
    free_.clear();
    cached_ = 0;
    return bytes;
  }
  void put(void* p, size_t bytes) {
    if (kEnabled && bytes >= kMinCachedBytes) {
      std::lock_guard<std::mutex> lock(mutex_);
      if (cached_ + bytes <= kCacheLimitBytes) {
        free_[bytes].push_back(p);
        cached_ += bytes;
        return;
      }
    }
    std::free(p);
  }

 private:
  std::mutex mutex_;
  std::unordered_map<size_t, std::vector<void*>> free_;
  size_t cached_ = 0;
};

BufferCache& buffer_cache() {
  static auto* cache = new BufferCache;  // never destroyed: storages may outlive static destruction
  return *cache;
}

size_t storage_bytes(int64_t size) {
  // Round up to a whole number of 64-byte lines, as aligned_alloc requires.
  return ((static_cast<size_t>(std::max<int64_t>(size, 1)) * sizeof(float) + 63) / 64) * 64;
}
}  // namespace

namespace {
std::atomic<int64_t> g_live_bytes{0}, g_peak_bytes{0};

void count_allocation(int64_t bytes) {
  const int64_t live = g_live_bytes.fetch_add(bytes, std::memory_order_relaxed) + bytes;
  int64_t peak = g_peak_bytes.load(std::memory_order_relaxed);
  while (live > peak && !g_peak_bytes.compare_exchange_weak(peak, live, std::memory_order_relaxed)) {
  }
}
}  // namespace

TensorMemory tensor_memory() {
  return {g_live_bytes.load(std::memory_order_relaxed), g_peak_bytes.load(std::memory_order_relaxed)};
}

int64_t release_cached_tensor_buffers() { return buffer_cache().release(); }

void reset_tensor_memory_peak() { g_peak_bytes.store(g_live_bytes.load(std::memory_order_relaxed)); }

Storage::Storage(int64_t size) : size_(size) {
  RAOQ_CHECK(size >= 0, "Storage: negative size ", size);
  const size_t bytes = storage_bytes(size);
  data_ = static_cast<float*>(buffer_cache().get(bytes));
  RAOQ_CHECK(data_ != nullptr, "Storage: out of memory allocating ", bytes, " bytes");
  count_allocation(static_cast<int64_t>(bytes));
}

Storage::~Storage() {
  g_live_bytes.fetch_sub(static_cast<int64_t>(storage_bytes(size_)), std::memory_order_relaxed);
  buffer_cache().put(data_, storage_bytes(size_));
}

namespace {
std::shared_ptr<TensorImpl> make_impl(const Shape& shape) {
  auto impl = std::make_shared<TensorImpl>();
  impl->storage = std::make_shared<Storage>(shape_numel(shape));
  impl->shape = shape;
  return impl;
}
}  // namespace

Tensor Tensor::empty(const Shape& shape) { return Tensor(make_impl(shape)); }

Tensor Tensor::zeros(const Shape& shape) { return full(shape, 0.0f); }

Tensor Tensor::ones(const Shape& shape) { return full(shape, 1.0f); }

Tensor Tensor::full(const Shape& shape, float value) {
  Tensor t = empty(shape);
  // Gradient buffers are zeroed through here on every step: large fills are split over the threads
  // (a fill is memory-bound, and one core does not saturate the memory bus).
  float* p = t.data();
  parallel_for(t.numel(), [&](int64_t i0, int64_t i1) { std::fill(p + i0, p + i1, value); }, int64_t(1) << 16);
  return t;
}

Tensor Tensor::scalar(float value) { return full({}, value); }

Tensor Tensor::arange(float start, float end, float step) {
  RAOQ_CHECK(step != 0.0f, "arange: step must be non-zero");
  const auto n = static_cast<int64_t>(std::max(0.0, std::ceil((double(end) - start) / step)));
  Tensor t = empty({n});
  for (int64_t i = 0; i < n; ++i) t.data()[i] = start + static_cast<float>(i) * step;
  return t;
}

Tensor Tensor::from_vector(const std::vector<float>& values, const Shape& shape) {
  RAOQ_CHECK(static_cast<int64_t>(values.size()) == shape_numel(shape), "from_vector: ", values.size(),
             " values do not fill shape ", shape_str(shape));
  Tensor t = empty(shape);
  std::copy(values.begin(), values.end(), t.data());
  return t;
}

Tensor Tensor::randn(const Shape& shape, Generator& gen, float mean, float stddev) {
  Tensor t = empty(shape);
  for (int64_t i = 0; i < t.numel(); ++i) t.data()[i] = mean + stddev * gen.normal();
  return t;
}

Tensor Tensor::uniform(const Shape& shape, Generator& gen, float low, float high) {
  RAOQ_CHECK(low <= high, "uniform: low ", low, " > high ", high);
  Tensor t = empty(shape);
  for (int64_t i = 0; i < t.numel(); ++i) t.data()[i] = low + (high - low) * gen.uniform01();
  return t;
}

TensorImpl& Tensor::checked() const {
  RAOQ_CHECK(impl_ != nullptr, "Tensor: use of an undefined tensor");
  return *impl_;
}

const Shape& Tensor::shape() const { return checked().shape; }

int64_t Tensor::size(int64_t d) const {
  const int64_t n = dim();
  RAOQ_CHECK(d >= -n && d < n, "Tensor::size: dimension ", d, " out of range for shape ", shape_str(shape()));
  return shape()[static_cast<size_t>(d < 0 ? d + n : d)];
}

int64_t Tensor::numel() const { return checked().storage->size(); }

float* Tensor::data() const { return checked().storage->data(); }

ArrayMap Tensor::flat() const { return ArrayMap(data(), numel()); }

MatrixMapRM Tensor::as_matrix(int64_t rows, int64_t cols) const {
  RAOQ_CHECK(rows >= 0 && cols >= 0 && rows * cols == numel(), "as_matrix: ", rows, "x", cols,
             " does not match ", numel(), " elements of ", shape_str(shape()));
  return MatrixMapRM(data(), rows, cols);
}

float Tensor::item() const {
  RAOQ_CHECK(numel() == 1, "item: tensor '", name(), "' has shape ", shape_str(shape()), ", not one element");
  return data()[0];
}

float Tensor::at(std::initializer_list<int64_t> index) const {
  RAOQ_CHECK(static_cast<int64_t>(index.size()) == dim(), "at: ", index.size(), " indices for shape ",
             shape_str(shape()));
  int64_t offset = 0, d = 0;
  for (int64_t i : index) {
    RAOQ_CHECK(i >= 0 && i < shape()[d], "at: index ", i, " out of range for dimension ", d, " of ",
               shape_str(shape()));
    offset = offset * shape()[d] + i;
    ++d;
  }
  return data()[offset];
}

std::vector<float> Tensor::to_vector() const { return std::vector<float>(data(), data() + numel()); }

const std::string& Tensor::name() const { return checked().name; }

Tensor& Tensor::set_name(std::string name) {
  checked().name = std::move(name);
  return *this;
}

bool Tensor::requires_grad() const { return checked().requires_grad; }

Tensor& Tensor::set_requires_grad(bool flag) {
  RAOQ_CHECK(is_leaf(), "set_requires_grad: '", name(), "' was produced by '", grad_fn()->op,
             "'; only leaf tensors can change requires_grad (use detach())");
  checked().requires_grad = flag;
  return *this;
}

bool Tensor::is_leaf() const { return checked().grad_fn == nullptr; }

const std::shared_ptr<Node>& Tensor::grad_fn() const { return checked().grad_fn; }

Tensor Tensor::grad() const { return Tensor(checked().grad); }

void Tensor::set_grad(const Tensor& grad) {
  if (grad.defined())
    RAOQ_CHECK(grad.shape() == shape(), "set_grad: gradient shape ", shape_str(grad.shape()), " != tensor shape ",
               shape_str(shape()));
  checked().grad = grad.impl_;
}

void Tensor::zero_grad() {
  if (checked().grad) Tensor(checked().grad).flat().setZero();
}

void Tensor::retain_grad() {
  checked().retains_grad = true;
}

void Tensor::register_grad_hook(GradHook hook) {
  RAOQ_CHECK(requires_grad(), "register_grad_hook: '", name(), "' does not require grad");
  checked().hooks.push_back(std::move(hook));
}

void Tensor::backward(bool retain_graph) const { autograd::backward(*this, retain_graph); }

Tensor Tensor::detach() const {
  auto impl = std::make_shared<TensorImpl>();
  impl->storage = checked().storage;
  impl->shape = shape();
  impl->name = name();
  return Tensor(impl);
}

Tensor Tensor::clone() const {
  Tensor t = empty(shape());
  std::memcpy(t.data(), data(), static_cast<size_t>(numel()) * sizeof(float));
  t.set_name(name());
  return t;
}

void Tensor::copy_from(const Tensor& src) const {
  RAOQ_CHECK(src.numel() == numel(), "copy_from: ", shape_str(src.shape()), " into ", shape_str(shape()),
             " (element counts differ)");
  if (src.data() != data()) std::memcpy(data(), src.data(), static_cast<size_t>(numel()) * sizeof(float));
}

Tensor Tensor::view_as_shape(const Shape& new_shape) const {
  RAOQ_CHECK(shape_numel(new_shape) == numel(), "view_as_shape: cannot view ", shape_str(shape()), " as ",
             shape_str(new_shape));
  auto impl = std::make_shared<TensorImpl>();
  impl->storage = checked().storage;
  impl->shape = new_shape;
  impl->name = name();
  return Tensor(impl);
}

std::ostream& operator<<(std::ostream& os, const Tensor& t) {
  if (!t.defined()) return os << "Tensor(undefined)";
  os << "Tensor(" << (t.name().empty() ? "" : "'" + t.name() + "' ") << shape_str(t.shape()) << ": ";
  const int64_t n = std::min<int64_t>(t.numel(), 8);
  for (int64_t i = 0; i < n; ++i) os << (i ? ", " : "") << t.data()[i];
  if (t.numel() > n) os << ", ...";
  return os << ")";
}

int64_t first_non_finite(const Tensor& t) {
  if (t.numel() == 0 || t.flat().allFinite()) return -1;
  const float* p = t.data();
  const int64_t n = t.numel();
  for (int64_t i = 0; i < n; ++i)
    if (!std::isfinite(p[i])) return i;
  return -1;
}

}  // namespace raoq
