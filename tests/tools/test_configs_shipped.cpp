// tests/tools/test_configs_shipped.cpp — every config in configs/ validates, in full and --quick.
#include <filesystem>

#include "tests/support/testing.h"
#include "tools/pipeline/config.h"

using namespace raoq;
using namespace raoq::tools;

TEST_CASE("configs: every shipped config is valid", "[tools]") {
  // This file is tests/tools/<name>.cpp; the configs sit at the repository root.
  const auto root = std::filesystem::path(__FILE__).parent_path().parent_path().parent_path();
  const auto dir = root / "configs";
  REQUIRE(std::filesystem::is_directory(dir));
  int seen = 0;
  for (const auto& entry : std::filesystem::directory_iterator(dir)) {
    if (entry.path().extension() != ".json") continue;
    INFO(entry.path().string());
    Config c = load_config(entry.path().string(), {});
    CHECK(c.name == entry.path().stem().string());  // the run directory is named after the file
    make_quick(c);
    CHECK(to_json(parse_config(to_json(c), "x")) == to_json(c));
    ++seen;
  }
  CHECK(seen >= 2);
  const Config fmnist = load_config((dir / "fmnist-fp.json").string(), {});
  CHECK(fmnist.data.root == "/usr/share/datasets/fashion-mnist");
  CHECK(fmnist.model["name"] == "cnn-small");
}
