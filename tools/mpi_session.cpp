// tools/mpi_session.cpp — the MPI world behind MpiSession (built with RAOQ_MPI), or its absence.
#include "tools/mpi_session.h"

#include <climits>
#include <cstdlib>

#include "core/error.h"

#if RAOQ_MPI
#include <mpi.h>
#endif

namespace raoq::tools {
namespace {

bool launched_by_mpi() { return std::getenv("OMPI_COMM_WORLD_SIZE") || std::getenv("PMIX_RANK") || std::getenv("PMI_RANK"); }

#if RAOQ_MPI
class MpiWorld final : public dist::Communicator {
 public:
  MpiWorld() {
    MPI_Comm_rank(MPI_COMM_WORLD, &rank_);
    MPI_Comm_size(MPI_COMM_WORLD, &size_);
  }
  int rank() const override { return rank_; }
  int size() const override { return size_; }
  std::string describe() const override { return std::to_string(size_) + " MPI ranks"; }
  void allgather(const void* mine, size_t bytes, void* all) override {
    // The reduction itself is raoq's (in rank order, core/distributed.cpp); MPI only moves bytes.
    RAOQ_CHECK(bytes <= static_cast<size_t>(INT_MAX), "MPI: one collective of ", bytes, " bytes is more than ", INT_MAX);
    const int n = static_cast<int>(bytes);
    const int rc = MPI_Allgather(mine, n, MPI_BYTE, all, n, MPI_BYTE, MPI_COMM_WORLD);
    RAOQ_CHECK(rc == MPI_SUCCESS, "MPI_Allgather failed with code ", rc);
  }

 private:
  int rank_ = 0, size_ = 1;
};
#endif

}  // namespace

MpiSession::MpiSession(int* argc, char*** argv) {
#if RAOQ_MPI
  if (!launched_by_mpi()) return;
  int provided = 0;
  // Only the main thread calls MPI (the data loader's prefetch thread never does).
  MPI_Init_thread(argc, argv, MPI_THREAD_FUNNELED, &provided);
  // Errors come back as codes, so a failure is one raoq line and MPI_Abort, not MPI's own abort.
  MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
  world_ = std::make_unique<MpiWorld>();
#else
  (void)argc, (void)argv;
  if (launched_by_mpi()) throw Error("this raoq was built without MPI, so under mpirun every rank would train alone; "
                                     "install libopenmpi-dev and build again (RAOQ_MPI is on by default when MPI is found)");
#endif
}

MpiSession::~MpiSession() {
#if RAOQ_MPI
  if (world_) MPI_Finalize();
#endif
}

void MpiSession::abort(int code) {
#if RAOQ_MPI
  if (world_) MPI_Abort(MPI_COMM_WORLD, code);
#endif
  std::_Exit(code);
}

std::string mpi_build_description() {
#if RAOQ_MPI
  char version[MPI_MAX_LIBRARY_VERSION_STRING] = {};
  int len = 0;
  MPI_Get_library_version(version, &len);
  std::string v(version, static_cast<size_t>(len));
  if (const size_t comma = v.find(','); comma != std::string::npos) v.resize(comma);
  return v + " (MPI " + std::to_string(MPI_VERSION) + "." + std::to_string(MPI_SUBVERSION) + ")";
#else
  return "not built in (install libopenmpi-dev and build again)";
#endif
}

}  // namespace raoq::tools
