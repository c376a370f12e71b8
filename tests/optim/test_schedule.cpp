// tests/optim/test_schedule.cpp — schedules pinned at several steps.
#include <cmath>
#include <numbers>

#include "optim/schedule.h"
#include "tests/support/testing.h"

using namespace raoq;

TEST_CASE("schedule: constant with warm-up", "[optim]") {
  const auto s = Schedule::constant(0.3, 3);
  CHECK(s.at(0) == Approx(0.1));  // 0.3 * 1/3
  CHECK(s.at(1) == Approx(0.2));
  CHECK(s.at(2) == Approx(0.3));
  CHECK(s.at(100) == Approx(0.3));
  CHECK(Schedule::constant(0.3).at(0) == 0.3);
}

TEST_CASE("schedule: cosine to a floor with warm-up", "[optim]") {
  const auto s = Schedule::cosine(0.1, 10, 0.01, 2);
  CHECK(s.at(0) == Approx(0.05));                                              // warm-up 1/2
  CHECK(s.at(1) == Approx(0.1));                                               // warm-up 2/2
  CHECK(s.at(2) == Approx(0.1));                                               // u = 0: cos 0 = 1
  CHECK(s.at(4) == Approx(0.01 + 0.09 * 0.5 * (1 + std::cos(std::numbers::pi * 2 / 8))));  // u = 2 of L = 8
  CHECK(s.at(6) == Approx(0.055));                                             // u = 4: cos(pi/2) = 0
  CHECK(s.at(10) == Approx(0.01));                                             // end
  CHECK(s.at(25) == Approx(0.01));                                             // holds the floor
  REQUIRE(s.describe() == "cosine(base=0.1, total=10, floor=0.01, warmup=2)");
}

TEST_CASE("schedule: linear decay", "[optim]") {
  const auto s = Schedule::linear(1.0, 5, 0.0);
  CHECK(s.at(0) == Approx(1.0));
  CHECK(s.at(1) == Approx(0.8));
  CHECK(s.at(4) == Approx(0.2));
  CHECK(s.at(5) == Approx(0.0).margin(1e-12));
  CHECK(s.at(9) == Approx(0.0).margin(1e-12));
  const auto w = Schedule::linear(1.0, 6, 0.5, 2);  // warm-up 2, then 1 -> 0.5 over 4 steps
  CHECK(w.at(0) == Approx(0.5));
  CHECK(w.at(4) == Approx(0.75));
}

TEST_CASE("schedule: step milestones with gamma", "[optim]") {
  const auto s = Schedule::step(1.0, {3, 6}, 0.5, 1);
  CHECK(s.at(0) == Approx(1.0));  // warm-up of one step: 1 * 1/1
  CHECK(s.at(2) == Approx(1.0));
  CHECK(s.at(3) == Approx(0.5));
  CHECK(s.at(5) == Approx(0.5));
  CHECK(s.at(6) == Approx(0.25));
  CHECK(s.at(1000) == Approx(0.25));
}

TEST_CASE("schedule: a pure function of the step (resume is exact)", "[optim]") {
  const auto s = Schedule::cosine(0.1, 50, 0.0, 5);
  std::vector<double> forward, backward;
  for (int64_t i = 0; i < 60; ++i) forward.push_back(s.at(i));
  for (int64_t i = 59; i >= 0; --i) backward.insert(backward.begin(), s.at(i));
  REQUIRE(forward == backward);
}

TEST_CASE("schedule: invalid settings are errors", "[optim]") {
  REQUIRE_THROWS_WITH(Schedule::cosine(0.1, 5, 0.0, 5), Catch::Contains("total 5 must exceed warmup 5"));
  REQUIRE_THROWS_WITH(Schedule::cosine(0.1, 10, 0.2), Catch::Contains("floor 0.2 must be in [0, base 0.1]"));
  REQUIRE_THROWS_WITH(Schedule::step(0.1, {5, 5}), Catch::Contains("strictly increase"));
  REQUIRE_THROWS_WITH(Schedule::step(0.1, {2}, 0.1, 3), Catch::Contains("inside the warm-up"));
  REQUIRE_THROWS_WITH(Schedule::constant(0.1).at(-1), Catch::Contains("step must be >= 0"));
}
