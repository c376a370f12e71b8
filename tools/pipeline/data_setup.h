// tools/pipeline/data_setup.h — turns the config's data section into datasets and loader options, and
// fills in the model options the data decides (input channels, classes, features).
#pragma once

#include <cstdint>

#include "data/dataset.h"
#include "data/loader.h"
#include "tools/pipeline/config.h"

namespace raoq::tools {

struct DataSplits {
  data::DatasetPtr train;       // after the subset and the validation hold-out
  data::DatasetPtr validation;  // null when validation_split is 0 (best is chosen on test)
  data::DatasetPtr test;
  Shape image_shape;  // (C, H, W)
  int64_t num_classes = 0;
};

// Loads the splits. The subsets and the validation hold-out are drawn from `seed`, so they are
// the same on every run (and on resume). With train_only false the training split is not
// read (evaluation needs the test split alone).
DataSplits load_data(const DataConfig& d, uint64_t seed, bool need_train = true);

// Training: shuffled, augmented. Evaluation: in order, no augmentation. Both normalised.
data::LoaderOptions train_loader_options(const DataConfig& d, int64_t batch_size, uint64_t seed);
data::LoaderOptions eval_loader_options(const DataConfig& d, int64_t batch_size);

// The model description with in_channels / num_classes / in_features taken from the data where
// the config left them out; an option the config did set must agree with the data.
Json resolve_model_for_data(const Json& model_given, const DataSplits& splits);

}  // namespace raoq::tools
