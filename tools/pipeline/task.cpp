// tools/pipeline/task.cpp — the task choice, its results metric, and the loss on logit rows (task.h).
#include "tools/pipeline/task.h"

#include "core/ops.h"

namespace raoq::tools {

std::unique_ptr<Task> make_task(const DataConfig& d, uint64_t seed, bool need_train) {
  if (d.kind == "text") return make_text_task(d, seed, need_train);
  return make_image_task(d, seed, need_train);
}

std::string result_metric(const Task& task) { return task.language_model() ? "test_perplexity" : "test_accuracy"; }

double result_value(const Task& task, const EvalResult& r) {
  return task.language_model() ? r.perplexity() : r.accuracy;
}

bool better(const Task& task, const EvalResult& a, double b_value) {
  // A first evaluation always wins: b_value starts below any accuracy (-1) and any perplexity.
  if (task.language_model()) return b_value < 0 || a.perplexity() < b_value;
  return a.accuracy > b_value;
}

Tensor row_logits(const Tensor& logits) {
  if (logits.dim() == 2) return logits;
  return ops::reshape(logits, {-1, logits.size(-1)});
}

Tensor batch_loss(Module& model, const StepBatch& batch, float label_smoothing, Tensor* logits) {
  Tensor rows = row_logits(model.forward(batch.x));  // (N or B*T, K)
  if (!batch.rows.empty())  // a masked LM: only the chosen positions are scored (a differentiable row gather)
    rows = ops::embedding(rows, batch.rows, {static_cast<int64_t>(batch.rows.size())});
  if (logits) *logits = rows;
  return ops::cross_entropy(rows, batch.y, label_smoothing);
}

}  // namespace raoq::tools
