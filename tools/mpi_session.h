// tools/mpi_session.h — MPI for the raoq command line: under mpirun every rank runs the same
// command in one MPI world (core/distributed.h), rank 0 alone prints and writes, and a rank that
// fails prints its error with its rank and ends the whole job.
//
// MPI is initialised only when the process was started by an MPI launcher (mpirun sets
// OMPI_COMM_WORLD_SIZE or PMIX_RANK), so a plain `raoq` never pays for it.
#pragma once

#include <memory>
#include <string>

#include "core/distributed.h"

namespace raoq::tools {

class MpiSession {
 public:
  MpiSession(int* argc, char*** argv);
  ~MpiSession();  // MPI_Finalize after a normal end
  MpiSession(const MpiSession&) = delete;
  MpiSession& operator=(const MpiSession&) = delete;

  bool active() const { return world_ != nullptr; }
  dist::Communicator& world() { return *world_; }
  // Ends every rank of the job with `code` (MPI_Abort): the others may be waiting in a collective.
  [[noreturn]] void abort(int code);

 private:
  std::unique_ptr<dist::Communicator> world_;
};

// "Open MPI v4.1.4 (MPI 3.1)", or why this build has no MPI.
std::string mpi_build_description();

}  // namespace raoq::tools
