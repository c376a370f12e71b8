// tests/optim/test_clip.cpp — clip_grad_norm pinned on a 3-4-12 case.
#include "optim/clip.h"
#include "tests/support/testing.h"

using namespace raoq;

TEST_CASE("clip_grad_norm: total norm, scaling, and skipped parameters", "[optim]") {
  Tensor a = Tensor::zeros({2}).set_requires_grad(true), b = Tensor::zeros({1}).set_requires_grad(true);
  Tensor none = Tensor::zeros({3}).set_requires_grad(true);  // no gradient: skipped
  const auto reset = [&] {
    a.set_grad(Tensor::from_vector({3, 4}, {2}));
    b.set_grad(Tensor::from_vector({12}, {1}));
  };
  reset();
  // total = sqrt(9 + 16 + 144) = 13 <= 20: unchanged
  REQUIRE(clip_grad_norm({a, b, none}, 20.0) == Approx(13.0));
  REQUIRE(a.grad().to_vector() == std::vector<float>{3, 4});
  // max 6.5: factor 6.5 / (13 + 1e-6) -> [1.5, 2], [6] up to the 1e-6 guard
  REQUIRE(clip_grad_norm(NamedTensors{{"a", a}, {"b", b}, {"none", none}}, 6.5) == Approx(13.0));
  CHECK(a.grad().data()[0] == Approx(1.5).epsilon(1e-6));
  CHECK(a.grad().data()[1] == Approx(2.0).epsilon(1e-6));
  CHECK(b.grad().data()[0] == Approx(6.0).epsilon(1e-6));
  REQUIRE_FALSE(none.grad().defined());
  REQUIRE_THROWS_WITH(clip_grad_norm({a}, 0.0), Catch::Contains("max_norm must be positive"));
}
