// data/loader.cpp — DataLoader: epoch order, per-example random streams, augmentation, prefetch.
#include "data/loader.h"

#include <algorithm>
#include <nlohmann/json.hpp>
#include <numeric>

#include "core/error.h"
#include "data/detail/state_json.h"

namespace raoq::data {
namespace {

// Seeds an example's random stream from the epoch key and its position in the epoch. The
// Generator runs the seed through splitmix64, so neighbouring positions get unrelated streams.
uint64_t example_seed(uint64_t epoch_key, int64_t position) {
  return epoch_key ^ ((static_cast<uint64_t>(position) + 1) * 0x9e3779b97f4a7c15ULL);
}

}  // namespace

// ---------------------------------------------------------------- LoaderState <-> JSON

void to_json(nlohmann::json& j, const LoaderState& s) {
  const nlohmann::json words = detail::generator_to_json(s.generator);
  j = {{"epoch", s.epoch},          {"batch_index", s.batch_index}, {"generator", words},
       {"dataset_size", s.dataset_size}, {"batch_size", s.batch_size},   {"shuffle", s.shuffle},
       {"drop_last", s.drop_last}};
}

void from_json(const nlohmann::json& j, LoaderState& s) {
  RAOQ_CHECK(j.is_object(), "loader state: expected a JSON object, got ", j.type_name());
  constexpr const char* what = "loader state";
  s.epoch = detail::state_non_negative(j, what, "epoch");
  s.batch_index = detail::state_non_negative(j, what, "batch_index");
  s.dataset_size = detail::state_non_negative(j, what, "dataset_size");
  s.batch_size = detail::state_non_negative(j, what, "batch_size");
  s.shuffle = detail::state_boolean(j, what, "shuffle");
  s.drop_last = detail::state_boolean(j, what, "drop_last");
  s.generator = detail::generator_from_json(j, what, "generator");
}

// ---------------------------------------------------------------- DataLoader

DataLoader::DataLoader(DatasetPtr dataset, LoaderOptions options)
    : dataset_(std::move(dataset)), options_(std::move(options)) {
  RAOQ_CHECK(dataset_ != nullptr, "DataLoader: dataset is null");
  shape_ = dataset_->image_shape();
  const int64_t n = dataset_->size(), b = options_.batch_size;
  RAOQ_CHECK(shape_.size() == 3, "DataLoader: expected (C, H, W) images, dataset gives ", shape_str(shape_));
  RAOQ_CHECK(n > 0, "DataLoader: dataset is empty (", dataset_->describe(), ")");
  RAOQ_CHECK(b > 0, "DataLoader: batch_size must be positive, got ", b);
  RAOQ_CHECK(!options_.drop_last || b <= n, "DataLoader: drop_last with batch_size ", b, " > dataset size ", n,
             " would yield no batches");
  const auto channels = static_cast<size_t>(shape_[0]);
  RAOQ_CHECK(options_.mean.size() == options_.stddev.size() && (options_.mean.empty() || options_.mean.size() == channels),
             "DataLoader: mean and stddev must both be empty or both hold ", channels, " values (one per channel), got ",
             options_.mean.size(), " and ", options_.stddev.size());
  for (size_t c = 0; c < options_.stddev.size(); ++c)
    RAOQ_CHECK(options_.stddev[c] > 0.0f, "DataLoader: stddev[", c, "] must be positive, got ", options_.stddev[c]);
  RAOQ_CHECK(options_.pad_crop >= 0, "DataLoader: pad_crop must be >= 0, got ", options_.pad_crop);
  RAOQ_CHECK(options_.prefetch >= 0, "DataLoader: prefetch must be >= 0, got ", options_.prefetch);
  gen_.seed_with(options_.seed);
  begin_epoch();
}

DataLoader::~DataLoader() { stop_worker(); }

int64_t DataLoader::batches_per_epoch() const {
  const int64_t n = dataset_->size(), b = options_.batch_size;
  return options_.drop_last ? n / b : (n + b - 1) / b;
}

void DataLoader::begin_epoch() {
  epoch_start_ = gen_.state();
  order_.resize(static_cast<size_t>(dataset_->size()));
  std::iota(order_.begin(), order_.end(), int64_t{0});
  if (options_.shuffle) {
    // Fisher-Yates from the top, drawing j uniformly in [0, i].
    for (size_t i = order_.size() - 1; i > 0; --i) std::swap(order_[i], order_[gen_.below(i + 1)]);
  }
  epoch_key_ = gen_.next_u64();
  batch_ = 0;
}

std::optional<Batch> DataLoader::next() {
  if (batch_ >= batches_per_epoch()) {
    end_epoch();
    return std::nullopt;
  }
  Batch batch;
  if (options_.prefetch == 0) {
    batch = make_batch(batch_);
  } else {
    if (!worker_.joinable()) start_worker();
    std::unique_lock<std::mutex> lock(mutex_);
    changed_.wait(lock, [&] { return !ready_.empty() || worker_error_; });
    if (ready_.empty()) {
      const std::exception_ptr error = worker_error_;
      lock.unlock();
      stop_worker();  // a later next() retries this batch
      std::rethrow_exception(error);
    }
    batch = std::move(ready_.front());
    ready_.pop_front();
    lock.unlock();
    changed_.notify_all();
  }
  RAOQ_CHECK(batch.index == batch_, "DataLoader: internal order error: got batch ", batch.index, ", expected ", batch_);
  ++batch_;
  return batch;
}

void DataLoader::end_epoch() {
  stop_worker();
  ++epoch_;
  begin_epoch();
}

LoaderState DataLoader::state() const {
  return {epoch_, batch_, epoch_start_, dataset_->size(), options_.batch_size, options_.shuffle, options_.drop_last};
}

void DataLoader::set_state(const LoaderState& s) {
  const auto differs = [](const char* what, auto saved, auto here) {
    RAOQ_CHECK(saved == here, "DataLoader::set_state: the state was saved with ", what, " ", saved,
               " but this loader has ", here, "; resuming needs the same value");
  };
  differs("dataset_size", s.dataset_size, dataset_->size());
  differs("batch_size", s.batch_size, options_.batch_size);
  const auto text = [](bool flag) { return std::string(flag ? "true" : "false"); };
  differs("shuffle", text(s.shuffle), text(options_.shuffle));
  differs("drop_last", text(s.drop_last), text(options_.drop_last));
  RAOQ_CHECK(s.epoch >= 0 && s.batch_index >= 0 && s.batch_index <= batches_per_epoch(),
             "DataLoader::set_state: epoch ", s.epoch, ", batch_index ", s.batch_index, " out of range (an epoch has ",
             batches_per_epoch(), " batches)");
  RAOQ_CHECK(s.generator[0] | s.generator[1] | s.generator[2] | s.generator[3],
             "DataLoader::set_state: the generator state is all zeros (not a saved state)");
  stop_worker();
  gen_.set_state(s.generator);
  epoch_ = s.epoch;
  begin_epoch();
  batch_ = s.batch_index;
}

Batch DataLoader::make_batch(int64_t b) const {
  const int64_t n = dataset_->size(), begin = b * options_.batch_size;
  const int64_t count = std::min(options_.batch_size, n - begin);
  const int64_t chw = shape_numel(shape_);
  Batch out;
  out.epoch = epoch_;
  out.index = b;
  out.x = Tensor::empty({count, shape_[0], shape_[1], shape_[2]});  // (N, C, H, W)
  out.y.resize(static_cast<size_t>(count));
  out.indices.resize(static_cast<size_t>(count));
  std::vector<float> raw(static_cast<size_t>(chw));  // (C, H, W) as the dataset gives it
  for (int64_t j = 0; j < count; ++j) {
    if (stop_.load(std::memory_order_relaxed)) break;  // abandoned: the caller discards this batch
    const int64_t position = begin + j;
    const int64_t index = order_[static_cast<size_t>(position)];
    Generator gen(example_seed(epoch_key_, position));
    out.y[static_cast<size_t>(j)] = dataset_->read(index, raw.data(), &gen);
    out.indices[static_cast<size_t>(j)] = index;
    augment(raw.data(), gen, out.x.data() + j * chw);
  }
  return out;
}

// dst(c, y, x) = norm_c(src(c, y + dy, x' + dx)) with x' = W-1-x when flipped, zero outside the
// image: pad by p, crop at offset (dy + p, dx + p), then mirror.
void DataLoader::augment(const float* src, Generator& gen, float* dst) const {
  const int64_t channels = shape_[0], h = shape_[1], w = shape_[2], p = options_.pad_crop;
  int64_t dy = 0, dx = 0;
  if (p > 0) {
    dy = static_cast<int64_t>(gen.below(static_cast<uint64_t>(2 * p + 1))) - p;
    dx = static_cast<int64_t>(gen.below(static_cast<uint64_t>(2 * p + 1))) - p;
  }
  const bool flip = options_.hflip && (gen.next_u64() >> 63) != 0;
  const bool normalise = !options_.mean.empty();
  for (int64_t c = 0; c < channels; ++c) {
    const float mean = normalise ? options_.mean[static_cast<size_t>(c)] : 0.0f;
    const float stddev = normalise ? options_.stddev[static_cast<size_t>(c)] : 1.0f;
    const float* plane = src + c * h * w;  // (H, W)
    float* out = dst + c * h * w;          // (H, W)
    for (int64_t y = 0; y < h; ++y) {
      const int64_t sy = y + dy;
      for (int64_t x = 0; x < w; ++x) {
        const int64_t sx = (flip ? w - 1 - x : x) + dx;
        const float v = (sy >= 0 && sy < h && sx >= 0 && sx < w) ? plane[sy * w + sx] : 0.0f;
        out[y * w + x] = normalise ? (v - mean) / stddev : v;
      }
    }
  }
}

// ---------------------------------------------------------------- prefetch thread

void DataLoader::start_worker() {
  stop_.store(false);
  worker_ = std::thread(&DataLoader::worker_loop, this, batch_);
}

void DataLoader::stop_worker() {
  {
    const std::lock_guard<std::mutex> lock(mutex_);
    stop_.store(true);
  }
  changed_.notify_all();
  if (worker_.joinable()) worker_.join();
  const std::lock_guard<std::mutex> lock(mutex_);
  ready_.clear();
  worker_error_ = nullptr;
  stop_.store(false);
}

void DataLoader::worker_loop(int64_t first) {
  const int64_t end = batches_per_epoch();
  for (int64_t b = first; b < end; ++b) {
    {
      std::unique_lock<std::mutex> lock(mutex_);
      changed_.wait(lock, [&] { return stop_.load() || static_cast<int64_t>(ready_.size()) < options_.prefetch; });
      if (stop_.load()) return;
    }
    Batch batch;
    try {
      batch = make_batch(b);
    } catch (...) {
      {
        const std::lock_guard<std::mutex> lock(mutex_);
        worker_error_ = std::current_exception();
      }
      changed_.notify_all();
      return;
    }
    {
      const std::lock_guard<std::mutex> lock(mutex_);
      if (stop_.load()) return;
      ready_.push_back(std::move(batch));
    }
    changed_.notify_all();
  }
}

}  // namespace raoq::data
