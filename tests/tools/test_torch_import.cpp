// tests/tools/test_torch_import.cpp — PyTorch state_dicts in and out (tools/pipeline/torch_import.h).
//
// The fixtures under tests/fixtures/torch/ were written by tests/fixtures/make_torch_fixtures.py
// with PyTorch 2.x: each reference module's eval-mode state_dict (BatchNorm statistics from three
// train-mode passes, random norm scales and shifts), a small input batch and PyTorch's eval-mode
// logits. raoq's forward on the imported weights must give those logits to within
// kLogitTolerance, measured as max |raoq - torch| / max |torch| over the whole logits tensor.
// Every model of the fixtures script is matched (cnn-small, resnet20, resnet18 with the imagenet
// stem, mobilenetv2 with the cifar stem, gpt, gpt with a tied head, and bert).
#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <set>
#include <sstream>

#include "core/autograd.h"
#include "core/error.h"
#include "core/parallel.h"
#include "core/safetensors.h"
#include "models/registry.h"
#include "tests/tools/tools_testing.h"
#include "tools/cli.h"
#include "tools/cmd_torch.h"
#include "tools/pipeline/checkpoint.h"
#include "tools/pipeline/torch_import.h"

using namespace raoq;
using namespace raoq::tools;
using Catch::Contains;
using Catch::Equals;
namespace fs = std::filesystem;

namespace {

// Float32 sums in another order (im2col GEMM against oneDNN/MKL kernels, a fused attention
// against PyTorch's) differ by a few ulps per layer; 1e-5 of the largest logit leaves room for
// that over ~20 layers and still catches any real difference (a wrong epsilon, padding, GELU
// variant or mask moves the logits by 1e-3 or more).
constexpr double kLogitTolerance = 1e-5;

const fs::path& fixtures() {
  // This file is tests/tools/<name>.cpp; the fixtures sit in tests/fixtures/torch.
  static const fs::path dir = fs::path(__FILE__).parent_path().parent_path() / "fixtures" / "torch";
  return dir;
}
std::string state_file(const std::string& name) { return (fixtures() / (name + ".state.safetensors")).string(); }

struct Fixture {
  Json model;    // the raoq model description
  Tensor input;  // images (N, C, H, W) or token ids (B, T) as floats
  Tensor logits;
};
Fixture fixture(const std::string& name) {
  const SafetensorsFile io = load_safetensors((fixtures() / (name + ".io.safetensors")).string());
  return {Json::parse(io.metadata.at("model")), io.at("input"), io.at("logits")};
}

std::shared_ptr<Module> imported(const std::string& name, const Json& description,
                                 const std::string& file = "", const Json& map = Json()) {
  auto model = models::build_from_json(description);
  const std::string model_name = description.at("name").get<std::string>();
  TorchNames names = default_torch_names(model_name, *model);
  if (!map.is_null()) apply_torch_map(names, map, "map");
  const std::string path = file.empty() ? state_file(name) : file;
  model->load_state_dict(torch_to_raoq(load_safetensors(path), *model, names, model_name, path));
  model->eval();
  return model;
}

double relative_difference(const Tensor& a, const Tensor& b) {
  REQUIRE(a.shape() == b.shape());
  double diff = 0, scale = 0;
  for (int64_t i = 0; i < a.numel(); ++i) {
    diff = std::max(diff, std::abs(double(a.data()[i]) - double(b.data()[i])));
    scale = std::max(scale, std::abs(double(b.data()[i])));
  }
  return diff / scale;
}

bool bitwise_equal(const Tensor& a, const Tensor& b) {
  return a.shape() == b.shape() && std::memcmp(a.data(), b.data(), size_t(a.numel()) * sizeof(float)) == 0;
}

std::string error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

// A copy of the fixture's state file with `edit` applied to its tensors (PyTorch keys).
std::string edited_state(const std::string& dir, const std::string& name,
                         const std::function<void(NamedTensors&)>& edit) {
  SafetensorsFile f = load_safetensors(state_file(name));
  edit(f.tensors);
  std::set<std::string> i64;
  for (const auto& [key, t] : f.tensors)
    if (key.find("num_batches_tracked") != std::string::npos) i64.insert(key);
  const std::string path = dir + "/" + name + ".edited.safetensors";
  save_safetensors(path, f.tensors, {}, {}, i64);
  return path;
}

const char* const kModels[] = {"cnn-small", "resnet20", "resnet18", "mobilenetv2", "gpt", "gpt-tied", "bert"};

}  // namespace

TEST_CASE("import-torch: raoq's eval-mode logits match PyTorch's on every fixture", "[tools]") {
  for (const char* name : kModels) {
    const Fixture f = fixture(name);
    auto model = imported(name, f.model);
    autograd::NoGradGuard no_grad;
    const double d = relative_difference(model->forward(f.input), f.logits);
    INFO(name << ": max |raoq - torch| / max |torch| = " << d);
    CHECK(d <= kLogitTolerance);
  }
}

TEST_CASE("import-torch: export -> import round-trips bit for bit, under PyTorch's keys", "[tools]") {
  const std::string dir = testing::make_temp_dir("torch_roundtrip");
  for (const char* name : kModels) {
    INFO(name);
    const Fixture f = fixture(name);
    const std::string run = dir + "/" + name;
    std::ostringstream log;
    ImportTorchArgs in;
    in.file = state_file(name);
    in.model = f.model.dump();
    in.out = run;
    REQUIRE(import_torch_command(in, log) == 0);
    ExportTorchArgs ex;
    ex.run = run;
    ex.out = dir + "/" + name + ".out.safetensors";
    REQUIRE(export_torch_command(ex, log) == 0);
    // Every key of PyTorch's state_dict comes back, with its shape; every float tensor bit for bit.
    const SafetensorsFile original = load_safetensors(state_file(name)), exported = load_safetensors(ex.out);
    REQUIRE(exported.tensors.size() == original.tensors.size());
    for (const auto& [key, t] : original.tensors) {
      INFO(key);
      REQUIRE(exported.contains(key));
      CHECK(exported.at(key).shape() == t.shape());
      if (key.find("num_batches_tracked") == std::string::npos) CHECK(bitwise_equal(exported.at(key), t));
    }
    // And imported again, the model holds the same tensors as the first import.
    const auto first = imported(name, f.model), again = imported(name, f.model, ex.out);
    const NamedTensors a = first->state_dict(), b = again->state_dict();
    REQUIRE(a.size() == b.size());
    for (size_t i = 0; i < a.size(); ++i) CHECK(bitwise_equal(a[i].second, b[i].second));
  }
  fs::remove_all(dir);
}

TEST_CASE("import-torch: a missing, extra or mis-shaped tensor is one line naming it", "[tools]") {
  const std::string dir = testing::make_temp_dir("torch_errors");
  const Json model = fixture("resnet20").model;
  const std::string missing = edited_state(dir, "resnet20", [](NamedTensors& t) {
    t.erase(std::remove_if(t.begin(), t.end(), [](const auto& e) { return e.first == "layer2.0.downsample.0.weight"; }),
            t.end());
  });
  CHECK_THAT(error_of([&] { imported("resnet20", model, missing); }),
             Equals("import-torch: '" + missing + "' has no tensor 'layer2.0.downsample.0.weight' (raoq's "
                    "'layer2.0.downsample.conv.weight', shape [8, 4, 1, 1], model resnet20); name the key it has "
                    "with --map"));
  const std::string extra = edited_state(dir, "resnet20", [](NamedTensors& t) {
    t.emplace_back("fc2.weight", Tensor::zeros({3, 2}));
  });
  CHECK_THAT(error_of([&] { imported("resnet20", model, extra); }),
             Equals("import-torch: '" + extra + "': tensor 'fc2.weight' (shape [3, 2]) has no place in model resnet20; "
                    "give it one with --map {\"fc2.weight\": \"<raoq name>\"}, or map it to null to skip it"));
  const std::string shaped = edited_state(dir, "resnet20", [](NamedTensors& t) {
    for (auto& [key, v] : t)
      if (key == "fc.weight") v = Tensor::zeros({10, 32});
  });
  CHECK_THAT(error_of([&] { imported("resnet20", model, shaped); }),
             Equals("import-torch: '" + shaped + "': tensor 'fc.weight' has shape [10, 32], but raoq's 'fc.weight' "
                    "(model resnet20) is [10, 16]"));
  // A BatchNorm counter that is not one count, and a tied table that differs from the head.
  const std::string counter = edited_state(dir, "resnet20", [](NamedTensors& t) {
    for (auto& [key, v] : t)
      if (key == "bn1.num_batches_tracked") v = Tensor::zeros({2});
  });
  CHECK_THAT(error_of([&] { imported("resnet20", model, counter); }),
             Equals("import-torch: '" + counter + "': tensor 'bn1.num_batches_tracked' has shape [2], expected a "
                    "single whole count >= 0 (BatchNorm's num_batches_tracked)"));
  const std::string untied = edited_state(dir, "gpt-tied", [](NamedTensors& t) {
    for (auto& [key, v] : t)
      if (key == "tok_emb.weight") {
        v = v.clone();
        v.data()[0] += 1.0f;
      }
  });
  CHECK_THAT(error_of([&] { imported("gpt-tied", fixture("gpt-tied").model, untied); }),
             Equals("import-torch: '" + untied + "': tensor 'tok_emb.weight' differs from the tensor read for raoq's "
                    "'head.weight', which raoq holds once (a tied weight)"));
  // safetensors.torch.save_model writes a tied pair once: either key alone is the table.
  for (const char* kept : {"tok_emb.weight", "head.weight"}) {
    const std::string once = edited_state(dir, "gpt-tied", [&](NamedTensors& t) {
      t.erase(std::remove_if(t.begin(), t.end(), [&](const auto& e) {
                return (e.first == "tok_emb.weight" || e.first == "head.weight") && e.first != kept;
              }),
              t.end());
    });
    const Fixture f = fixture("gpt-tied");
    auto tied = imported("gpt-tied", f.model, once);
    autograd::NoGradGuard no_grad;
    CHECK(relative_difference(tied->forward(f.input), f.logits) <= kLogitTolerance);
  }
  fs::remove_all(dir);
}

namespace {
// `v` as IEEE binary16 bits, the fraction truncated to 10 bits; values below half's normal range
// become 0 (the test only needs values that F16 holds exactly; see truncated_to_half).
uint16_t half_bits(float v) {
  uint32_t b;
  std::memcpy(&b, &v, sizeof b);
  const uint16_t sign = static_cast<uint16_t>((b >> 16) & 0x8000u);
  const int exp = int((b >> 23) & 0xffu) - 127 + 15;
  if (exp <= 0) return sign;
  REQUIRE(exp < 31);  // the fixtures' values are far below 65504
  return static_cast<uint16_t>(sign | (exp << 10) | ((b >> 13) & 0x3ffu));
}
// The float that half_bits(v) stands for, computed on the float side: the low 13 fraction bits cleared.
float truncated_to_half(float v) {
  uint32_t b;
  std::memcpy(&b, &v, sizeof b);
  if (int((b >> 23) & 0xffu) - 127 + 15 <= 0) return std::signbit(v) ? -0.0f : 0.0f;
  b &= ~uint32_t{0x1fff};
  std::memcpy(&v, &b, sizeof v);
  return v;
}
}  // namespace

TEST_CASE("import-torch: an F16 state_dict with a num_batches_tracked beyond 2^24 imports", "[tools]") {
  // The cnn-small fixture converted here to F16 (PyTorch's model.half()), its counters I64 at
  // 2^31 + 5, which no float holds: the counters are only checked and dropped, so they do not
  // need to be exact. The run's export then holds the F16 values, bit for bit, as float.
  const std::string dir = testing::make_temp_dir("torch_f16");
  const SafetensorsFile original = load_safetensors(state_file("cnn-small"));
  Json header = Json::object();
  std::string data;
  const int64_t big_count = (int64_t{1} << 31) + 5;
  for (const auto& [key, t] : original.tensors) {
    const size_t begin = data.size();
    if (key.find("num_batches_tracked") != std::string::npos) {
      data.append(reinterpret_cast<const char*>(&big_count), sizeof big_count);
      header[key] = {{"dtype", "I64"}, {"shape", t.shape()}, {"data_offsets", {begin, data.size()}}};
      continue;
    }
    for (int64_t i = 0; i < t.numel(); ++i) {
      const uint16_t h = half_bits(t.data()[i]);
      data += static_cast<char>(h & 0xff), data += static_cast<char>(h >> 8);
    }
    header[key] = {{"dtype", "F16"}, {"shape", t.shape()}, {"data_offsets", {begin, data.size()}}};
  }
  const std::string text = header.dump(), file = dir + "/cnn-small.f16.safetensors";
  {
    std::ofstream f(file, std::ios::binary);
    for (int i = 0; i < 8; ++i) f.put(static_cast<char>(uint64_t(text.size()) >> (8 * i)));
    f << text << data;
  }
  std::ostringstream log;
  ImportTorchArgs in;
  in.file = file;
  in.model = fixture("cnn-small").model.dump();
  in.out = dir + "/run";
  REQUIRE(import_torch_command(in, log) == 0);
  ExportTorchArgs ex;
  ex.run = in.out;
  ex.out = dir + "/out.safetensors";
  REQUIRE(export_torch_command(ex, log) == 0);
  const SafetensorsFile exported = load_safetensors(ex.out);
  for (const auto& [key, t] : original.tensors) {
    INFO(key);
    REQUIRE(exported.contains(key));
    if (key.find("num_batches_tracked") != std::string::npos) continue;
    std::vector<float> expected(size_t(t.numel()));
    for (int64_t i = 0; i < t.numel(); ++i) expected[size_t(i)] = truncated_to_half(t.data()[i]);
    CHECK(exported.at(key).to_vector() == expected);
  }
  // The library's own reader still refuses that count where nothing names it a counter.
  CHECK_THAT(error_of([&] { load_safetensors(file); }), Contains("I64 element 0 is 2147483653"));
  fs::remove_all(dir);
}

TEST_CASE("import-torch: --map renames tensors and skips others", "[tools]") {
  const std::string dir = testing::make_temp_dir("torch_map");
  const Fixture f = fixture("cnn-small");
  const std::string renamed = edited_state(dir, "cnn-small", [](NamedTensors& t) {
    for (auto& [key, v] : t)
      if (key == "classifier.weight") key = "head.w";
    t.emplace_back("extra.buffer", Tensor::zeros({4}));
  });
  const Json map = {{"head.w", "classifier.weight"}, {"extra.buffer", nullptr}};
  auto model = imported("cnn-small", f.model, renamed, map);
  autograd::NoGradGuard no_grad;
  CHECK(relative_difference(model->forward(f.input), f.logits) <= kLogitTolerance);
  CHECK_THAT(error_of([&] { imported("cnn-small", f.model, renamed, Json{{"head.w", "classifier.weights"}}); }),
             Equals("map: \"head.w\" maps to \"classifier.weights\", which is no tensor of the model (see raoq models "
                    "NAME for its layers)"));
  CHECK_THAT(error_of([&] { imported("cnn-small", f.model, renamed, Json{{"features.0.0.weight", "classifier.weight"}}); }),
             Contains("PyTorch key \"features.0.0.weight\" would hold both raoq 'features.0.conv.weight' and "
                      "'classifier.weight'"));
  fs::remove_all(dir);
}

TEST_CASE("import-torch: the run it writes continues with qat and adc stages under raoq train --resume", "[tools]") {
  const std::string dir = testing::make_temp_dir("torch_run");
  const Fixture f = fixture("cnn-small");
  Json config = testing::tiny_config(testing::synthetic_idx_dir("torch_run", 96, 40, 12, 10, 3), f.model);
  Json fp = config["stages"][0];
  fp["name"] = "fp";
  config["stages"] = Json::array({fp, {{"name", "qat"}, {"kind", "qat"}, {"epochs", 1}, {"batch_size", 32},
                                       {"optimizer", {{"name", "sgd"}, {"lr", 0.01}}}},
                                  {{"name", "adc"}, {"kind", "adc"}, {"epochs", 1}, {"batch_size", 32},
                                   {"optimizer", {{"name", "sgd"}, {"lr", 0.004}}}, {"adc", {{"ba", 6}}}},
                                  {{"name", "lora"}, {"kind", "adc"}, {"epochs", 1}, {"max_steps", 2},
                                   {"batch_size", 32}, {"init_from", "qat"}, {"adc", {{"ba", 6}}},
                                   {"optimizer", {{"name", "adamw"}, {"lr", 0.01}}},
                                   {"lora", {{"rank", 2}, {"targets", {"features.*.conv"}}}}}});
  const std::string config_path = dir + "/tiny.json";
  std::ofstream(config_path) << config.dump(2);
  ImportTorchArgs in;
  in.file = state_file("cnn-small");
  in.config = config_path;
  in.out = dir + "/run";
  std::ostringstream log;
  set_num_threads(2);  // and the run continues at 1: with no step taken, that changes nothing
  REQUIRE(import_torch_command(in, log) == 0);
  CHECK_THAT(log.str(), Contains("has finished stage fp") && Contains("next: raoq train " + in.out + " --resume"));
  // The stage checkpoint holds the imported tensors, and raoq eval / init_from read it as any other.
  auto model = models::build_from_json(f.model);
  load_model(*model, read_checkpoint(in.out + "/checkpoints/fp.safetensors"), "fp");
  const auto reference = imported("cnn-small", f.model);
  const NamedTensors a = model->state_dict(), b = reference->state_dict();
  for (size_t i = 0; i < a.size(); ++i) CHECK(bitwise_equal(a[i].second, b[i].second));
  ImportTorchArgs other = in;
  other.model = "resnet20";
  CHECK_THAT(error_of([&] { import_torch_command(other, log); }),
             Equals("import-torch: --model is \"resnet20\" but the config's model is \"cnn-small\"; give one of them"));
  // Importing into a directory that holds a run needs --overwrite.
  CHECK_THAT(error_of([&] { import_torch_command(in, log); }),
             Equals("import-torch: '" + in.out + "' already holds a run; pass --overwrite or another --out"));
  std::string train_log;
  const Results r = testing::train_run(in.out, config, "tiny", /*resume=*/true, {}, &train_log);
  CHECK_THAT(train_log, Contains("resuming " + in.out + " at stage qat") && !Contains("checkpointed at"));
  REQUIRE(r.stages.size() == 3);
  CHECK(r.stages[0].name == "qat");
  CHECK(r.stages[1].name == "adc");
  CHECK(fs::exists(in.out + "/checkpoints/adc.safetensors"));
  // An export of an adc stage writes the float weights and leaves the quantizer state out.
  const size_t torch_keys = load_safetensors(state_file("cnn-small")).tensors.size();
  ExportTorchArgs ex;
  ex.run = in.out;
  ex.checkpoint = in.out + "/checkpoints/adc.safetensors";
  ex.out = dir + "/adc.safetensors";
  std::ostringstream export_log;
  REQUIRE(export_torch_command(ex, export_log) == 0);
  CHECK_THAT(export_log.str(), Contains("adc.safetensors (cnn-small)") && Contains("left out"));
  CHECK(load_safetensors(ex.out).tensors.size() == torch_keys);
  // ADC-LoRA's adapters are merged: the exported weight is W + A B, not the frozen W.
  ex.checkpoint = "";  // the run's last finished stage: lora
  ex.out = dir + "/lora.safetensors";
  REQUIRE(export_torch_command(ex, export_log) == 0);
  CHECK_THAT(export_log.str(), Contains("lora.safetensors (cnn-small)") && Contains("merged 4 ADC-LoRA adapters"));
  const SafetensorsFile lora = load_safetensors(ex.out);
  CHECK(lora.tensors.size() == torch_keys);
  const Checkpoint stage = read_checkpoint(in.out + "/checkpoints/lora.safetensors");
  CHECK(stage.file.contains("model.features.1.conv.lora.A"));
  CHECK(!bitwise_equal(lora.at("features.1.0.weight"), stage.file.at("model.features.1.conv.weight")));
  fs::remove_all(dir);
}

TEST_CASE("import-torch: the commands are listed and have help", "[tools]") {
  std::ostringstream main_help, import_help, export_help;
  run_command_line({"help"}, main_help);
  CHECK_THAT(main_help.str(), Contains("import-torch FILE") && Contains("export-torch RUN"));
  REQUIRE(run_command_line({"help", "import-torch"}, import_help) == 0);
  CHECK_THAT(import_help.str(), Contains("usage: raoq import-torch FILE.safetensors --model NAME --out RUN"));
  REQUIRE(run_command_line({"export-torch", "--help"}, export_help) == 0);
  CHECK_THAT(export_help.str(), Contains("Quantizer state is left out"));
  CHECK_THAT(error_of([] {
               std::ostringstream o;
               run_command_line({"import-torch", "x.safetensors", "--model", "resnet20"}, o);
             }),
             Equals("import-torch: missing --out RUN (the run directory to write)"));
}
