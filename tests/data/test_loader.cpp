// tests/data/test_loader.cpp — DataLoader: epoch coverage, shuffling, drop_last, normalisation,
// augmentation, independence from prefetch and thread count, bitwise resume from a saved state,
// clean shutdown, and error propagation from the prefetch thread.
#include <algorithm>
#include <chrono>
#include <cstring>
#include <nlohmann/json.hpp>
#include <numeric>
#include <set>
#include <thread>
#include <tuple>

#include "core/parallel.h"
#include "core/rng.h"
#include "data/loader.h"
#include "tests/data/data_testing.h"
#include "tests/support/testing.h"

using namespace raoq;
using namespace raoq::data;
using namespace raoq::data::testing;
using Catch::Matchers::Contains;

namespace {

// 23 examples of (2, 5, 4) with seeded random pixels and labels i mod 7.
std::shared_ptr<InMemoryDataset> random_images(int64_t n = 23) {
  Generator gen(42);
  std::vector<uint8_t> px(static_cast<size_t>(n * 40));
  for (auto& p : px) p = static_cast<uint8_t>(gen.below(256));
  std::vector<int64_t> labels(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) labels[static_cast<size_t>(i)] = i % 7;
  return std::make_shared<InMemoryDataset>(std::move(px), std::move(labels), Shape{2, 5, 4}, 7, "random");
}

// A dataset whose read() fails at one index, or sleeps, to exercise the prefetch thread.
class Faulty : public Dataset {
 public:
  Faulty(DatasetPtr base, int64_t bad, int sleep_us = 0) : base_(std::move(base)), bad_(bad), sleep_us_(sleep_us) {}
  int64_t size() const override { return base_->size(); }
  Shape image_shape() const override { return base_->image_shape(); }
  int64_t num_classes() const override { return base_->num_classes(); }
  std::string describe() const override { return "faulty"; }
  int64_t read(int64_t i, float* out, Generator* gen) const override {
    if (sleep_us_ > 0) std::this_thread::sleep_for(std::chrono::microseconds(sleep_us_));
    RAOQ_CHECK(i != bad_, "faulty: cannot read example ", i);
    return base_->read(i, out, gen);
  }

 private:
  DatasetPtr base_;
  int64_t bad_;
  int sleep_us_;
};

bool same_batch(const Batch& a, const Batch& b) {
  return a.epoch == b.epoch && a.index == b.index && a.y == b.y && a.indices == b.indices && a.x.shape() == b.x.shape() &&
         std::memcmp(a.x.data(), b.x.data(), sizeof(float) * static_cast<size_t>(a.x.numel())) == 0;
}

// Every batch of the loader's next `epochs` epochs.
std::vector<Batch> run(DataLoader& loader, int epochs) {
  std::vector<Batch> out;
  for (int e = 0; e < epochs; ++e)
    while (auto batch = loader.next()) out.push_back(std::move(*batch));
  return out;
}

LoaderOptions augmenting(int64_t prefetch) {
  LoaderOptions o;
  o.batch_size = 5;
  o.seed = 3;
  o.mean = {0.5f, 0.25f};
  o.stddev = {0.5f, 2.0f};
  o.pad_crop = 2;
  o.hflip = true;
  o.prefetch = prefetch;
  return o;
}

}  // namespace

TEST_CASE("loader: an epoch visits every example once, in a fresh order each epoch", "[data]") {
  const auto ds = random_images();
  LoaderOptions o;
  o.batch_size = 5;
  o.seed = 11;
  DataLoader loader(ds, o);
  CHECK(loader.batches_per_epoch() == 5);
  std::vector<std::vector<int64_t>> orders;
  for (int epoch = 0; epoch < 2; ++epoch) {
    std::vector<int64_t> order;
    std::vector<int64_t> sizes;
    while (auto batch = loader.next()) {
      CHECK(batch->epoch == epoch);
      sizes.push_back(batch->x.size(0));
      for (size_t j = 0; j < batch->indices.size(); ++j) {
        const Example e = ds->get(batch->indices[j]);
        REQUIRE(batch->y[j] == e.label);
        REQUIRE(std::memcmp(batch->x.data() + j * 40, e.image.data(), 40 * sizeof(float)) == 0);
        order.push_back(batch->indices[j]);
      }
    }
    CHECK(sizes == std::vector<int64_t>{5, 5, 5, 5, 3});
    CHECK(loader.epoch() == epoch + 1);
    std::vector<int64_t> sorted = order;
    std::sort(sorted.begin(), sorted.end());
    std::vector<int64_t> all(23);
    std::iota(all.begin(), all.end(), int64_t{0});
    CHECK(sorted == all);
    CHECK(order != all);  // shuffled
    orders.push_back(order);
  }
  CHECK(orders[0] != orders[1]);

  o.shuffle = false;
  o.drop_last = true;
  DataLoader sequential(ds, o);
  CHECK(sequential.batches_per_epoch() == 4);
  const std::vector<Batch> batches = run(sequential, 1);
  REQUIRE(batches.size() == 4);
  CHECK(batches[3].indices == std::vector<int64_t>{15, 16, 17, 18, 19});
}

TEST_CASE("loader: the same seed gives the same batches, another seed another order", "[data]") {
  const auto ds = random_images();
  LoaderOptions o = augmenting(0);
  DataLoader a(ds, o), b(ds, o);
  o.seed = 4;
  DataLoader c(ds, o);
  const auto ba = run(a, 2), bb = run(b, 2), bc = run(c, 2);
  REQUIRE(ba.size() == bb.size());
  for (size_t k = 0; k < ba.size(); ++k) REQUIRE(same_batch(ba[k], bb[k]));
  CHECK(ba[0].indices != bc[0].indices);
}

TEST_CASE("loader: normalisation and pad-crop/flip augmentation are what they claim", "[data]") {
  const auto ds = random_images();
  const LoaderOptions o = augmenting(1);
  DataLoader loader(ds, o);
  std::set<std::tuple<int64_t, int64_t, bool>> seen;
  for (const Batch& batch : run(loader, 2)) {
    for (size_t j = 0; j < batch.indices.size(); ++j) {
      const Example e = ds->get(batch.indices[j]);
      const float* got = batch.x.data() + j * 40;
      // Find the shift and flip that reproduce this example exactly (zero padding, then normalise).
      bool found = false;
      for (int64_t dy = -2; dy <= 2 && !found; ++dy)
        for (int64_t dx = -2; dx <= 2 && !found; ++dx)
          for (const bool flip : {false, true}) {
            bool match = true;
            for (int64_t c = 0; c < 2 && match; ++c)
              for (int64_t y = 0; y < 5 && match; ++y)
                for (int64_t x = 0; x < 4 && match; ++x) {
                  const int64_t sy = y + dy, sx = (flip ? 3 - x : x) + dx;
                  const float v = (sy >= 0 && sy < 5 && sx >= 0 && sx < 4) ? e.image.at({c, sy, sx}) : 0.0f;
                  match = got[(c * 5 + y) * 4 + x] == (v - o.mean[c]) / o.stddev[c];
                }
            if (match) {
              found = true;
              seen.insert({dy, dx, flip});
              break;
            }
          }
      REQUIRE(found);
    }
  }
  // 46 draws over 50 combinations: most must appear, both flips included.
  CHECK(seen.size() >= 20);
  CHECK(std::any_of(seen.begin(), seen.end(), [](const auto& s) { return std::get<2>(s); }));
  CHECK(std::any_of(seen.begin(), seen.end(), [](const auto& s) { return !std::get<2>(s); }));
}

TEST_CASE("loader: batches do not depend on prefetching or on the thread count", "[data]") {
  const auto ds = random_images();
  const raoq::testing::ThreadCountGuard restore;
  set_num_threads(1);
  DataLoader reference(ds, augmenting(0));
  const std::vector<Batch> expected = run(reference, 2);
  for (const int threads : {1, 2}) {
    for (const int64_t prefetch : {1, 3, 8}) {
      INFO("threads " << threads << ", prefetch " << prefetch);
      set_num_threads(threads);
      DataLoader loader(ds, augmenting(prefetch));
      const std::vector<Batch> got = run(loader, 2);
      REQUIRE(got.size() == expected.size());
      for (size_t k = 0; k < got.size(); ++k) REQUIRE(same_batch(got[k], expected[k]));
    }
  }
}

TEST_CASE("loader: a restored state continues with bitwise the same batches", "[data]") {
  const auto ds = random_images();
  DataLoader uninterrupted(ds, augmenting(2));
  const std::vector<Batch> expected = run(uninterrupted, 3);  // 15 batches over 3 epochs
  const int64_t per_epoch = uninterrupted.batches_per_epoch();
  for (const int64_t stop_after : {int64_t{0}, int64_t{3}, per_epoch, per_epoch + 2}) {
    INFO("stop after " << stop_after << " batches");
    std::string saved;
    {
      DataLoader first(ds, augmenting(2));
      for (int64_t k = 0; k < stop_after; ++k) {
        auto batch = first.next();
        if (!batch) batch = first.next();  // crossed an epoch boundary
        REQUIRE(batch);
        REQUIRE(same_batch(*batch, expected[static_cast<size_t>(k)]));
      }
      saved = nlohmann::json(first.state()).dump();  // the loader is destroyed with batches in flight
    }
    DataLoader resumed(ds, augmenting(stop_after % 2 == 0 ? 0 : 3));
    resumed.set_state(nlohmann::json::parse(saved).get<LoaderState>());
    std::vector<Batch> rest;
    while (static_cast<int64_t>(rest.size()) + stop_after < static_cast<int64_t>(expected.size())) {
      auto batch = resumed.next();
      if (batch) rest.push_back(std::move(*batch));
    }
    for (size_t k = 0; k < rest.size(); ++k) REQUIRE(same_batch(rest[k], expected[static_cast<size_t>(stop_after) + k]));
  }
}

TEST_CASE("loader: abandoning an epoch moves on to the same next epoch", "[data]") {
  const auto ds = random_images();
  DataLoader full(ds, augmenting(2));
  const std::vector<Batch> expected = run(full, 2);
  DataLoader loader(ds, augmenting(2));
  REQUIRE(loader.next());
  loader.end_epoch();  // the prefetch thread holds batches of epoch 0: they are dropped
  CHECK(loader.epoch() == 1);
  CHECK(loader.batch_index() == 0);
  const auto batch = loader.next();
  REQUIRE(batch);
  CHECK(same_batch(*batch, expected[static_cast<size_t>(full.batches_per_epoch())]));
  // A slow dataset: the destructor stops the worker mid-batch without waiting for the epoch.
  LoaderOptions slow = augmenting(4);
  slow.batch_size = 2;
  DataLoader slow_loader(std::make_shared<Faulty>(ds, -1, 500), slow);
  REQUIRE(slow_loader.next());
}

TEST_CASE("loader: a failure while preparing a batch surfaces at that batch", "[data]") {
  const auto ds = random_images();
  for (const int64_t prefetch : {0, 2}) {
    INFO("prefetch " << prefetch);
    LoaderOptions o;
    o.batch_size = 4;
    o.shuffle = false;
    o.prefetch = prefetch;
    DataLoader loader(std::make_shared<Faulty>(ds, 9), o);
    REQUIRE(loader.next());
    REQUIRE(loader.next());  // examples 4..7
    CHECK_THAT(error_of([&] { loader.next(); }), Contains("faulty: cannot read example 9"));
    CHECK(loader.batch_index() == 2);
    CHECK_THAT(error_of([&] { loader.next(); }), Contains("faulty: cannot read example 9"));  // retried, same error
  }
}

TEST_CASE("loader: options and states are validated", "[data]") {
  const auto ds = random_images();
  const auto make = [&](LoaderOptions o) { return error_of([&] { DataLoader loader(ds, o); }); };
  LoaderOptions o;
  o.batch_size = 0;
  CHECK_THAT(make(o), Contains("batch_size must be positive, got 0"));
  o.batch_size = 30;
  o.drop_last = true;
  CHECK_THAT(make(o), Contains("drop_last with batch_size 30 > dataset size 23 would yield no batches"));
  o = {};
  o.mean = {0.5f};
  o.stddev = {0.5f};
  CHECK_THAT(make(o), Contains("mean and stddev must both be empty or both hold 2 values"));
  o.mean = {0.5f, 0.5f};
  o.stddev = {0.5f, 0.0f};
  CHECK_THAT(make(o), Contains("stddev[1] must be positive"));

  DataLoader loader(ds, {});
  LoaderState s = loader.state();
  s.batch_size = 8;
  CHECK_THAT(error_of([&] { loader.set_state(s); }),
             Contains("the state was saved with batch_size 8 but this loader has 32; resuming needs the same value"));
  s = loader.state();
  s.shuffle = false;
  CHECK_THAT(error_of([&] { loader.set_state(s); }), Contains("saved with shuffle false but this loader has true"));
  s = loader.state();
  s.batch_index = 2;
  CHECK_THAT(error_of([&] { loader.set_state(s); }), Contains("batch_index 2 out of range (an epoch has 1 batches)"));

  nlohmann::json j = loader.state();
  CHECK(j["generator"][0].get<std::string>().rfind("0x", 0) == 0);
  j.erase("epoch");
  CHECK_THAT(error_of([&] { j.get<LoaderState>(); }), Contains("loader state: key 'epoch' is missing"));
  j = loader.state();
  j["generator"][2] = "0xzz";
  CHECK_THAT(error_of([&] { j.get<LoaderState>(); }), Contains("loader state: 'generator'[2] must be a hex string"));
  j = loader.state();
  j["batch_index"] = -1;
  CHECK_THAT(error_of([&] { j.get<LoaderState>(); }), Contains("'batch_index' must be a non-negative integer, got -1"));
}
