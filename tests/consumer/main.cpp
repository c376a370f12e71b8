// An installed-package program: cnn-small on 512x512 arrays with 6-bit ADCs (RAOQ: A-shift,
// W-reshape), one BitAug fine-tune step, and a check that the step moved the weights.
#include <cstdio>

#include "core/ops.h"
#include "core/rng.h"
#include "imc/bitaug.h"
#include "imc/method.h"
#include "models/registry.h"
#include "optim/sgd.h"

int main() {
  using namespace raoq;
  auto model = models::build_model("cnn-small", {{"width", 4}});
  imc::MethodConfig raoq;  // A-shift on, 4-bit codes
  raoq.on_arrays = true, raoq.adc.ba = 6, raoq.wreshape = 0.002;
  imc::apply_method(*model, raoq);
  SGD opt(model->named_parameters(), {.lr = 0.01, .momentum = 0.9});
  Tensor x = Tensor::uniform({8, 1, 28, 28}, default_generator());
  std::vector<int64_t> y{0, 1, 2, 3, 4, 5, 6, 7};
  auto loss = [&] { return imc::method_loss(*model, raoq, ops::cross_entropy(model->forward(x), y)); };
  const Tensor w = model->named_parameters().front().second, before = w.clone();
  const imc::BitAugStep s = imc::bitaug_step(*model, {.ba = 6}, {.step = 0, .steps = 100, .draw = 0}, loss);
  opt.step();
  const bool moved = (w.flat() - before.flat()).abs().maxCoeff() > 0;
  std::printf("raoq consumer: loss %.4f at ba 6, %.4f at ba~ %d (lambda %.2f); %s\n", s.loss, s.loss_tilde,
              s.ba_tilde, s.lambda, moved ? "ok" : "the step did not move the weights");
  return moved ? 0 : 1;
}
