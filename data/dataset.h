// data/dataset.h — the Dataset interface, an in-memory dataset of uint8 pixels, and subset views.
//
// A dataset is a fixed-size, indexable collection of (image, label) pairs; every image has the
// same (C, H, W) shape and reads back as floats in [0, 1]. Datasets are immutable after
// construction and read() is safe to call from several threads at once (the data loader reads
// from a background thread). Random transforms that belong to a dataset (an image folder's random
// crop) draw from the Generator passed to read(), never from a generator of their own, so the
// loader decides the random stream and a run is reproducible.
//
// What it deliberately does not do: variable-size images, non-image inputs, labels other than a
// class index.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "core/tensor.h"

namespace raoq {
class Generator;
}

namespace raoq::data {

enum class Split { train, test };

struct Example {
  Tensor image;       // (C, H, W) floats in [0, 1]
  int64_t label = 0;  // in [0, num_classes)
};

class Dataset {
 public:
  virtual ~Dataset() = default;
  virtual int64_t size() const = 0;
  virtual Shape image_shape() const = 0;  // (C, H, W), the same for every example
  virtual int64_t num_classes() const = 0;
  // One line for logs: "fashion-mnist/test: 10000 images (1, 28, 28), 10 classes".
  virtual std::string describe() const = 0;

  // Writes example i's pixels, (C, H, W) floats in [0, 1], to out (C*H*W floats) and returns its
  // label. gen feeds random transforms; with gen == nullptr the deterministic variant is used
  // (e.g. a centre crop). requires: 0 <= i < size(). Thread-safe.
  virtual int64_t read(int64_t i, float* out, Generator* gen) const = 0;

  // read() into a fresh (C, H, W) tensor.
  Example get(int64_t i) const;
  Example get(int64_t i, Generator& gen) const;

 protected:
  // Throws "<describe()>: index i out of range [0, size)" unless 0 <= i < size().
  void check_index(int64_t i) const;
};

using DatasetPtr = std::shared_ptr<const Dataset>;

// Images held as uint8 (N, C, H, W), labels as int64 (N). The loaders for IDX and CIFAR-10 files
// return one of these.
class InMemoryDataset : public Dataset {
 public:
  // requires: pixels.size() == labels.size() * C * H * W; every label in [0, num_classes).
  InMemoryDataset(std::vector<uint8_t> pixels, std::vector<int64_t> labels, Shape image_shape, int64_t num_classes,
                  std::string name);

  int64_t size() const override { return static_cast<int64_t>(labels_.size()); }
  Shape image_shape() const override { return shape_; }
  int64_t num_classes() const override { return num_classes_; }
  std::string describe() const override;
  int64_t read(int64_t i, float* out, Generator* gen) const override;

  const std::vector<uint8_t>& pixels() const { return pixels_; }  // (N, C, H, W)
  const std::vector<int64_t>& labels() const { return labels_; }  // (N)
  const std::string& name() const { return name_; }

 private:
  std::vector<uint8_t> pixels_;  // (N, C, H, W)
  std::vector<int64_t> labels_;  // (N)
  Shape shape_;                  // (C, H, W)
  int64_t num_classes_;
  std::string name_;
};

// The examples of `base` at `indices` (in that order; repeats allowed). Keeps base alive.
class SubsetDataset : public Dataset {
 public:
  SubsetDataset(DatasetPtr base, std::vector<int64_t> indices);

  int64_t size() const override { return static_cast<int64_t>(indices_.size()); }
  Shape image_shape() const override { return base_->image_shape(); }
  int64_t num_classes() const override { return base_->num_classes(); }
  std::string describe() const override;
  int64_t read(int64_t i, float* out, Generator* gen) const override;

  const std::vector<int64_t>& indices() const { return indices_; }
  const Dataset& base() const { return *base_; }

 private:
  DatasetPtr base_;
  std::vector<int64_t> indices_;
};

// Quick-run subsets. n larger than the dataset is clamped to its size; n must be positive.
// first_n: examples 0..n-1. random_subset: n distinct examples drawn with Generator(seed),
// returned in increasing index order (so reading them walks the base forward).
DatasetPtr first_n(DatasetPtr base, int64_t n);
DatasetPtr random_subset(DatasetPtr base, int64_t n, uint64_t seed);

}  // namespace raoq::data
