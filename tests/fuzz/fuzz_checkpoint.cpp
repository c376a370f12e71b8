// tests/fuzz/fuzz_checkpoint.cpp — a checkpoint's raoq metadata and the training state a resume
// reads from it (tools/pipeline/checkpoint.h), through to the data loaders' states
// (data/loader.h, data/text_loader.h) and the generators. Input: raoq.kind, raoq.state and
// raoq.config, NUL separated; the harness writes them into a checkpoint of a small model and reads
// it back as `raoq train --resume` and `raoq eval` would.
#include <memory>
#include <string>

#include "data/dataset.h"
#include "data/loader.h"
#include "data/text_corpus.h"
#include "data/text_loader.h"
#include "models/registry.h"
#include "tests/fuzz/fuzz_support.h"
#include "tools/pipeline/checkpoint.h"
#include "tools/pipeline/config.h"

using namespace raoq;
using namespace raoq::tools;

namespace {

struct World {
  std::shared_ptr<Module> model =
      models::build_model("mlp", {{"in_features", 4}, {"hidden", {4}}, {"dropout", 0.1}, {"num_classes", 3}});
  data::DataLoader loader{std::make_shared<data::InMemoryDataset>(std::vector<uint8_t>(10 * 4, 7),
                                                                  std::vector<int64_t>(10, 1), Shape{1, 2, 2}, 3, "fuzz"),
                          [] {
                            data::LoaderOptions o;
                            o.batch_size = 3;
                            o.prefetch = 0;
                            return o;
                          }()};
  std::unique_ptr<data::TextLoader> text;
  World() {
    const std::string corpus = fuzz::scratch() + "/corpus.txt";
    const std::string words = "one two three\n%\nfour five six\n%\nseven eight nine\n%\nten eleven twelve\n";
    fuzz::write_scratch("corpus.txt", words.data(), words.size());
    data::TextCorpusOptions o;
    o.path = corpus;
    text = std::make_unique<data::TextLoader>(data::TextCorpus(o), data::TextTokenizer::bytes(),
                                              data::TextLoaderOptions{2, 4, 1});
  }
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static World world;
  const std::string input(reinterpret_cast<const char*>(data), size);
  std::string parts[3];
  for (size_t at = 0, k = 0; k < 3 && at <= input.size(); ++k) {
    const size_t next = std::min(input.find('\0', at), input.size());
    parts[k] = input.substr(at, next - at);
    at = next + 1;
  }
  const std::string path = fuzz::scratch() + "/ck.safetensors";
  const NamedTensors tensors = world.model->state_dict();
  NamedTensors prefixed;
  for (const auto& [name, t] : tensors) prefixed.emplace_back("model." + name, t);
  const std::map<std::string, std::string> metadata = {
      {"raoq.format", "1"}, {"raoq.kind", parts[0]}, {"raoq.state", parts[1]}, {"raoq.config", parts[2]}};
  if (!fuzz::parses([&] { save_safetensors(path, prefixed, metadata); })) return 0;  // not UTF-8
  Checkpoint c;
  if (!fuzz::parses([&] { c = read_checkpoint(path); })) return 0;
  fuzz::parses([&] { load_model(*world.model, c, path); });
  fuzz::parses([&] { parse_config(c.config, "run"); });
  TrainState s;
  if (!fuzz::parses([&] { s = train_state_from_json(c.state); })) return 0;
  fuzz::require(train_state_from_json(to_json(s)).global_step == s.global_step, "a training state does not survive its JSON form");
  fuzz::parses([&] { restore_generators(*world.model, s.generators); });
  const nlohmann::json loader = nlohmann::json::parse(s.loader.dump());
  fuzz::parses([&] {
    data::LoaderState ls;
    data::from_json(loader, ls);
    world.loader.set_state(ls);
    world.loader.next();
  });
  fuzz::parses([&] {
    data::TextLoaderState ts;
    data::from_json(loader, ts);
    world.text->set_state(ts);
    world.text->next();
  });
  return 0;
}
