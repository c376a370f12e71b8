// tests/imc/test_bitaug.cpp — BitAug's lambda_b schedule, its draws of ba~ and its validation
// (the passes themselves run in tests/tools/test_quant_stages.cpp, on a model with BatchNorm).
#include <set>

#include "core/error.h"
#include "imc/bitaug.h"
#include "tests/support/testing.h"

using namespace raoq;

TEST_CASE("bitaug: lambda falls by cosine from 1 to 0 and ba~ is drawn from the offsets", "[imc]") {
  CHECK(imc::bitaug_lambda(0, 11) == Approx(1.0));
  CHECK(imc::bitaug_lambda(5, 11) == Approx(0.5));
  CHECK(imc::bitaug_lambda(10, 11) == Approx(0.0).margin(1e-12));
  CHECK(imc::bitaug_lambda(0, 1) == 1.0);  // a one-step stage trains at ba~ with full weight
  imc::BitAugConfig c;
  c.ba = 7;
  c.seed = 3;
  std::set<int> seen;
  for (int64_t step = 0; step < 200; ++step) {
    const int b = imc::bitaug_bits(c, step);
    seen.insert(b);
    CHECK(b == imc::bitaug_bits(c, step));  // a pure function of (seed, draw)
  }
  CHECK(seen == std::set<int>{6, 8, 9});
  c.seed = 4;
  int differ = 0;
  for (int64_t step = 0; step < 50; ++step) {
    imc::BitAugConfig d = c;
    d.seed = 3;
    differ += imc::bitaug_bits(c, step) != imc::bitaug_bits(d, step);
  }
  CHECK(differ > 10);  // another seed is another sequence of draws
}

TEST_CASE("bitaug: offsets are checked against the ADC widths an array accepts", "[imc]") {
  imc::BitAugConfig c;
  c.ba = 2;
  CHECK_NOTHROW(c.validate());  // 1, 3, 4
  c.offsets = {-2};
  CHECK_THROWS_WITH(c.validate("bitaug_offsets"),
                    Catch::StartsWith("bitaug_offsets must keep ba + offset a width an ADC can have (ba 2, offset -2"));
  c.offsets = {0};
  CHECK_THROWS_WITH(c.validate(), "offsets must not contain 0 (the target ba is always trained)");
  c.offsets = {};
  CHECK_THROWS_AS(c.validate(), Error);
  c.ba = 16;
  c.offsets = {1};
  CHECK_THROWS_WITH(c.validate(), Catch::Contains("ba 16, offset 1"));
}
