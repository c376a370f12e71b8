// tests/core/test_distributed.cpp — the collectives in rank order, the emulated ranks (turns, their
// own generators, failures), and BatchNorm over the global batch: two ranks holding the halves of a
// batch compute what one process computes on the whole batch.
#include <atomic>
#include <cmath>
#include <cstring>
#include <vector>

#include "core/distributed.h"
#include "core/error.h"
#include "core/ops.h"
#include "core/rng.h"
#include "tests/support/testing.h"

using namespace raoq;

TEST_CASE("distributed: one process is a world of one rank whose collectives change nothing", "[core]") {
  REQUIRE(dist::rank() == 0);
  REQUIRE(dist::size() == 1);
  REQUIRE_FALSE(dist::distributed());
  std::vector<float> v = {1.5f, -2.0f};
  dist::sum_over_ranks(v.data(), 2);
  CHECK(v == std::vector<float>{1.5f, -2.0f});
  CHECK(dist::gather_all(v.data(), 2) == v);
  dist::barrier();
  dist::require_same(42, "a value");
}

TEST_CASE("distributed: emulated ranks sum in rank order and gather unequal counts", "[core]") {
  std::vector<std::vector<float>> sums(3);
  std::vector<std::vector<double>> gathered(3);
  std::vector<int> seen_size(3);
  dist::run_emulated_ranks(3, [&](int r) {
    seen_size[static_cast<size_t>(r)] = dist::size();
    // Rank order fixes the rounding: (1e8 + 1) - 1e8 in float loses the 1; 1e8 + (1 - 1e8) would not.
    std::vector<float> v = {r == 0 ? 1e8f : r == 1 ? 1.0f : -1e8f, static_cast<float>(r + 1)};
    dist::sum_over_ranks(v.data(), 2);
    sums[static_cast<size_t>(r)] = v;
    std::vector<double> mine(static_cast<size_t>(r), double(r));  // rank r passes r values
    gathered[static_cast<size_t>(r)] = dist::gather_all(mine.data(), r);
  });
  for (int r = 0; r < 3; ++r) {
    CHECK(seen_size[static_cast<size_t>(r)] == 3);
    CHECK(sums[static_cast<size_t>(r)] == std::vector<float>{0.0f, 6.0f});  // (1e8 + 1) + -1e8 = 0 in float
    CHECK(gathered[static_cast<size_t>(r)] == std::vector<double>{1.0, 2.0, 2.0});
  }
}

TEST_CASE("distributed: emulated ranks take turns and each keeps its own default generator", "[core]") {
  manual_seed(5);
  std::vector<uint64_t> draws(4);
  std::atomic<int> running{0};
  bool overlapped = false;
  dist::run_emulated_ranks(2, [&](int r) {
    if (running.fetch_add(1) != 0) overlapped = true;  // only the rank holding the turn runs
    if (r == 1) default_generator().seed_with(99);    // rank 1 reseeds; rank 0's stream must not see it
    draws[static_cast<size_t>(2 * r)] = default_generator().next_u64();
    running.fetch_sub(1);
    dist::barrier();
    if (running.fetch_add(1) != 0) overlapped = true;
    draws[static_cast<size_t>(2 * r + 1)] = default_generator().next_u64();
    running.fetch_sub(1);
  });
  CHECK_FALSE(overlapped);
  manual_seed(5);
  const uint64_t a = default_generator().next_u64(), b = default_generator().next_u64();
  CHECK(draws[0] == a);  // rank 0 continues the stream it started with
  CHECK(draws[1] == b);
  Generator g(99);
  CHECK(draws[2] == g.next_u64());
  CHECK(draws[3] == g.next_u64());
}

TEST_CASE("distributed: a failing rank stops the others and is named", "[core]") {
  std::vector<int> reached(2, 0);
  try {
    dist::run_emulated_ranks(2, [&](int r) {
      dist::barrier();
      if (r == 1) throw Error("the data ran out");
      dist::barrier();  // rank 0 waits here for a rank that will never come
      reached[static_cast<size_t>(r)] = 1;
    });
    FAIL("expected an error");
  } catch (const Error& e) {
    CHECK(std::string(e.what()) == "rank 1: the data ran out");
  }
  CHECK(reached == std::vector<int>{0, 0});
  // Mismatched collectives (a rank that leaves early) are an error too, not a hang.
  try {
    dist::run_emulated_ranks(2, [&](int r) {
      if (r == 0) dist::barrier();
    });
    FAIL("expected an error");
  } catch (const Error& e) {
    CHECK_THAT(e.what(), Catch::Contains("rank 1 finished while the other ranks were in a collective"));
  }
  try {
    dist::run_emulated_ranks(2, [&](int r) { dist::require_same(static_cast<uint64_t>(10 + r), "the model"); });
    FAIL("expected an error");
  } catch (const Error& e) {
    CHECK_THAT(e.what(), Catch::Contains("the model differs between ranks: rank 0 has 10, rank 1 has 11"));
  }
}

namespace {

// The rows [lo, hi) of x: (N, C, H, W).
Tensor rows_of(const Tensor& x, int64_t lo, int64_t hi) {
  Shape s = x.shape();
  s[0] = hi - lo;
  Tensor out = Tensor::empty(s);
  const int64_t per = x.numel() / x.size(0);
  std::memcpy(out.data(), x.data() + lo * per, static_cast<size_t>((hi - lo) * per) * sizeof(float));
  return out;
}

double max_abs_diff(const float* a, const float* b, int64_t n) {
  double worst = 0;
  for (int64_t i = 0; i < n; ++i) worst = std::max(worst, std::fabs(double(a[i]) - double(b[i])));
  return worst;
}

}  // namespace

TEST_CASE("distributed: BatchNorm over two ranks' halves equals one process over the whole batch", "[core]") {
  // Channels with |mean| >> std (channel 1) test the combination of the ranks' moments.
  const int64_t N = 6, C = 3, H = 3, W = 2;
  Tensor x = testing::randn({N, C, H, W}, 21, false);
  for (int64_t n = 0; n < N; ++n)
    for (int64_t i = 0; i < H * W; ++i) x.data()[(n * C + 1) * H * W + i] = 50.0f + 0.5f * x.data()[(n * C + 1) * H * W + i];
  const Tensor weight0 = testing::uniform({C}, 0.5f, 1.5f, 22, false), bias0 = testing::uniform({C}, -0.5f, 0.5f, 23, false);
  const Tensor proj = testing::randn({N, C, H, W}, 24, false);  // loss = sum(y * proj): a non-uniform dy

  auto run = [&](const Tensor& xin, const Tensor& p, Tensor* y, Tensor* dx, Tensor* dw, Tensor* db, Tensor* rm, Tensor* rv) {
    Tensor xi = xin.clone();
    xi.set_requires_grad(true);
    Tensor w = weight0.clone(), b = bias0.clone();
    w.set_requires_grad(true);
    b.set_requires_grad(true);
    *rm = Tensor::zeros({C});
    *rv = Tensor::ones({C});
    *y = ops::batch_norm(xi, w, b, *rm, *rv, /*training=*/true, 0.1f, 1e-5f);
    ops::sum(ops::mul(*y, p)).backward();
    *dx = xi.grad(), *dw = w.grad(), *db = b.grad();
  };
  Tensor y1, dx1, dw1, db1, rm1, rv1;
  run(x, proj, &y1, &dx1, &dw1, &db1, &rm1, &rv1);

  std::vector<Tensor> y(2), dx(2), dw(2), db(2), rm(2), rv(2);
  dist::run_emulated_ranks(2, [&](int r) {
    const int64_t lo = r * N / 2, hi = (r + 1) * N / 2;
    const size_t i = static_cast<size_t>(r);
    run(rows_of(x, lo, hi), rows_of(proj, lo, hi), &y[i], &dx[i], &dw[i], &db[i], &rm[i], &rv[i]);
  });
  const int64_t half = N / 2 * C * H * W;
  // Outputs and input gradients of each half; float rounding of a different summation order.
  for (int r = 0; r < 2; ++r) {
    const size_t i = static_cast<size_t>(r);
    CHECK(max_abs_diff(y[i].data(), y1.data() + r * half, half) < 1e-5);
    CHECK(max_abs_diff(dx[i].data(), dx1.data() + r * half, half) < 1e-5);
    // Running statistics are the global batch's, the same bits on both ranks.
    CHECK(std::memcmp(rm[i].data(), rm[0].data(), C * sizeof(float)) == 0);
    CHECK(std::memcmp(rv[i].data(), rv[0].data(), C * sizeof(float)) == 0);
    CHECK(max_abs_diff(rm[i].data(), rm1.data(), C) < 1e-5 * 50);
    CHECK(max_abs_diff(rv[i].data(), rv1.data(), C) < 1e-5);
  }
  // dweight and dbias: each rank holds its half's share; the gradient sum over ranks is the whole.
  for (int64_t c = 0; c < C; ++c) {
    CHECK(std::fabs(dw[0].data()[c] + dw[1].data()[c] - dw1.data()[c]) < 1e-4);
    CHECK(std::fabs(db[0].data()[c] + db[1].data()[c] - db1.data()[c]) < 1e-4);
  }
  // One value per channel on a rank is fine when the global batch has more.
  dist::run_emulated_ranks(2, [&](int r) {
    Tensor rmx = Tensor::zeros({2}), rvx = Tensor::ones({2});
    const Tensor one = Tensor::from_vector({float(r), float(2 * r)}, {1, 2});
    const Tensor out = ops::batch_norm(one, Tensor(), Tensor(), rmx, rvx, true, 0.1f, 1e-5f);
    CHECK(std::fabs(out.data()[0] - (r == 0 ? -1.0f : 1.0f)) < 1e-3);
  });
}
