// core/distributed.cpp — the single-rank world, the collectives built on allgather, and the
// emulated ranks (threads taking turns).
#include "core/distributed.h"

#include <algorithm>
#include <condition_variable>
#include <cstring>
#include <exception>
#include <mutex>
#include <thread>

#include "core/error.h"
#include "core/rng.h"

namespace raoq::dist {
namespace {

class SingleWorld final : public Communicator {
 public:
  int rank() const override { return 0; }
  int size() const override { return 1; }
  void allgather(const void* mine, size_t bytes, void* all) override {
    if (bytes) std::memmove(all, mine, bytes);
  }
  std::string describe() const override { return "1 process"; }
};

thread_local Communicator* tls_world = nullptr;

template <typename T>
void sum_in_rank_order(T* data, int64_t n) {
  Communicator& w = world();
  if (w.size() == 1 || n == 0) return;
  std::vector<T> all(static_cast<size_t>(n) * static_cast<size_t>(w.size()));
  w.allgather(data, static_cast<size_t>(n) * sizeof(T), all.data());
  std::copy(all.begin(), all.begin() + n, data);
  for (int r = 1; r < w.size(); ++r) {
    const T* part = all.data() + static_cast<size_t>(r) * static_cast<size_t>(n);
    for (int64_t i = 0; i < n; ++i) data[i] += part[i];
  }
}

template <typename T>
std::vector<T> gather_in_rank_order(const T* data, int64_t n) {
  Communicator& w = world();
  if (w.size() == 1) return std::vector<T>(data, data + n);
  std::vector<int64_t> counts(static_cast<size_t>(w.size()));
  w.allgather(&n, sizeof n, counts.data());
  const int64_t most = *std::max_element(counts.begin(), counts.end());
  std::vector<T> padded(static_cast<size_t>(most), T(0)), all(static_cast<size_t>(most) * counts.size());
  std::copy(data, data + n, padded.begin());
  w.allgather(padded.data(), padded.size() * sizeof(T), all.data());
  std::vector<T> out;
  for (size_t r = 0; r < counts.size(); ++r)
    out.insert(out.end(), all.begin() + static_cast<std::ptrdiff_t>(r * static_cast<size_t>(most)),
               all.begin() + static_cast<std::ptrdiff_t>(r * static_cast<size_t>(most) + static_cast<size_t>(counts[r])));
  return out;
}

// ---- emulated ranks: a baton passed in rank order at every collective.
// Only the rank holding the turn runs, so the process-wide state the ranks share (the tensor
// buffer cache, the default generator, which is swapped with each turn) is never touched by two
// of them at once; the mutex hand-over orders their memory.
struct Baton {
  explicit Baton(int n_) : n(n_), done(static_cast<size_t>(n_), false), slots(static_cast<size_t>(n_)) {}
  std::mutex m;
  std::condition_variable cv;
  int n;
  int turn = 0;
  std::vector<bool> done;
  std::vector<Generator::State> generators;
  bool aborted = false;
  int failed_rank = -1;
  std::string failure;
  bool collective = false;  // the failure is a CollectiveError
  // The collective in progress: deposits arrive in rank order; the last one completes it.
  std::vector<std::vector<char>> slots;
  int deposited = 0;
  std::vector<char> result;  // the last completed collective, kept until every rank has read it

  void pass_turn(int from) {  // with m held
    generators[static_cast<size_t>(from)] = default_generator().state();
    for (int k = 1; k <= n; ++k) {
      const int next = (from + k) % n;
      if (!done[static_cast<size_t>(next)]) {
        turn = next;
        break;
      }
    }
    cv.notify_all();
  }
  void fail(int r, const std::string& why) {  // with m held
    if (!aborted) aborted = true, failed_rank = r, failure = why;
    cv.notify_all();
  }
};

// Thrown in a rank that is waiting when another rank fails; not the failure to report.
struct StoppedByOtherRank {};

void wait_for_turn(Baton& b, std::unique_lock<std::mutex>& lk, int r) {
  b.cv.wait(lk, [&] { return b.aborted || b.turn == r; });
  if (b.aborted) throw StoppedByOtherRank{};
  default_generator().set_state(b.generators[static_cast<size_t>(r)]);
}

class EmulatedRank final : public Communicator {
 public:
  EmulatedRank(Baton& b, int r) : b_(b), r_(r) {}
  int rank() const override { return r_; }
  int size() const override { return b_.n; }
  std::string describe() const override { return std::to_string(b_.n) + " emulated ranks"; }
  void allgather(const void* mine, size_t bytes, void* all) override {
    std::unique_lock<std::mutex> lk(b_.m);
    if (b_.aborted) throw StoppedByOtherRank{};
    for (int k = 0; k < b_.n; ++k)
      if (b_.done[static_cast<size_t>(k)]) {
        b_.fail(r_, "rank " + std::to_string(r_) + " entered a collective that rank " + std::to_string(k) +
                        " never reached (it had finished)");
        throw StoppedByOtherRank{};
      }
    if (b_.deposited > 0 && b_.slots[0].size() != bytes) {
      b_.fail(r_, "the ranks passed different sizes to one collective: rank 0 " + std::to_string(b_.slots[0].size()) +
                      " bytes, rank " + std::to_string(r_) + " " + std::to_string(bytes));
      throw StoppedByOtherRank{};
    }
    const char* p = static_cast<const char*>(mine);
    b_.slots[static_cast<size_t>(r_)].assign(p, p + bytes);
    if (++b_.deposited == b_.n) {  // the last rank completes it
      b_.result.clear();
      for (const auto& s : b_.slots) b_.result.insert(b_.result.end(), s.begin(), s.end());
      b_.deposited = 0;
    }
    b_.pass_turn(r_);
    wait_for_turn(b_, lk, r_);
    if (bytes) std::memcpy(all, b_.result.data(), b_.result.size());
  }

 private:
  Baton& b_;
  int r_;
};

}  // namespace

Communicator& world() {
  static SingleWorld single;
  return tls_world ? *tls_world : single;
}

WorldScope::WorldScope(Communicator& c) : saved_(tls_world) { tls_world = &c; }
WorldScope::~WorldScope() { tls_world = saved_; }

void sum_over_ranks(float* data, int64_t n) { sum_in_rank_order(data, n); }
void sum_over_ranks(double* data, int64_t n) { sum_in_rank_order(data, n); }
std::vector<float> gather_all(const float* data, int64_t n) { return gather_in_rank_order(data, n); }
std::vector<double> gather_all(const double* data, int64_t n) { return gather_in_rank_order(data, n); }

void barrier() {
  Communicator& w = world();
  if (w.size() == 1) return;
  const char mine = 0;
  std::vector<char> all(static_cast<size_t>(w.size()));
  w.allgather(&mine, 1, all.data());
}

void require_same(uint64_t value, const std::string& what) {
  Communicator& w = world();
  if (w.size() == 1) return;
  std::vector<uint64_t> all(static_cast<size_t>(w.size()));
  w.allgather(&value, sizeof value, all.data());
  for (size_t r = 1; r < all.size(); ++r)
    RAOQ_CHECK(all[r] == all[0], what, " differs between ranks: rank 0 has ", all[0], ", rank ", r, " has ", all[r]);
}

uint64_t checksum(const void* data, size_t bytes, uint64_t h) {
  const auto* p = static_cast<const unsigned char*>(data);
  for (size_t i = 0; i < bytes; ++i) h = (h ^ p[i]) * 0x100000001b3ULL;
  return h;
}

void run_emulated_ranks(int n, const std::function<void(int rank)>& body) {
  RAOQ_CHECK(n >= 1, "emulated ranks: need at least 1 rank, given ", n);
  RAOQ_CHECK(!distributed(), "emulated ranks: already inside a world of ", world().size(), " ranks");
  Baton b(n);
  b.generators.assign(static_cast<size_t>(n), default_generator().state());
  std::vector<std::thread> threads;
  threads.reserve(static_cast<size_t>(n));
  for (int r = 0; r < n; ++r)
    threads.emplace_back([&b, &body, r] {
      EmulatedRank me(b, r);
      WorldScope scope(me);
      std::unique_lock<std::mutex> lk(b.m);
      try {
        wait_for_turn(b, lk, r);
        lk.unlock();
        body(r);
        lk.lock();
        if (b.deposited > 0)
          b.fail(r, "rank " + std::to_string(r) + " finished while the other ranks were in a collective");
      } catch (const StoppedByOtherRank&) {
        if (!lk.owns_lock()) lk.lock();
      } catch (const CollectiveError& e) {
        if (!lk.owns_lock()) lk.lock();
        if (!b.aborted) b.collective = true;
        b.fail(r, e.what());
      } catch (const std::exception& e) {
        if (!lk.owns_lock()) lk.lock();
        b.fail(r, e.what());
      } catch (...) {
        if (!lk.owns_lock()) lk.lock();
        b.fail(r, "an exception that is not a std::exception");
      }
      b.done[static_cast<size_t>(r)] = true;
      b.pass_turn(r);
    });
  for (auto& t : threads) t.join();
  default_generator().set_state(b.generators[0]);
  if (b.aborted && b.collective) throw CollectiveError(b.failure);
  if (b.aborted) throw Error("rank " + std::to_string(b.failed_rank) + ": " + b.failure);
}

}  // namespace raoq::dist
