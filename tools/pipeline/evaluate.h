// tools/pipeline/evaluate.h — loss and accuracy of a model over a dataset.
#pragma once

#include <cstdint>

#include "data/dataset.h"
#include "data/loader.h"
#include "layers/module.h"

namespace raoq::tools {

struct EvalResult {
  double loss = 0.0;      // mean cross-entropy (no label smoothing)
  double accuracy = 0.0;  // percent of examples whose largest logit is the label
  int64_t examples = 0;
  double seconds = 0.0;
};

// Runs the whole dataset in order in eval mode without recording a graph; restores the
// model's train/eval mode afterwards.
EvalResult evaluate(Module& model, const data::DatasetPtr& dataset, const data::LoaderOptions& options);

// The number of rows of logits (N, K) whose first largest entry is the label.
int64_t count_correct(const Tensor& logits, const std::vector<int64_t>& labels);

}  // namespace raoq::tools
