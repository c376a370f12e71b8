// data/dataset.cpp — Dataset helpers, InMemoryDataset, SubsetDataset and the quick-run subsets.
#include "data/dataset.h"

#include <algorithm>
#include <numeric>
#include <sstream>

#include "core/error.h"
#include "core/rng.h"

namespace raoq::data {

Example Dataset::get(int64_t i) const {
  Tensor image = Tensor::empty(image_shape());
  const int64_t label = read(i, image.data(), nullptr);
  return {image, label};
}

Example Dataset::get(int64_t i, Generator& gen) const {
  Tensor image = Tensor::empty(image_shape());
  const int64_t label = read(i, image.data(), &gen);
  return {image, label};
}

void Dataset::check_index(int64_t i) const {
  RAOQ_CHECK(i >= 0 && i < size(), describe(), ": index ", i, " out of range [0, ", size(), ")");
}

// ---------------------------------------------------------------- InMemoryDataset

InMemoryDataset::InMemoryDataset(std::vector<uint8_t> pixels, std::vector<int64_t> labels, Shape image_shape,
                                 int64_t num_classes, std::string name)
    : pixels_(std::move(pixels)),
      labels_(std::move(labels)),
      shape_(std::move(image_shape)),
      num_classes_(num_classes),
      name_(std::move(name)) {
  RAOQ_CHECK(shape_.size() == 3 && shape_numel(shape_) > 0, "InMemoryDataset '", name_,
             "': image shape must be (C, H, W) with every size positive, got ", shape_str(shape_));
  RAOQ_CHECK(num_classes_ > 0, "InMemoryDataset '", name_, "': num_classes must be positive, got ", num_classes_);
  const auto per_image = static_cast<size_t>(shape_numel(shape_));
  RAOQ_CHECK(pixels_.size() == labels_.size() * per_image, "InMemoryDataset '", name_, "': ", pixels_.size(),
             " pixel bytes for ", labels_.size(), " labels of images ", shape_str(shape_), ", expected ",
             labels_.size() * per_image);
  for (size_t i = 0; i < labels_.size(); ++i)
    RAOQ_CHECK(labels_[i] >= 0 && labels_[i] < num_classes_, "InMemoryDataset '", name_, "': label ", labels_[i],
               " of example ", i, " outside [0, ", num_classes_, ")");
}

std::string InMemoryDataset::describe() const {
  std::ostringstream os;
  os << name_ << ": " << size() << " images " << shape_str(shape_) << ", " << num_classes_ << " classes";
  return os.str();
}

int64_t InMemoryDataset::read(int64_t i, float* out, Generator*) const {
  check_index(i);
  const int64_t n = shape_numel(shape_);
  const uint8_t* src = pixels_.data() + i * n;
  // Multiply by the float nearest 1/255 would differ from v/255 in the last bit; divide, as
  // torchvision's ToTensor does, so pixel values match a reference pipeline exactly.
  for (int64_t k = 0; k < n; ++k) out[k] = static_cast<float>(src[k]) / 255.0f;
  return labels_[static_cast<size_t>(i)];
}

// ---------------------------------------------------------------- SubsetDataset

SubsetDataset::SubsetDataset(DatasetPtr base, std::vector<int64_t> indices)
    : base_(std::move(base)), indices_(std::move(indices)) {
  RAOQ_CHECK(base_ != nullptr, "SubsetDataset: base dataset is null");
  for (size_t k = 0; k < indices_.size(); ++k)
    RAOQ_CHECK(indices_[k] >= 0 && indices_[k] < base_->size(), "SubsetDataset of ", base_->describe(), ": index ",
               indices_[k], " (entry ", k, ") out of range [0, ", base_->size(), ")");
}

std::string SubsetDataset::describe() const {
  std::ostringstream os;
  os << "subset of " << size() << " from (" << base_->describe() << ")";
  return os.str();
}

int64_t SubsetDataset::read(int64_t i, float* out, Generator* gen) const {
  check_index(i);
  return base_->read(indices_[static_cast<size_t>(i)], out, gen);
}

// ---------------------------------------------------------------- quick-run subsets

DatasetPtr first_n(DatasetPtr base, int64_t n) {
  RAOQ_CHECK(base != nullptr, "first_n: base dataset is null");
  RAOQ_CHECK(n > 0, "first_n: n must be positive, got ", n);
  std::vector<int64_t> indices(static_cast<size_t>(std::min(n, base->size())));
  std::iota(indices.begin(), indices.end(), int64_t{0});
  return std::make_shared<SubsetDataset>(std::move(base), std::move(indices));
}

DatasetPtr random_subset(DatasetPtr base, int64_t n, uint64_t seed) {
  RAOQ_CHECK(base != nullptr, "random_subset: base dataset is null");
  RAOQ_CHECK(n > 0, "random_subset: n must be positive, got ", n);
  const int64_t total = base->size();
  n = std::min(n, total);
  // Partial Fisher-Yates: the first n slots end up holding a uniform sample without repeats.
  std::vector<int64_t> all(static_cast<size_t>(total));
  std::iota(all.begin(), all.end(), int64_t{0});
  Generator gen(seed);
  for (int64_t k = 0; k < n; ++k) {
    const auto j = k + static_cast<int64_t>(gen.below(static_cast<uint64_t>(total - k)));
    std::swap(all[static_cast<size_t>(k)], all[static_cast<size_t>(j)]);
  }
  all.resize(static_cast<size_t>(n));
  std::sort(all.begin(), all.end());
  return std::make_shared<SubsetDataset>(std::move(base), std::move(all));
}

}  // namespace raoq::data
