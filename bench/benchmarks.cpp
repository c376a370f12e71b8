// bench/benchmarks.cpp — the benchmark table of bench/README.md, timed here (bench.h): what
// raoq-bench and `raoq bench` run.
//
//   raoq-bench [--threads N] [--only SUBSTRING] [--steps N]
//
// Prints the machine's measured fp32 and int8 peak (bench/peak.h) at --threads, then one JSON line
// per benchmark (see harness.h) with its work and GFLOP/s (bench/work.h). Compare with the
// PyTorch peer run in the same session: ratios hold where absolute times drift.
#include <array>
#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "bench/bench.h"
#include "bench/harness.h"
#include "bench/peak.h"
#include "bench/work.h"
#include "core/autograd.h"
#include "core/error.h"
#include "core/ops.h"
#include "core/parallel.h"
#include "core/rng.h"
#include "imc/imc_model.h"
#include "imc/method.h"
#include "models/registry.h"
#include "quant/quantize_model.h"
#include "optim/sgd.h"

using namespace raoq;

namespace {

// One SGD (momentum 0.9, lr 0.01) step of cross-entropy on fixed data, as the peer's train_step_fn.
std::function<void()> train_step(std::shared_ptr<Module> model, Tensor x, std::vector<int64_t> y) {
  auto opt = std::make_shared<SGD>(model->named_parameters(), SgdOptions{0.01, 0.9, 0.0, false});
  return [model, opt, x, y] {
    opt->zero_grad();
    Tensor loss = ops::cross_entropy(model->forward(x), y);
    loss.backward();
    opt->step();
  };
}

std::vector<int64_t> random_labels(int64_t n, int64_t classes, Generator& gen) {
  std::vector<int64_t> y(static_cast<size_t>(n));
  for (auto& v : y) v = static_cast<int64_t>(gen.below(static_cast<uint64_t>(classes)));
  return y;
}

void print_peaks(bench::BenchOptions& opt) {
  opt.peak_gflops = bench::measured_peak_fp32_gflops(opt.threads);
  const double int8 = bench::measured_peak_int8_gops(opt.threads);
  auto round1 = [](double v) { return static_cast<double>(static_cast<int64_t>(v * 10.0 + 0.5)) / 10.0; };
  nlohmann::ordered_json fp = {{"name", "peak/fp32"}, {"impl", bench::peak_isa()}, {"threads", opt.threads},
                               {"gflops", round1(opt.peak_gflops)}};
  nlohmann::ordered_json i8 = {{"name", "peak/int8"}, {"impl", int8 > 0 ? "avx512-vnni" : "none"},
                               {"threads", opt.threads}, {"gops", int8 > 0 ? nlohmann::ordered_json(round1(int8)) : nullptr}};
  std::printf("%s\n%s\n", fp.dump().c_str(), i8.dump().c_str());
  std::fflush(stdout);
}

void run_all(const bench::BenchOptions& opt) {
  Generator gen(0);
  manual_seed(0);
  for (auto [m, k, n] : std::vector<std::array<int64_t, 3>>{{512, 512, 512}, {4096, 512, 2048}}) {
    Tensor a = Tensor::randn({m, k}, gen), b = Tensor::randn({k, n}, gen);
    bench::time_step(
        opt, "gemm/" + std::to_string(m) + "x" + std::to_string(k) + "x" + std::to_string(n), 0,
        [&] {
          autograd::NoGradGuard ng;
          ops::matmul(a, b);
        },
        bench::gemm_flop(m, k, n));
  }
  {
    Tensor x = Tensor::randn({128, 64, 14, 14}, gen).set_requires_grad(true);
    Tensor w = Tensor::uniform({64, 64, 3, 3}, gen, -0.04f, 0.04f).set_requires_grad(true);
    bench::time_step(opt, "conv2d/n128-c64-64-h14-k3/fwd_bwd", 128, [&] {
      x.set_grad(Tensor());
      w.set_grad(Tensor());
      ops::sum(ops::conv2d(x, w, Tensor(), {1, 1, 1, 1})).backward();
    }, bench::conv3x3_fwd_bwd_flop(128, 64, 64, 14, 14));
  }
  {
    // cnn-small in float, quantized, on the array, and with BitAug: timed round-robin, so that the
    // overhead ratios between them come from the same minutes of a shared machine. The quantized
    // variants: the four middle convs 4-bit (LSQ+ activations, LSQ weights), the first conv and the
    // classifier 8-bit off the array (the peer keeps those two in float).
    Tensor x_fp = Tensor::randn({128, 1, 28, 28}, gen);
    auto y_fp = random_labels(128, 10, gen);
    Tensor x = Tensor::randn({128, 1, 28, 28}, gen);
    auto y = random_labels(128, 10, gen);
    auto quantized = [&](bool on_array) {
      manual_seed(0);
      auto model = models::build_model("cnn-small");
      quant::quantize_model(*model);
      if (on_array) imc::to_imc(*model, imc::ImcRules{imc::AdcConfig{}, {}});  // 512 rows, ba 8, k 4, A-shift
      return model;
    };
    auto model = quantized(true);
    auto sgd = std::make_shared<SGD>(model->named_parameters(), SgdOptions{0.01, 0.9, 0.0, false});
    auto fp_model = models::build_model("cnn-small");
    const double flop = bench::training_step_flop(*fp_model, x);  // every variant: the same plain work
    bench::time_steps_interleaved(
        opt, {{"cnn-small/fp/train_step", 128, train_step(fp_model, x_fp, y_fp), flop},
              {"cnn-small/qat/train_step", 128, train_step(quantized(false), x, y), flop},
              {"cnn-small/adc/train_step", 128, train_step(quantized(true), x, y), flop},
              {"cnn-small/bitaug/train_step", 128, [&] {
                 sgd->zero_grad();
                 ops::cross_entropy(model->forward(x), y).backward();
                 imc::set_adc_bits(*model, 9);  // BitAug: a second forward/backward at a neighbouring ADC width
                 ops::cross_entropy(model->forward(x), y).backward();
                 imc::set_adc_bits(*model, 8);
                 sgd->step();
               }, 2 * flop}});
  }
  {
    Tensor x = Tensor::randn({128, 3, 32, 32}, gen);
    auto y = random_labels(128, 10, gen);
    auto model = models::build_model("resnet20");
    const double flop = bench::training_step_flop(*model, x);
    bench::time_step(opt, "resnet20/fp/train_step", 128, train_step(model, x, y), flop);
  }
  {
    auto model = models::build_model("gpt-tiny");
    auto sgd = std::make_shared<SGD>(model->named_parameters(), SgdOptions{0.01, 0.9, 0.0, false});
    const auto idx = random_labels(32 * 128, 256, gen), target = random_labels(32 * 128, 256, gen);
    const Tensor ids = Tensor::from_vector(std::vector<float>(idx.begin(), idx.end()), {32, 128});  // (B, T) token ids
    const double flop = bench::training_step_flop(*model, ids);
    bench::time_step(opt, "gpt-tiny/fp/train_step", 32, [&] {
      sgd->zero_grad();
      Tensor logits = model->forward(ids);  // (B, T, 256)
      ops::cross_entropy(ops::reshape(logits, {-1, 256}), target).backward();
      sgd->step();
    }, flop);
    // QAT and ADC (bench/README): qkv, out_proj, fc1, fc2 and BMM1 at 4 bits, per-channel weights,
    // signed LSQ+ activations but fc2's GELU input (unsigned, A-shifted on the arrays); embedding
    // and head 8-bit; the ADC step on signed-input 512-row arrays at ba 8, k 4, BMM2 digital.
    for (const bool arrays : {false, true}) {
      auto q = models::build_model("gpt-tiny");
      imc::MethodConfig m;
      m.per_channel = true;
      m.unsigned_inputs = {"*.fc2"};
      m.on_arrays = arrays;
      imc::apply_method(*q, m);
      auto qsgd = std::make_shared<SGD>(q->named_parameters(), SgdOptions{0.01, 0.9, 0.0, false});
      bench::time_step(opt, arrays ? "gpt-tiny/adc/train_step" : "gpt-tiny/qat/train_step", 32, [&] {
        qsgd->zero_grad();
        Tensor logits = q->forward(ids);
        ops::cross_entropy(ops::reshape(logits, {-1, 256}), target).backward();
        qsgd->step();
      }, flop);
    }
  }
}

}  // namespace

namespace raoq::bench {

int bench_cli(const std::vector<std::string>& args, const std::string& command) {
  BenchOptions opt;
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string& a = args[i];
    auto value = [&]() -> std::string {
      RAOQ_CHECK(i + 1 < args.size(), command, ": ", a, " needs a value");
      return args[++i];
    };
    auto count = [&](const std::string& v) {
      try {
        size_t used = 0;
        const int n = std::stoi(v, &used);
        if (used == v.size() && n >= 1) return n;
      } catch (const std::exception&) {
      }
      throw Error(command + ": " + a + " must be a positive integer (got '" + v + "')");
    };
    if (a == "--threads") {
      opt.threads = count(value());
    } else if (a == "--only") {
      opt.only = value();
    } else if (a == "--steps") {
      opt.steps = count(value());
    } else if (a == "--help" || a == "-h") {
      const std::string usage = command == "raoq-bench" ? command : "raoq " + command;
      std::printf("usage: %s [--threads N] [--only SUBSTRING] [--steps N]\n", usage.c_str());
      std::puts("Measures the fp32 and int8 peak at N threads (lines peak/fp32, peak/int8), times the\n"
                "benchmark table of bench/README.md (gemm, conv2d, cnn-small, resnet20, gpt-tiny) and prints\n"
                "one JSON line per benchmark, with its work (gflop, counted as plain GEMM / direct\n"
                "convolution: Winograd can show above peak), gflops and pct_peak. cnn-small's fp, qat,\n"
                "adc and bitaug steps are timed round-robin (one step of each in turn), so that their\n"
                "ratios share the same minutes.");
      return 0;
    } else {
      throw Error(command + ": unknown argument '" + a + "' (see --help)");
    }
  }
  set_num_threads(opt.threads);
  print_peaks(opt);
  run_all(opt);
  return 0;
}

}  // namespace raoq::bench
