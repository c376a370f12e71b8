// tests/tools/tools_testing.cpp — synthetic IDX files, the tiny config, and running a training in a test.
#include "tests/tools/tools_testing.h"

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <iterator>
#include <sstream>
#include <vector>

#include "core/error.h"
#include "core/rng.h"
#include "tests/support/testing.h"
#include "tools/commands.h"
#include "tools/pipeline/config.h"
#include "tools/pipeline/trainer.h"

namespace raoq::testing {
namespace {

void put_u32(std::ofstream& out, uint32_t v) {
  const unsigned char b[4] = {static_cast<unsigned char>(v >> 24), static_cast<unsigned char>(v >> 16),
                              static_cast<unsigned char>(v >> 8), static_cast<unsigned char>(v)};
  out.write(reinterpret_cast<const char*>(b), 4);
}

void write_split(const std::string& images, const std::string& labels, int64_t n, int64_t side, int64_t classes,
                 Generator& gen) {
  std::ofstream img(images, std::ios::binary), lab(labels, std::ios::binary);
  RAOQ_CHECK(img && lab, "cannot write synthetic IDX files in ", images);
  put_u32(img, 0x00000803);
  put_u32(img, static_cast<uint32_t>(n));
  put_u32(img, static_cast<uint32_t>(side));
  put_u32(img, static_cast<uint32_t>(side));
  put_u32(lab, 0x00000801);
  put_u32(lab, static_cast<uint32_t>(n));
  std::vector<unsigned char> pixels(static_cast<size_t>(side * side));
  for (int64_t i = 0; i < n; ++i) {
    const auto label = static_cast<int64_t>(gen.below(static_cast<uint64_t>(classes)));
    // Class c lights the c-th horizontal band (left-right flips keep the class).
    const int64_t band = std::max<int64_t>(1, side / classes);
    for (int64_t y = 0; y < side; ++y)
      for (int64_t x = 0; x < side; ++x) {
        const bool lit = y / band == label;
        pixels[static_cast<size_t>(y * side + x)] = static_cast<unsigned char>((lit ? 170 : 20) + gen.below(60));
      }
    img.write(reinterpret_cast<const char*>(pixels.data()), static_cast<std::streamsize>(pixels.size()));
    const auto l = static_cast<char>(label);
    lab.write(&l, 1);
  }
}

}  // namespace

std::string make_temp_dir(const std::string& prefix) {
  // Memory-backed when available: runs fsync every checkpoint, which costs milliseconds on disk.
  const std::filesystem::path base = std::filesystem::is_directory("/dev/shm") ? std::filesystem::path("/dev/shm")
                                                                               : std::filesystem::temp_directory_path();
  std::string pattern = (base / (prefix + "XXXXXX")).string();
  RAOQ_CHECK(::mkdtemp(pattern.data()) != nullptr, "cannot create a temporary directory from ", pattern);
  return pattern;
}

std::string read_text(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

void write_synthetic_idx(const std::string& dir, int64_t train, int64_t test, int64_t side, int64_t classes,
                         uint64_t seed) {
  Generator gen(seed);
  write_split(dir + "/train-images-idx3-ubyte", dir + "/train-labels-idx1-ubyte", train, side, classes, gen);
  write_split(dir + "/t10k-images-idx3-ubyte", dir + "/t10k-labels-idx1-ubyte", test, side, classes, gen);
}

const std::string& synthetic_idx_dir(const std::string& prefix, int64_t train, int64_t test, int64_t side,
                                     int64_t classes, uint64_t seed) {
  static std::map<std::string, std::string> made;
  const std::string key = prefix + "/" + std::to_string(train) + "/" + std::to_string(test) + "/" + std::to_string(side) +
                          "/" + std::to_string(classes) + "/" + std::to_string(seed);
  auto it = made.find(key);
  if (it == made.end()) {
    const std::string d = make_temp_dir(prefix);
    write_synthetic_idx(d, train, test, side, classes, seed);
    it = made.emplace(key, d).first;
  }
  return it->second;
}

Json tiny_config(const std::string& data_dir, const Json& model) {
  Json c = Json::parse(R"({
    "name": "tiny",
    "seed": 7,
    "data": {"kind": "idx", "normalize": {"mean": [0.4], "std": [0.3]},
             "augment": {"random_crop_padding": 1, "horizontal_flip": true}, "validation_split": 0.25},
    "stages": [
      {"name": "a", "epochs": 2, "batch_size": 16,
       "optimizer": {"name": "sgd", "lr": 0.05, "momentum": 0.9, "nesterov": true},
       "schedule": {"name": "cosine", "warmup_epochs": 0.5}, "weight_decay": 0.0005, "label_smoothing": 0.1,
       "eval": {"batch_size": 10}},
      {"name": "b", "epochs": 1, "batch_size": 24,
       "optimizer": {"name": "adamw", "lr": 0.002}, "schedule": {"name": "step", "step_epochs": 1},
       "weight_decay": 0.01, "grad_clip": 1.0, "eval": {"batch_size": 10}}
    ],
    "checkpoint": {"every_steps": 3},
    "log": {"every_steps": 2}
  })");
  c["data"]["root"] = data_dir;
  c["model"] = model;
  return c;
}

std::string config_error(Json config, const std::vector<std::string>& overrides) {
  try {
    for (const auto& o : overrides) tools::apply_override(config, o);
    tools::parse_config(config, "default");
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

tools::Results train_run(const std::string& out, const Json& config, const std::string& name, bool resume,
                         std::function<void(int64_t)> hook, std::string* log, int threads) {
  tools::TrainOptions o;
  o.out_dir = out;
  o.resume = resume;
  o.threads = threads;
  std::ostringstream text;
  o.out = &text;
  o.after_step = std::move(hook);
  tools::Results r = tools::run_training(tools::parse_config(config, name), o);
  if (log) *log = text.str();
  return r;
}

std::vector<char> file_bytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

const std::string& text_corpus_dir() {
  static const std::string dir = [] {
    const std::string d = make_temp_dir("raoq_text_");
    std::ofstream out(d + "/sayings");
    const char* words[] = {"the cat ", "sat on ", "a mat ", "and the dog ", "ran to ", "the sun "};
    for (int doc = 0; doc < 60; ++doc) {
      for (int w = 0; w < 12; ++w) out << words[(doc + w * (doc % 3 + 1)) % 6];
      out << "\n%\n";
    }
    return d;
  }();
  return dir;
}

Json tiny_text_config(const std::string& name) {
  return Json::parse(R"({
    "name": ")" + name + R"(",
    "data": {"kind": "text", "root": ")" + text_corpus_dir() + R"(", "context": 16},
    "model": {"name": "gpt", "d_model": 16, "layers": 1, "heads": 2},
    "stages": [
      {"name": "fp", "epochs": 1, "max_steps": 6, "batch_size": 4, "optimizer": {"name": "adamw", "lr": 0.01},
       "eval": {"batch_size": 8}},
      {"name": "qat", "kind": "qat", "epochs": 1, "max_steps": 4, "batch_size": 4,
       "optimizer": {"name": "adamw", "lr": 0.002}, "eval": {"batch_size": 8}}
    ],
    "checkpoint": {"every_steps": 2}, "log": {"every_steps": 2}
  })");
}

std::string eval_output(const std::string& out, const std::string& stage) {
  tools::EvalArgs e;
  e.config_path = out + "/config.json";
  e.checkpoint = out + "/checkpoints/" + stage + ".safetensors";
  e.threads = 1;
  std::ostringstream text;
  REQUIRE(tools::eval_command(e, text) == 0);
  return text.str();
}

}  // namespace raoq::testing
