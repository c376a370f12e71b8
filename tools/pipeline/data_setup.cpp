// tools/pipeline/data_setup.cpp — datasets, subsets, loaders and data-derived model options.
#include "tools/pipeline/data_setup.h"

#include <algorithm>
#include <filesystem>
#include <numeric>

#include "core/error.h"
#include "core/rng.h"
#include "data/cifar10.h"
#include "data/idx.h"
#include "data/image_folder.h"
#include "models/registry.h"

namespace raoq::tools {
namespace {

// What each image kind's root holds, for the error when it names a file instead.
const char* root_contents(const std::string& kind) {
  if (kind == "idx") return "the four MNIST-format files (train-images-idx3-ubyte[.gz], ...)";
  if (kind == "cifar10") return "data_batch_1.bin .. data_batch_5.bin and test_batch.bin";
  return "train/<class>/ and test/<class>/ folders of images";
}

data::DatasetPtr load_split(const DataConfig& d, data::Split split) {
  const bool train = split == data::Split::train;
  std::error_code ec;
  if (std::filesystem::exists(d.root, ec) && !std::filesystem::is_directory(d.root, ec))
    throw Error("config: data.root '" + printable(d.root) + "' is a file, expected a directory holding " + root_contents(d.kind));
  if (d.kind == "idx") {
    const std::string name = std::filesystem::path(d.root).filename().string();
    const std::string hint = d.root == data::kFashionMnistDir ? data::kFashionMnistHint : "";
    return data::load_mnist_family(d.root, split, name, hint);
  }
  if (d.kind == "cifar10") return data::load_cifar10(d.root, split);
  data::ImageFolderOptions o;
  o.size = d.image_size;
  o.channels = static_cast<int>(d.channels);
  o.crop = train ? data::CropMode::random : data::CropMode::center;
  return std::make_shared<data::ImageFolder>(d.root + (train ? "/train" : "/test"), o);
}

std::vector<float> per_channel(const std::vector<double>& v, int64_t channels, const char* key) {
  if (v.empty()) return {};
  RAOQ_CHECK(static_cast<int64_t>(v.size()) == 1 || static_cast<int64_t>(v.size()) == channels,
             "config: data.normalize.", key, " has ", v.size(), " values but the images have ", channels,
             " channels (give 1 or ", channels, ")");
  std::vector<float> out(static_cast<size_t>(channels));
  for (int64_t c = 0; c < channels; ++c) out[c] = static_cast<float>(v.size() == 1 ? v[0] : v[c]);
  return out;
}

void normalisation(const DataConfig& d, data::LoaderOptions& o, int64_t channels) {
  o.mean = per_channel(d.normalize.mean, channels, "mean");
  o.stddev = per_channel(d.normalize.std, channels, "std");
}

}  // namespace

DataSplits load_data(const DataConfig& d, uint64_t seed, bool need_train) {
  DataSplits s;
  s.test = load_split(d, data::Split::test);
  if (d.test_subset > 0) s.test = data::random_subset(s.test, d.test_subset, seed ^ 0x7e57);
  s.image_shape = s.test->image_shape();
  s.num_classes = s.test->num_classes();
  if (!need_train) return s;
  data::DatasetPtr train = load_split(d, data::Split::train);
  RAOQ_CHECK(train->image_shape() == s.image_shape, "data: the training images are ", shape_str(train->image_shape()),
             " but the test images are ", shape_str(s.image_shape));
  s.num_classes = std::max(s.num_classes, train->num_classes());
  if (d.train_subset > 0) train = data::random_subset(train, d.train_subset, seed ^ 0x7a11);
  if (d.validation_split > 0) {
    // A fixed random hold-out: the permutation comes from the seed alone.
    std::vector<int64_t> order(static_cast<size_t>(train->size()));
    std::iota(order.begin(), order.end(), 0);
    Generator gen(seed ^ 0x5a11d);
    for (size_t i = order.size(); i > 1; --i) std::swap(order[i - 1], order[gen.below(i)]);
    const auto held = static_cast<size_t>(static_cast<double>(order.size()) * d.validation_split);
    RAOQ_CHECK(held >= 1 && held < order.size(), "config: data.validation_split ", d.validation_split, " of ",
               order.size(), " training examples leaves an empty split");
    std::vector<int64_t> val(order.begin(), order.begin() + static_cast<int64_t>(held));
    std::vector<int64_t> rest(order.begin() + static_cast<int64_t>(held), order.end());
    std::sort(val.begin(), val.end());
    std::sort(rest.begin(), rest.end());
    s.validation = std::make_shared<data::SubsetDataset>(train, val);
    train = std::make_shared<data::SubsetDataset>(train, rest);
  }
  s.train = train;
  return s;
}

data::LoaderOptions train_loader_options(const DataConfig& d, int64_t batch_size, uint64_t seed) {
  data::LoaderOptions o;
  o.batch_size = batch_size;
  o.shuffle = true;
  o.seed = seed;
  o.pad_crop = d.augment.random_crop_padding;
  o.hflip = d.augment.horizontal_flip;
  normalisation(d, o, d.kind == "idx" ? 1 : d.kind == "cifar10" ? 3 : d.channels);
  return o;
}

data::LoaderOptions eval_loader_options(const DataConfig& d, int64_t batch_size) {
  data::LoaderOptions o;
  o.batch_size = batch_size;
  o.shuffle = false;
  normalisation(d, o, d.kind == "idx" ? 1 : d.kind == "cifar10" ? 3 : d.channels);
  return o;
}

Json resolve_model_for_data(const Json& model_given, const DataSplits& splits) {
  // The options this model reads (defaults included) are the keys of its resolved description.
  const Json defaults = models::validate_model(model_given, "config", "model");
  const int64_t channels = splits.image_shape.at(0);
  const int64_t features = shape_numel(splits.image_shape);
  Json desc = model_given;
  auto fill = [&](const char* key, int64_t value, const std::string& what) {
    if (!defaults.contains(key)) return;
    if (!desc.contains(key)) {
      desc[key] = value;
    } else if (desc[key].is_number_integer() && desc[key].get<int64_t>() != value) {
      throw Error("config: model." + std::string(key) + " is " + desc[key].dump() + " but the data has " +
                  std::to_string(value) + " " + what + " -- leave it out to use the data's");
    }
  };
  fill("in_channels", channels, "channels");
  if (defaults.contains("input_shape")) {
    if (!desc.contains("input_shape"))
      desc["input_shape"] = splits.image_shape;
    else if (desc["input_shape"] != Json(splits.image_shape))
      throw Error("config: model.input_shape is " + desc["input_shape"].dump() + " but the data's images are " +
                  Json(splits.image_shape).dump() + " -- leave it out to use the data's");
  }
  fill("in_features", features, "values per example");
  // More classes than the data has is allowed (a head shared with a larger label set); fewer is not.
  if (defaults.contains("num_classes")) {
    if (!desc.contains("num_classes"))
      desc["num_classes"] = splits.num_classes;
    else if (desc["num_classes"].is_number_integer() && desc["num_classes"].get<int64_t>() < splits.num_classes)
      throw Error("config: model.num_classes is " + desc["num_classes"].dump() + " but the data has " +
                  std::to_string(splits.num_classes) + " classes");
  }
  return models::validate_model(desc, "config", "model");
}

}  // namespace raoq::tools
