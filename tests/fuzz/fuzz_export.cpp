// tests/fuzz/fuzz_export.cpp — an export's manifest as `raoq run-export` reads it
// (tools/pipeline/export.h, ExportedModel::load), then one forward of the integer reference.
// Input: manifest.json; the tensors beside it are those of a small cnn-small on 16-row arrays,
// exported once per process (the seed in corpus/export/ is its manifest).
#include <string>

#include "core/autograd.h"
#include "core/rng.h"
#include "imc/method.h"
#include "models/registry.h"
#include "tests/fuzz/fuzz_support.h"
#include "tools/pipeline/export.h"

using namespace raoq;
using namespace raoq::tools;

namespace {

struct World {
  std::string dir = fuzz::scratch() + "/export";
  World() {
    manual_seed(3);
    const Json description = {{"name", "cnn-small"}, {"width", 2}, {"in_channels", 1}, {"num_classes", 4}};
    auto model = models::build_from_json(description, "fuzz", "model");
    imc::MethodConfig m;
    m.on_arrays = true;
    m.adc.rows = 16, m.adc.cols = 8, m.adc.ba = 5;
    imc::apply_method(*model, m);
    {
      autograd::NoGradGuard no_grad;  // the quantizers' LSQ+ initialisation
      model->forward(Tensor::uniform({2, 1, 8, 8}, default_generator()));
    }
    write_export(*model, description, Json::object(), {1, 8, 8}, {}, {}, dir);
  }
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static World world;
  fuzz::write_scratch("export/manifest.json", data, size);
  std::shared_ptr<ExportedModel> m;
  if (!fuzz::parses([&] { m = ExportedModel::load(world.dir); })) return 0;
  fuzz::parses([&] { m->forward(Tensor::zeros({1, 1, 8, 8})); });
  return 0;
}
