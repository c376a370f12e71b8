// tests/fuzz/fuzz_config.cpp — a training config file with --set overrides, as `raoq train`
// reads them (tools/pipeline/config.h). Input: the config file's text, then each override, NUL
// separated (tests/data/hostile/config_utf8_min.bin is one). Invariants: a valid config's resolved
// form dumps as JSON and parses back to itself, before and after --quick.
#include <string>
#include <vector>

#include "tests/fuzz/fuzz_support.h"
#include "tools/pipeline/config.h"

using namespace raoq;
using namespace raoq::tools;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string input(reinterpret_cast<const char*>(data), size);
  const size_t nul = input.find('\0');
  const std::string text = input.substr(0, nul);
  std::vector<std::string> overrides;
  for (size_t at = nul; at != std::string::npos && at < input.size();) {
    const size_t next = input.find('\0', at + 1);
    overrides.push_back(input.substr(at + 1, next == std::string::npos ? std::string::npos : next - at - 1));
    at = next;
  }
  const std::string path = fuzz::write_scratch("config.json", text.data(), text.size());
  Config c;
  if (!fuzz::parses([&] { c = load_config(path, overrides); })) return 0;
  for (int pass = 0; pass < 2; ++pass) {
    const Json resolved = to_json(c);
    const std::string dumped = resolved.dump(2);  // what config.json holds: must never throw
    fuzz::require(to_json(parse_config(Json::parse(dumped), "x")) == resolved,
                  "a resolved config does not parse back to itself");
    make_quick(c);
  }
  return 0;
}
