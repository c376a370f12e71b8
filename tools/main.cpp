// tools/main.cpp — the raoq executable: runs the command line and turns every raoq::Error
// into one line on stderr and a non-zero exit status. Under mpirun each rank runs the same
// command (tools/mpi_session.h); only rank 0 prints, and an error names its rank.
#include <exception>
#include <iostream>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "core/distributed.h"
#include "core/error.h"
#include "core/parallel.h"
#include "tools/cli.h"
#include "tools/interrupt.h"
#include "tools/mpi_session.h"

int main(int argc, char** argv) {
  // Training shares the machine with other processes; spinning OpenMP waiters collapse then.
  raoq::prefer_passive_omp_wait(argv);
  raoq::tools::exit_on_interrupt();
  std::vector<std::string> args(argv + 1, argv + argc);
  std::unique_ptr<raoq::tools::MpiSession> mpi;
  std::optional<raoq::dist::WorldScope> world;
  std::ostream null_out(nullptr);  // the other ranks' output: rank 0 speaks for the job
  const auto fail = [&](const std::string& line, int code) {
    std::cout.flush();
    const bool ranks = mpi && mpi->active() && mpi->world().size() > 1;
    // One write of the whole line, so the lines of ranks failing together do not interleave.
    std::cerr << ("raoq: " + (ranks ? "rank " + std::to_string(mpi->world().rank()) + ": " : std::string()) + line + "\n")
              << std::flush;
    if (mpi && mpi->active()) mpi->abort(code);  // the other ranks may be waiting in a collective
    return code;
  };
  try {
    mpi = std::make_unique<raoq::tools::MpiSession>(&argc, &argv);
    if (mpi->active()) world.emplace(mpi->world());
    std::ostream& out = raoq::dist::rank() == 0 ? std::cout : null_out;
    return raoq::tools::run_command_line(args, out);
  } catch (const raoq::dist::CollectiveError& e) {  // every rank stops here together: rank 0 says why
    std::cout.flush();
    if (raoq::dist::rank() == 0) std::cerr << ("raoq: " + std::string(e.what()) + "\n") << std::flush;
    return 1;
  } catch (const raoq::Error& e) {
    return fail(e.what(), 1);
  } catch (const std::exception& e) {
    // Not a user error: a bug or the system (out of memory). Still one line, but say so.
    return fail(std::string("internal error: ") + e.what(), 3);
  }
}
