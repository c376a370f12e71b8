// tools/pipeline/task_image.cpp — image classification as a Task (task.h): the datasets and
// loaders of data_setup.h behind the trainer's interface.
#include <utility>

#include "core/error.h"
#include "data/loader.h"
#include "tools/pipeline/data_setup.h"
#include "tools/pipeline/task.h"

namespace raoq::tools {
namespace {

class ImageStream : public BatchStream {
 public:
  ImageStream(data::DatasetPtr train, data::LoaderOptions options) : loader_(std::move(train), std::move(options)) {}
  std::optional<StepBatch> next() override {
    auto b = loader_.next();
    if (!b) return std::nullopt;
    return StepBatch{b->x, std::move(b->y), {}};
  }
  int64_t batches_per_epoch() const override { return loader_.batches_per_epoch(); }
  int64_t batch_index() const override { return loader_.batch_index(); }
  Json state() const override {
    nlohmann::json j;
    data::to_json(j, loader_.state());
    return Json::parse(j.dump());
  }
  void set_state(const Json& state) override {
    data::LoaderState s;
    data::from_json(nlohmann::json::parse(state.dump()), s);
    loader_.set_state(s);
  }

 private:
  data::DataLoader loader_;
};

class ImageTask : public Task {
 public:
  ImageTask(DataConfig d, uint64_t seed, bool need_train) : d_(std::move(d)), splits_(load_data(d_, seed, need_train)) {}
  std::string describe() const override {
    std::string s = splits_.train ? splits_.train->describe() : "";
    if (splits_.validation) s += "; validation: " + splits_.validation->describe();
    return s + (s.empty() ? "" : "; test: ") + splits_.test->describe();
  }
  bool has_validation() const override { return splits_.validation != nullptr; }
  std::unique_ptr<BatchStream> train_batches(int64_t batch_size, uint64_t seed) const override {
    RAOQ_CHECK(splits_.train, "train: internal: the training split was not loaded");
    return std::make_unique<ImageStream>(splits_.train, train_loader_options(d_, batch_size, seed));
  }
  EvalResult evaluate(Module& model, EvalSplit split, int64_t batch_size) const override {
    const auto& set = split == EvalSplit::validation && splits_.validation ? splits_.validation : splits_.test;
    return tools::evaluate(model, set, eval_loader_options(d_, batch_size));
  }
  Json resolve_model(const Json& model_given) const override { return resolve_model_for_data(model_given, splits_); }
  bool language_model() const override { return false; }

 private:
  DataConfig d_;
  DataSplits splits_;
};

}  // namespace

std::unique_ptr<Task> make_image_task(const DataConfig& d, uint64_t seed, bool need_train) {
  return std::make_unique<ImageTask>(d, seed, need_train);
}

}  // namespace raoq::tools
