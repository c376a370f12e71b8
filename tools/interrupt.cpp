// tools/interrupt.cpp — the signal handlers (tools/interrupt.h). Handlers only touch atomics and
// call async-signal-safe functions (write, _exit, signal).
#include "tools/interrupt.h"

#include <unistd.h>

#include <csignal>
#include <cstring>

namespace raoq::tools {
namespace {

std::atomic<bool> g_stop{false};
std::atomic<bool> g_graceful{false};
std::atomic<bool> g_training{false};  // a `raoq train` is in its set-up (for the message)

void say(const char* text) {
  const ssize_t ignored = ::write(STDERR_FILENO, text, std::strlen(text));
  (void)ignored;
}

extern "C" void on_interrupt(int sig) {
  if (!g_graceful.load()) {
    say(sig == SIGINT ? "raoq: interrupted (SIGINT)" : "raoq: interrupted (SIGTERM)");
    say(g_training.load() ? " during set-up, before the first training step; nothing to save\n" : "\n");
    ::_exit(128 + sig);
  }
  g_stop.store(true);
  std::signal(SIGINT, SIG_DFL);
  std::signal(SIGTERM, SIG_DFL);
}

}  // namespace

void exit_on_interrupt() {
  std::signal(SIGINT, on_interrupt);
  std::signal(SIGTERM, on_interrupt);
}

TrainInterrupts::TrainInterrupts() {
  g_stop.store(false);
  g_graceful.store(false);
  g_training.store(true);
  old_int_ = std::signal(SIGINT, on_interrupt);
  old_term_ = std::signal(SIGTERM, on_interrupt);
}

TrainInterrupts::~TrainInterrupts() {
  std::signal(SIGINT, old_int_);
  std::signal(SIGTERM, old_term_);
  g_training.store(false);
  g_graceful.store(false);
}

void TrainInterrupts::graceful() { g_graceful.store(true); }

const std::atomic<bool>* TrainInterrupts::stop() const { return &g_stop; }

}  // namespace raoq::tools
