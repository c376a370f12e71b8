// tests/tools/test_layer_overrides.cpp — adc.overrides: key validation (one line naming the key),
// what each override does to the converted model (hardware per layer, off the array, 8 bits),
// the errors a conversion finds (a glob matching nothing, placement that disagrees with the stage
// the model comes from), the resolved form, and BitAug moving a layer's own ba.
#include "core/error.h"
#include "imc/bitaug.h"
#include "imc/imc_layer.h"
#include "imc/imc_model.h"
#include "imc/method.h"
#include "quant/quant_conv2d.h"
#include "tests/support/testing.h"
#include "tests/tools/tools_testing.h"
#include "tools/pipeline/config.h"
#include "tools/pipeline/stage_kind.h"

using namespace raoq;
using namespace raoq::tools;
using Catch::Equals;

namespace {

// cnn-small: features.0 (first layer, 8-bit, off), features.1/3/4/6 on the arrays, classifier (last).
Json base_config() {
  return Json::parse(R"({
    "name": "o", "data": {"kind": "idx", "root": "/data/fmnist"}, "model": {"name": "cnn-small"},
    "stages": [
      {"name": "fp", "epochs": 1, "optimizer": {"name": "sgd", "lr": 0.1}},
      {"name": "qat", "kind": "qat", "epochs": 1, "optimizer": {"name": "sgd", "lr": 0.01},
       "adc": {"overrides": [{"layers": "features.6.*", "off_array": true}, {"layers": "features.4.*", "bits": 8}]}},
      {"name": "adc", "kind": "adc", "epochs": 1, "optimizer": {"name": "sgd", "lr": 0.004},
       "adc": {"ba": 6, "k": 4, "overrides": [{"layers": "features.*", "rows": 128}, {"layers": "features.3.*", "ba": 8, "k": 2}]}}
    ]
  })");
}

std::string error_for(const std::vector<std::string>& overrides) {
  return testing::config_error(base_config(), overrides);
}

const imc::LayerHardware& find(const std::vector<imc::LayerHardware>& hw, const std::string& path) {
  for (const auto& l : hw)
    if (l.path == path) return l;
  FAIL("no layer " << path);
  return hw.front();
}

}  // namespace

TEST_CASE("adc.overrides: bad entries are one line naming the key", "[tools]") {
  CHECK(error_for({}).empty());
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"stages[2].adc.overrides=[3]",
       "config: stages[2].adc.overrides[0] must be an object {\"layers\": GLOB, ...} (got 3)"},
      {"stages[2].adc.overrides=[{\"k\": 2}]", "config: stages[2].adc.overrides[0].layers is required"},
      {"stages[2].adc.overrides=[{\"layers\": \"\", \"k\": 2}]",
       "config: stages[2].adc.overrides[0].layers must not be empty (a glob over layer paths, e.g. \"features.3.*\")"},
      {"stages[2].adc.overrides=[{\"layers\": \"features.1.*\"}]",
       "config: stages[2].adc.overrides[0].layers names layers but the override changes nothing (give off_array, "
       "bits or a hardware key)"},
      {"stages[2].adc.overrides=[{\"layers\": \"features.1.*\", \"bits\": 1}]",
       "config: stages[2].adc.overrides[0].bits must be in [2, 8] (0: the stage's bits) (got 1)"},
  };
  for (const auto& [o, expected] : cases) {
    INFO(o);
    CHECK_THAT(error_for({o}), Equals(expected));
  }
  // hardware values: the one reader's rules, under the override's key path
  CHECK_THAT(error_for({"stages[2].adc.overrides[1].k=0"}),
             Catch::StartsWith("config: stages[2].adc.overrides[1].k must be a positive integer"));
  CHECK_THAT(error_for({"stages[2].adc.overrides[1].rowz=64"}),
             Catch::StartsWith("config: stages[2].adc.overrides[1].rowz is not a known key"));
  // BitAug moves a layer's own ba: ba 16 + 2 leaves the ADC range
  CHECK_THAT(error_for({"stages[2].adc.overrides[1].ba=16"}), Catch::Contains("overrides[1].ba 16"));
  // the resolved form reads back to itself
  const Config c = parse_config(base_config(), "o");
  CHECK(to_json(parse_config(to_json(c), "o")) == to_json(c));
  REQUIRE(c.stages[2].quant.overrides.size() == 2);
  CHECK(c.stages[2].quant.overrides[1].where == "adc.overrides[1]");
}

TEST_CASE("adc.overrides: per-layer hardware, off the array and 8 bits reach the converted model", "[tools]") {
  const Config c = parse_config(base_config(), "o");
  auto m = build_model_for_stage(c, 2);
  const auto hw = imc::layer_hardware(*m);
  // every array layer: rows 128 from the first override; features.3 also ba 8, k 2 from the second
  const auto& f1 = find(hw, "features.1.conv");
  CHECK(f1.on_array);
  CHECK(f1.config.rows == 128);
  CHECK(f1.config.ba == 6);
  CHECK(f1.config.k == 4);
  const auto& f3 = find(hw, "features.3.conv");
  CHECK(f3.config.rows == 128);
  CHECK(f3.config.ba == 8);
  CHECK(f3.config.k == 2);
  // placement from the qat stage: features.4 at 8 bits on the array, features.6 off it
  const auto& f4 = find(hw, "features.4.conv");
  CHECK(f4.bits == 8);
  CHECK(f4.on_array);
  CHECK(f4.config.bx == 8);
  CHECK(f4.config.bw == 8);
  CHECK_FALSE(find(hw, "features.6.conv").on_array);
  CHECK(find(hw, "features.6.conv").bits == 4);
  CHECK_FALSE(find(hw, "features.0.conv").on_array);  // the first layer: 8-bit, off (appendix J)
  // the resolved form names every layer
  const Json j = imc::layer_hardware_to_json(hw);
  CHECK(j.size() == 6);
  CHECK(j[1]["layer"] == "features.1.conv");
  CHECK(j[1]["adc"]["rows"] == 128);
  // BitAug's pass moves every layer by the same offset, each from its own ba
  imc::BitAugConfig b;
  b.ba = 6;
  double seen3 = 0, seen1 = 0;
  imc::bitaug_backward(*m, b, 7, 0.0, [&]() {
    for (auto& [path, l] : imc::imc_layers(*m)) {
      if (path == "features.3.conv") seen3 = l->config.ba;
      if (path == "features.1.conv") seen1 = l->config.ba;
    }
    return Tensor::scalar(0.0f);
  });
  CHECK(seen1 == 7);
  CHECK(seen3 == 9);
  CHECK(find(imc::layer_hardware(*m), "features.3.conv").config.ba == 8);  // moved back
}

TEST_CASE("adc.overrides: a glob matching nothing, and placement the model disagrees with, are errors", "[tools]") {
  Json j = base_config();
  apply_override(j, "stages[2].adc.overrides[1].layers=classifer");
  CHECK_THROWS_WITH(build_model_for_stage(parse_config(j, "o"), 2),
                    Catch::StartsWith("config: stages[2].adc.overrides[1].layers \"classifer\" matches no quantized "
                                      "layer (they are: features.0.conv, features.1.conv, features.3.conv"));
  j = base_config();
  apply_override(j, "stages[2].adc.overrides[1].layers=classifier");  // hardware keys on a layer off the array
  CHECK_THROWS_WITH(build_model_for_stage(parse_config(j, "o"), 2),
                    Equals("config: stages[2].adc.overrides[1].layers \"classifier\" sets hardware keys but matches "
                           "no layer on the array"));
  j = base_config();
  apply_override(j, "stages[2].adc.overrides[1]={\"layers\": \"features.3.*\", \"bits\": 8}");  // not in the qat stage
  CHECK_THROWS_WITH(build_model_for_stage(parse_config(j, "o"), 2),
                    Equals("config: stages[2].adc.overrides[1].bits is 8 but layer 'features.3.conv' of the model it "
                           "starts from has 4-bit codes; put the same override in the stage that quantized it"));
  j = base_config();
  apply_override(j, "stages[2].adc.overrides[1]={\"layers\": \"features.1.*\", \"off_array\": true}");
  CHECK_THROWS_WITH(build_model_for_stage(parse_config(j, "o"), 2),
                    Catch::StartsWith("config: stages[2].adc.overrides[1].off_array is true but layer "
                                      "'features.1.conv' of the model it starts from is on the array"));
}
