// tools/pipeline/evaluate.h — loss and accuracy of a model over a dataset.
#pragma once

#include <cmath>
#include <cstdint>

#include "data/dataset.h"
#include "data/loader.h"
#include "layers/module.h"

namespace raoq::tools {

struct EvalResult {
  double loss = 0.0;       // mean cross-entropy (no label smoothing), per example or per token
  double accuracy = 0.0;   // percent of logit rows whose largest logit is the target
  int64_t examples = 0;    // examples, or scored tokens (per_token)
  double seconds = 0.0;
  bool per_token = false;  // a language model's evaluation: loss per token
  double perplexity() const { return std::exp(loss); }
  double bits_per_token() const { return loss / std::log(2.0); }
};

// Runs the whole dataset in order in eval mode without recording a graph; restores the
// model's train/eval mode afterwards. Data-parallel, each rank runs its contiguous share.
EvalResult evaluate(Module& model, const data::DatasetPtr& dataset, const data::LoaderOptions& options);

// Data-parallel (core/distributed.h): sums each rank's loss sum, correct rows and rows over ranks,
// in rank order; nothing at one rank.
void finish_sums(double* loss_sum, int64_t* correct, int64_t* seen);

// The number of rows of logits (N, K) whose first largest entry is the label.
int64_t count_correct(const Tensor& logits, const std::vector<int64_t>& labels);

}  // namespace raoq::tools
