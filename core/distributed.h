// core/distributed.h — the ranks of a data-parallel run, and the one collective they use.
//
// A data-parallel run is N ranks holding the same model, each with its slice of every global
// batch. What must be global (gradients, BatchNorm's batch statistics, LSQ+ initialisation, the
// metrics and the evaluation counts) goes through allgather: every rank receives every rank's
// bytes in rank order and combines them itself, in rank order. So the result does not depend on
// the order in which an MPI library would reduce, and every rank computes the same bits.
//
// world() is the calling thread's communicator: a single rank unless a scope installs another.
// The command line installs MPI's world under mpirun (tools/mpi_session.cpp); run_emulated_ranks
// runs N ranks as threads of one process, one at a time, which computes exactly what N
// processes compute (--emulate-ranks). Code written for one process is unchanged at size 1:
// every collective helper returns at once.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "core/error.h"

namespace raoq::dist {

// An error that every rank raises at the same point, after agreeing on it in a collective (a stop
// all ranks saw): it is reported once, without a rank, and the ranks end together (no MPI_Abort).
class CollectiveError : public Error {
 public:
  using Error::Error;
};

class Communicator {
 public:
  virtual ~Communicator() = default;
  virtual int rank() const = 0;
  virtual int size() const = 0;
  // Every rank passes `bytes` bytes (the same count on every rank); `all` receives size() * bytes:
  // rank 0's bytes first. A collective: every rank must call it, in the same order.
  virtual void allgather(const void* mine, size_t bytes, void* all) = 0;
  virtual std::string describe() const = 0;  // "1 process", "2 MPI ranks", "2 emulated ranks"
};

Communicator& world();
inline int rank() { return world().rank(); }
inline int size() { return world().size(); }
inline bool distributed() { return world().size() > 1; }

// Installs `c` as this thread's world until the scope ends.
class WorldScope {
 public:
  explicit WorldScope(Communicator& c);
  ~WorldScope();
  WorldScope(const WorldScope&) = delete;
  WorldScope& operator=(const WorldScope&) = delete;

 private:
  Communicator* saved_;
};

// ---- collectives built on allgather (no-ops at size 1)
// In place: data[i] = sum over ranks r = 0, 1, ... of rank r's data[i], added in that order.
void sum_over_ranks(float* data, int64_t n);
void sum_over_ranks(double* data, int64_t n);
// Every rank's values, rank 0's first; ranks may pass different counts.
std::vector<float> gather_all(const float* data, int64_t n);
std::vector<double> gather_all(const double* data, int64_t n);
// Waits until every rank has reached it.
void barrier();
// Fails with one line on every rank when the ranks disagree on `value` (a checksum, a count):
// "`what` differs between ranks: rank 0 has 12, rank 1 has 13".
void require_same(uint64_t value, const std::string& what);

// FNV-1a of bytes, for require_same on model parameters.
uint64_t checksum(const void* data, size_t bytes, uint64_t h = 0xcbf29ce484222325ULL);

// Runs body(rank) for ranks 0..n-1 as threads of this process with an emulated world of n
// ranks. They take turns: one rank runs at a time, from one collective to the next, in rank
// order, and each keeps its own default random generator (core/rng.h), so the ranks compute
// what n processes would. When a rank throws, the others are stopped at their next collective
// and the first failure is rethrown as raoq::Error "rank R: <message>" (a CollectiveError as
// itself, without the rank).
void run_emulated_ranks(int n, const std::function<void(int rank)>& body);

}  // namespace raoq::dist
