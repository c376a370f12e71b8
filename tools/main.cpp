// tools/main.cpp — the raoq executable: runs the command line and turns every raoq::Error
// into one line on stderr and a non-zero exit status.
#include <exception>
#include <iostream>
#include <string>
#include <vector>

#include "core/error.h"
#include "core/parallel.h"
#include "tools/cli.h"
#include "tools/interrupt.h"

int main(int argc, char** argv) {
  // Training shares the machine with other processes; spinning OpenMP waiters collapse then.
  raoq::prefer_passive_omp_wait(argv);
  raoq::tools::exit_on_interrupt();
  std::vector<std::string> args(argv + 1, argv + argc);
  try {
    return raoq::tools::run_command_line(args, std::cout);
  } catch (const raoq::Error& e) {
    std::cout.flush();
    std::cerr << "raoq: " << e.what() << "\n";
    return 1;
  } catch (const std::exception& e) {
    // Not a user error: a bug or the system (out of memory). Still one line, but say so.
    std::cout.flush();
    std::cerr << "raoq: internal error: " << e.what() << "\n";
    return 3;
  }
}
