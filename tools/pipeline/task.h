// tools/pipeline/task.h — what a run trains on, behind one interface: image classification (data
// kinds idx, cifar10, folder) or language modelling (data kind text). The trainer, `raoq eval` and
// `raoq inspect` see only this: a stage's training batches, the evaluation of a split, and the
// model options the data decides.
//
//   classification   x: (N, C, H, W) images    y: (N) labels         logits (N, K)
//   language model   x: (B, T) token ids       y: (B*T) next tokens  logits (B, T, V)
//   masked LM        x: (B, T) corrupted ids   y: (n) original ids at the n chosen positions, rows:
//                    those positions (BERT's 15%, 80/10/10: models/bert.h), logits (B, T, V + 1)
// Both score the logits viewed as rows (row_logits: (N or B*T, K)), one target per row, with the
// mean cross-entropy; a language model reports it per token, with perplexity exp(loss) and bits
// per token loss / ln 2. Token ids enter the model as whole numbers held in float (the Embedding
// layer's input).
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "core/json_fields.h"
#include "core/tensor.h"
#include "data/text_tokenizer.h"
#include "layers/module.h"
#include "tools/pipeline/config.h"
#include "tools/pipeline/evaluate.h"

namespace raoq::tools {

struct StepBatch {
  Tensor x;                   // the model's input
  std::vector<int64_t> y;     // one target per scored logit row
  std::vector<int64_t> rows;  // the scored rows of the logits (a masked LM's chosen positions); empty: all
};

// One stage's training batches, resumable from state().
class BatchStream {
 public:
  virtual ~BatchStream() = default;
  virtual std::optional<StepBatch> next() = 0;  // nullopt: the epoch is over (the next call starts the next)
  virtual int64_t batches_per_epoch() const = 0;
  virtual int64_t batch_index() const = 0;  // batches of the current epoch handed out
  virtual Json state() const = 0;
  virtual void set_state(const Json& state) = 0;
};

enum class EvalSplit { validation, test };

class Task {
 public:
  virtual ~Task() = default;
  virtual std::string describe() const = 0;  // "data: ..." line of the log
  virtual bool has_validation() const = 0;   // false: the best checkpoint is chosen on test
  virtual std::unique_ptr<BatchStream> train_batches(int64_t batch_size, uint64_t seed) const = 0;
  // The whole split in order, in eval mode, without a graph; restores train/eval mode.
  virtual EvalResult evaluate(Module& model, EvalSplit split, int64_t batch_size) const = 0;
  // The model description with the options the data decides filled in (channels, classes,
  // vocabulary, context); an option the config set must agree with the data.
  virtual Json resolve_model(const Json& model_given) const = 0;
  // Fills in what the data decided and a later run must reuse (a character vocabulary).
  virtual void resolve_data(DataConfig& /*d*/) const {}
  virtual bool language_model() const = 0;
};

// need_train false: the training split is not prepared (evaluation only).
std::unique_ptr<Task> make_task(const DataConfig& d, uint64_t seed, bool need_train = true);

// The metric of a task's results rows and the value a row holds: test accuracy in percent, or
// test perplexity for a language model; `better` says whether a is better than b by it.
std::string result_metric(const Task& task);
double result_value(const Task& task, const EvalResult& r);
bool better(const Task& task, const EvalResult& a, double b_value);

// logits (..., K) as rows (numel / K, K); a 2-D tensor as it is.
Tensor row_logits(const Tensor& logits);
// Mean cross-entropy of the model's logits on a batch (over batch.rows when given); `logits`
// receives the scored rows.
Tensor batch_loss(Module& model, const StepBatch& batch, float label_smoothing, Tensor* logits = nullptr);

// The tokenizer a text run uses: bytes, or the character vocabulary its resolved config stores
// (built from the training split when the config has none).
data::TextTokenizer text_tokenizer(const DataConfig& d, uint64_t seed);

std::unique_ptr<Task> make_image_task(const DataConfig& d, uint64_t seed, bool need_train);  // task_image.cpp
std::unique_ptr<Task> make_text_task(const DataConfig& d, uint64_t seed, bool need_train);   // task_text.cpp

}  // namespace raoq::tools
