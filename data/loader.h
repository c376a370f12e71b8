// data/loader.h — batching, seeded shuffling, augmentation, normalisation and background prefetch.
//
//   DataLoader loader(dataset, {.batch_size = 128, .shuffle = true, .seed = 1, .pad_crop = 4, .hflip = true});
//   while (auto batch = loader.next()) train_step(batch->x, batch->y);   // one epoch
//   checkpoint["loader"] = loader.state();                                // resumable mid-epoch
//
// Reproducibility contract: the batches are a pure function of (seed, dataset, options). Each
// epoch draws its permutation and one 64-bit augmentation key from the loader's Generator; each
// example's random transforms (the dataset's own, then pad-crop and flip) draw from a Generator
// seeded by (that key, the example's position in the epoch). So a batch does not depend on
// whether it was prefetched, on raoq's thread count, or on what came before it in the epoch, and
// a loader restored with set_state() continues with exactly the batches an uninterrupted run
// would have produced, bit for bit.
//
// Prefetch: with prefetch > 0 a background thread prepares up to that many batches ahead while
// the current one trains. The thread is stopped and joined when the epoch ends, when it is
// abandoned (end_epoch(), set_state()) and in the destructor. An exception thrown while
// preparing a batch (an unreadable image) is rethrown by the next() that would return it.
//
// What it deliberately does not do: several worker threads, samplers other than shuffle /
// sequential, variable batch shapes.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <exception>
#include <mutex>
#include <nlohmann/json_fwd.hpp>
#include <optional>
#include <thread>
#include <vector>

#include "core/rng.h"
#include "core/tensor.h"
#include "data/dataset.h"

namespace raoq::data {

struct Batch {
  Tensor x;                      // (N, C, H, W), augmented and normalised
  std::vector<int64_t> y;        // (N) class labels
  std::vector<int64_t> indices;  // (N) dataset indices of the examples, for inspection
  int64_t epoch = 0;
  int64_t index = 0;  // batch index within the epoch
};

struct LoaderOptions {
  int64_t batch_size = 32;
  bool shuffle = true;
  bool drop_last = false;  // drop the final short batch of an epoch
  uint64_t seed = 0;
  // Per-channel normalisation x = (v - mean[c]) / stddev[c] of pixels v in [0, 1]; both empty
  // (no normalisation) or both of length C.
  std::vector<float> mean, stddev;
  // Augmentation: pad each side by pad_crop zero pixels and crop back to (H, W) at a random
  // offset (0: off), then mirror left-right with probability 1/2 (hflip). Padding happens before
  // normalisation, so padded pixels read as (0 - mean) / stddev, as in torchvision.
  int64_t pad_crop = 0;
  bool hflip = false;
  int64_t prefetch = 2;  // batches prepared ahead by the background thread; 0 prepares in next()
};

// Where a loader stands: enough to continue the same sequence of batches in a new process.
struct LoaderState {
  int64_t epoch = 0;
  int64_t batch_index = 0;         // batches of `epoch` already handed out
  Generator::State generator{};    // the loader's Generator at the start of `epoch`
  // The options that decide the batch sequence; set_state() refuses a loader that differs.
  int64_t dataset_size = 0;
  int64_t batch_size = 0;
  bool shuffle = true;
  bool drop_last = false;
};
// JSON form (generator words as hex strings, since JSON readers often hold numbers as doubles).
// from_json throws raoq::Error naming a missing or malformed key.
void to_json(nlohmann::json& j, const LoaderState& state);
void from_json(const nlohmann::json& j, LoaderState& state);

class DataLoader {
 public:
  DataLoader(DatasetPtr dataset, LoaderOptions options);
  ~DataLoader();
  DataLoader(const DataLoader&) = delete;
  DataLoader& operator=(const DataLoader&) = delete;

  // The next batch of the current epoch, or nullopt when the epoch is over; after a nullopt the
  // loader stands at the start of the next epoch.
  std::optional<Batch> next();
  // Abandons the rest of the current epoch (stopping the prefetch thread) and moves to the
  // start of the next one.
  void end_epoch();

  int64_t batches_per_epoch() const;
  int64_t epoch() const { return epoch_; }
  int64_t batch_index() const { return batch_; }
  LoaderState state() const;
  // Continues from `state` (same dataset size, batch size, shuffle and drop_last required).
  void set_state(const LoaderState& state);

  const Dataset& dataset() const { return *dataset_; }
  const LoaderOptions& options() const { return options_; }

 private:
  void begin_epoch();                       // draws the permutation and key from gen_
  Batch make_batch(int64_t b) const;        // pure: depends on order_, epoch_key_, b
  void augment(const float* src, Generator& gen, float* dst) const;
  void start_worker();
  void stop_worker();
  void worker_loop(int64_t first);

  DatasetPtr dataset_;
  LoaderOptions options_;
  Shape shape_;  // (C, H, W)
  Generator gen_;
  Generator::State epoch_start_{};
  std::vector<int64_t> order_;  // (dataset size) this epoch's example order
  uint64_t epoch_key_ = 0;
  int64_t epoch_ = 0;
  int64_t batch_ = 0;  // next batch to hand out

  // Prefetch: the worker fills ready_ in batch order; next() takes from the front.
  std::thread worker_;
  std::mutex mutex_;
  std::condition_variable changed_;
  std::deque<Batch> ready_;
  std::exception_ptr worker_error_;
  std::atomic<bool> stop_{false};
};

}  // namespace raoq::data
