// tests/data/test_dataset.cpp — InMemoryDataset, subset views and the quick-run subset helpers.
#include <algorithm>

#include "data/dataset.h"
#include "tests/data/data_testing.h"
#include "tests/support/testing.h"

using namespace raoq;
using namespace raoq::data;
using namespace raoq::data::testing;
using Catch::Matchers::Contains;

namespace {

// n examples of (1, 2, 2); example i has pixels 4i..4i+3 and label i mod 3.
std::shared_ptr<InMemoryDataset> toy(int64_t n) {
  std::vector<uint8_t> px(static_cast<size_t>(n * 4));
  std::vector<int64_t> labels(static_cast<size_t>(n));
  for (int64_t i = 0; i < n * 4; ++i) px[static_cast<size_t>(i)] = static_cast<uint8_t>(i);
  for (int64_t i = 0; i < n; ++i) labels[static_cast<size_t>(i)] = i % 3;
  return std::make_shared<InMemoryDataset>(std::move(px), std::move(labels), Shape{1, 2, 2}, 3, "toy");
}

}  // namespace

TEST_CASE("dataset: in-memory examples read as floats in [0, 1]", "[data]") {
  const auto ds = toy(5);
  CHECK(ds->size() == 5);
  const Example e = ds->get(2);
  CHECK(e.label == 2);
  CHECK(e.image.shape() == Shape{1, 2, 2});
  CHECK(e.image.to_vector() == std::vector<float>{8.0f / 255, 9.0f / 255, 10.0f / 255, 11.0f / 255});
  CHECK_THAT(error_of([&] { ds->get(5); }), Contains("toy: 5 images [1, 2, 2], 3 classes: index 5 out of range [0, 5)"));
  CHECK_THAT(error_of([&] { ds->get(-1); }), Contains("index -1 out of range"));
}

TEST_CASE("dataset: in-memory construction is validated", "[data]") {
  CHECK_THAT(error_of([] { InMemoryDataset d({1, 2, 3}, {0}, {1, 2, 2}, 2, "short"); }),
             Contains("InMemoryDataset 'short': 3 pixel bytes for 1 labels of images [1, 2, 2], expected 4"));
  CHECK_THAT(error_of([] { InMemoryDataset d({1, 2, 3, 4}, {2}, {1, 2, 2}, 2, "label"); }),
             Contains("InMemoryDataset 'label': label 2 of example 0 outside [0, 2)"));
  CHECK_THAT(error_of([] { InMemoryDataset d({}, {}, {2, 2}, 2, "shape"); }), Contains("image shape must be (C, H, W)"));
  CHECK_THAT(error_of([] { InMemoryDataset d({}, {}, {1, 2, 2}, 0, "classes"); }), Contains("num_classes must be positive"));
}

TEST_CASE("dataset: subsets view the base in the given order", "[data]") {
  const auto ds = toy(6);
  const SubsetDataset sub(ds, {4, 1, 4});
  CHECK(sub.size() == 3);
  CHECK(sub.get(0).image.to_vector() == ds->get(4).image.to_vector());
  CHECK(sub.get(1).label == 1);
  CHECK(sub.get(2).label == 1);
  CHECK(sub.describe() == "subset of 3 from (toy: 6 images [1, 2, 2], 3 classes)");
  CHECK_THAT(error_of([&] { SubsetDataset s(ds, {0, 6}); }), Contains("index 6 (entry 1) out of range [0, 6)"));
  CHECK_THAT(error_of([&] { sub.get(3); }), Contains("index 3 out of range [0, 3)"));
}

TEST_CASE("dataset: quick-run subsets (first n, seeded random n)", "[data]") {
  const auto ds = toy(50);
  const auto first = std::dynamic_pointer_cast<const SubsetDataset>(first_n(ds, 4));
  REQUIRE(first);
  CHECK(first->indices() == std::vector<int64_t>{0, 1, 2, 3});
  CHECK(first_n(ds, 500)->size() == 50);  // clamped

  const auto pick = [&](uint64_t seed, int64_t n) {
    return std::dynamic_pointer_cast<const SubsetDataset>(random_subset(ds, n, seed))->indices();
  };
  const std::vector<int64_t> a = pick(7, 10);
  REQUIRE(a.size() == 10);
  CHECK(std::is_sorted(a.begin(), a.end()));
  CHECK(std::adjacent_find(a.begin(), a.end()) == a.end());  // distinct
  CHECK(a.front() >= 0);
  CHECK(a.back() < 50);
  CHECK(pick(7, 10) == a);  // same seed, same subset
  CHECK(pick(8, 10) != a);
  CHECK(pick(7, 50).size() == 50);
  CHECK(pick(7, 80).size() == 50);  // clamped
  CHECK_THAT(error_of([&] { first_n(ds, 0); }), Contains("first_n: n must be positive, got 0"));
  CHECK_THAT(error_of([&] { random_subset(ds, -1, 0); }), Contains("random_subset: n must be positive"));
}
