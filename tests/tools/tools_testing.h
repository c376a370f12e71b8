// tests/tools/tools_testing.h — a tiny synthetic IDX dataset and a tiny training config, so the
// training tests run the real pipeline in milliseconds.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "core/json_fields.h"
#include "tools/pipeline/results.h"

namespace raoq::testing {

// A fresh empty directory under /dev/shm, or the system temp folder (removed by the caller when wanted).
std::string make_temp_dir(const std::string& prefix);

// The whole file as a string ("" when it cannot be read).
std::string read_text(const std::string& path);

// Writes train-images-idx3-ubyte, train-labels-idx1-ubyte, t10k-images-idx3-ubyte and
// t10k-labels-idx1-ubyte (uncompressed) to `dir`: side x side images of `classes` classes, each
// class a bright horizontal band at its own height plus noise, so a small model learns them.
void write_synthetic_idx(const std::string& dir, int64_t train, int64_t test, int64_t side, int64_t classes,
                         uint64_t seed);

// The same dataset written once per process for each distinct set of arguments (a test file's
// fixture), in its own temporary folder named after `prefix`.
const std::string& synthetic_idx_dir(const std::string& prefix, int64_t train, int64_t test, int64_t side,
                                     int64_t classes, uint64_t seed);

// A two-stage config over that dataset: stage "a" (SGD, nesterov, cosine with warm-up, 2 epochs)
// and stage "b" (AdamW, step schedule, 1 epoch), validation split, augmentation, frequent
// checkpoints and log rows. `model` is the model description.
Json tiny_config(const std::string& data_dir, const Json& model);

// Trains `config` (default name `name`) into `out` at `threads` threads, its progress text kept
// in *log when given; `hook` runs after every step (throw from it to stand in for a crash).
tools::Results train_run(const std::string& out, const Json& config, const std::string& name, bool resume,
                         std::function<void(int64_t)> hook = {}, std::string* log = nullptr, int threads = 1);

// A folder holding one file of 60 fortunes-style documents of a repetitive little language
// (made once per process): enough structure to learn in a few steps, and every split (90/5/5 of
// the documents) longer than a 16-token window.
const std::string& text_corpus_dir();

// A two-stage language-model config over text_corpus_dir(): a tiny gpt (d 16, 1 layer, 2 heads,
// context 16), fp for 6 steps (AdamW lr 0.01), then 4-bit qat for 4; checkpoints and log rows every
// 2 steps.
Json tiny_text_config(const std::string& name);

// What `raoq eval` prints for the stage checkpoint STAGE of the run in `out` (its config.json, 1
// thread); fails the test when the command does.
std::string eval_output(const std::string& out, const std::string& stage);

// A file's bytes ({} when it cannot be read): checkpoints compared bit for bit.
std::vector<char> file_bytes(const std::string& path);

// Applies the --set style overrides to `config` and validates it: the error message, "" if valid.
std::string config_error(Json config, const std::vector<std::string>& overrides);

}  // namespace raoq::testing
