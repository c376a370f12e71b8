// tests/optim/test_learning.cpp — end-to-end: layers + autograd + optimizers learn small
// problems to 100% training accuracy, and a training run is bitwise reproducible.
#include <cstring>

#include "core/autograd.h"
#include "core/ops.h"
#include "core/parallel.h"
#include "core/rng.h"
#include "layers/layers.h"
#include "optim/adamw.h"
#include "optim/schedule.h"
#include "optim/sgd.h"
#include "tests/support/testing.h"

using namespace raoq;

namespace {
// Fraction of rows of logits (N, C) whose arg-max equals the target.
double accuracy(const Tensor& logits, const std::vector<int64_t>& targets) {
  const int64_t n = logits.size(0), c = logits.size(1);
  int64_t right = 0;
  for (int64_t i = 0; i < n; ++i) {
    int64_t best = 0;
    for (int64_t j = 1; j < c; ++j)
      if (logits.data()[i * c + j] > logits.data()[i * c + best]) best = j;
    right += best == targets[static_cast<size_t>(i)];
  }
  return static_cast<double>(right) / static_cast<double>(n);
}

std::shared_ptr<Sequential> make_mlp() {
  return std::make_shared<Sequential>(std::initializer_list<std::shared_ptr<Module>>{
      std::make_shared<Linear>(2, 16), std::make_shared<ReLU>(), std::make_shared<Linear>(16, 2)});
}

// Trains on XOR (full batch) and returns the final accuracy in eval mode.
double train_xor(Optimizer& opt, Module& model, int steps) {
  const Tensor x = Tensor::from_vector({0, 0, 0, 1, 1, 0, 1, 1}, {4, 2});
  const std::vector<int64_t> y{0, 1, 1, 0};
  for (int s = 0; s < steps; ++s) {
    opt.zero_grad();
    ops::cross_entropy(model.forward(x), y).backward();
    opt.step();
  }
  model.eval();
  const autograd::NoGradGuard no_grad;
  return accuracy(model.forward(x), y);
}

// 8x8 images, 4 classes: class c has a bright 4x4 quadrant c (1 + noise) over N(0, 0.3^2) noise.
struct Images {
  Tensor x;                    // (N, 1, 8, 8)
  std::vector<int64_t> y;      // N
};
Images quadrant_images(int64_t n, uint64_t seed) {
  Generator gen(seed);
  Images d{Tensor::randn({n, 1, 8, 8}, gen, 0.0f, 0.3f), {}};
  for (int64_t i = 0; i < n; ++i) {
    const int64_t c = i % 4, r0 = (c / 2) * 4, c0 = (c % 2) * 4;
    for (int64_t r = r0; r < r0 + 4; ++r)
      for (int64_t k = c0; k < c0 + 4; ++k) d.x.data()[(i * 8 + r) * 8 + k] += 1.0f;
    d.y.push_back(c);
  }
  return d;
}

std::shared_ptr<Sequential> make_cnn() {
  return std::make_shared<Sequential>(std::initializer_list<std::shared_ptr<Module>>{
      std::make_shared<Conv2d>(1, 8, 3, ops::Conv2dOptions{.padding = 1}, false), std::make_shared<BatchNorm2d>(8),
      std::make_shared<ReLU>(), std::make_shared<Conv2d>(8, 8, 3, ops::Conv2dOptions{.padding = 1}, false),
      std::make_shared<BatchNorm2d>(8), std::make_shared<ReLU>(), std::make_shared<MaxPool2d>(2),
      std::make_shared<Flatten>(), std::make_shared<Linear>(8 * 4 * 4, 4)});
}

// Mini-batches of 16 in a fixed shuffled order per epoch.
void train_cnn(Optimizer& opt, Module& model, const Images& data, int epochs, const Schedule& schedule) {
  const int64_t n = data.x.size(0), batch = 16;
  Generator order_gen(7);
  std::vector<int64_t> order(static_cast<size_t>(n));
  int64_t step = 0;
  for (int e = 0; e < epochs; ++e) {
    for (int64_t i = 0; i < n; ++i) order[i] = i;
    for (int64_t i = n - 1; i > 0; --i) std::swap(order[i], order[order_gen.below(static_cast<uint64_t>(i + 1))]);
    for (int64_t b = 0; b < n; b += batch) {
      Tensor xb = Tensor::empty({batch, 1, 8, 8});
      std::vector<int64_t> yb;
      for (int64_t j = 0; j < batch; ++j) {
        const int64_t src = order[b + j];
        std::memcpy(xb.data() + j * 64, data.x.data() + src * 64, 64 * sizeof(float));
        yb.push_back(data.y[src]);
      }
      opt.set_lr(schedule.at(step++));
      opt.zero_grad();
      ops::cross_entropy(model.forward(xb), yb).backward();
      opt.step();
    }
  }
}

double eval_accuracy(Module& model, const Images& data) {
  model.eval();
  const autograd::NoGradGuard no_grad;
  return accuracy(model.forward(data.x), data.y);
}

bool same_bytes(const NamedTensors& a, const NamedTensors& b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i)
    if (a[i].first != b[i].first || a[i].second.shape() != b[i].second.shape() ||
        std::memcmp(a[i].second.data(), b[i].second.data(), sizeof(float) * a[i].second.numel()) != 0)
      return false;
  return true;
}
}  // namespace

TEST_CASE("learning: an MLP learns XOR with SGD and with AdamW", "[optim][layers]") {
  SECTION("SGD with momentum") {
    manual_seed(3);
    auto mlp = make_mlp();
    SGD opt(mlp->named_parameters(), {.lr = 0.1, .momentum = 0.9});
    REQUIRE(train_xor(opt, *mlp, 200) == 1.0);
  }
  SECTION("AdamW") {
    manual_seed(3);
    auto mlp = make_mlp();
    AdamW opt(mlp->named_parameters(), {.lr = 0.03, .weight_decay = 0.01}, {no_weight_decay()});
    REQUIRE(train_xor(opt, *mlp, 200) == 1.0);
  }
}

TEST_CASE("learning: a small CNN fits bright-quadrant images with SGD and with AdamW", "[optim][layers]") {
  const Images data = quadrant_images(64, 11);
  SECTION("SGD, nesterov, cosine schedule") {
    manual_seed(5);
    auto cnn = make_cnn();
    SGD opt(cnn->named_parameters(), {.lr = 0.05, .momentum = 0.9, .weight_decay = 5e-4, .nesterov = true},
            {no_weight_decay()});
    train_cnn(opt, *cnn, data, 10, Schedule::cosine(0.05, 40, 0.0, 4));
    REQUIRE(eval_accuracy(*cnn, data) == 1.0);
  }
  SECTION("AdamW, constant schedule with warm-up") {
    manual_seed(5);
    auto cnn = make_cnn();
    AdamW opt(cnn->named_parameters(), {.lr = 0.01}, {no_weight_decay()});
    train_cnn(opt, *cnn, data, 10, Schedule::constant(0.01, 4));
    REQUIRE(eval_accuracy(*cnn, data) == 1.0);
  }
}

TEST_CASE("learning: the same seed and thread count give bitwise-identical parameters", "[optim][layers]") {
  const testing::ThreadCountGuard restore;
  set_num_threads(2);
  const Images data = quadrant_images(32, 12);
  const auto run = [&] {
    manual_seed(42);
    auto cnn = make_cnn();
    cnn->push_back(std::make_shared<Dropout>(0.1f));  // its mask stream is seeded from manual_seed too
    AdamW opt(cnn->named_parameters(), {.lr = 0.01});
    train_cnn(opt, *cnn, data, 2, Schedule::constant(0.01));
    NamedTensors state = cnn->state_dict();
    for (auto& entry : opt.state_dict()) state.push_back(entry);
    return state;
  };
  const NamedTensors a = run(), b = run();
  REQUIRE(a.size() > 20);
  REQUIRE(same_bytes(a, b));
}
