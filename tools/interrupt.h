// tools/interrupt.h — what SIGINT and SIGTERM do to the raoq command line.
//
// Before a training step has run there is nothing to save, and set-up (scanning and decoding a
// dataset, building a model, reading a checkpoint) can take minutes with no step boundary at
// which to stop: a signal then prints one line and exits at once (status 128 + signal). Once
// training steps run, the first signal asks the trainer to finish the step, write
// last.safetensors and stop; a second one kills at once. Every file raoq writes is replaced
// atomically, so an exit at any moment leaves each file whole (old or new).
#pragma once

#include <atomic>

namespace raoq::tools {

// Installs the exit-at-once handlers for the whole process (main, before any command runs).
void exit_on_interrupt();

// While alive (one `raoq train`): exit-at-once handlers that name the set-up; graceful() then
// makes the next signal set stop() instead. The previous handlers come back at scope exit (the
// command may run inside a test).
class TrainInterrupts {
 public:
  TrainInterrupts();
  ~TrainInterrupts();
  TrainInterrupts(const TrainInterrupts&) = delete;
  TrainInterrupts& operator=(const TrainInterrupts&) = delete;

  void graceful();
  const std::atomic<bool>* stop() const;

 private:
  using Handler = void (*)(int);
  Handler old_int_, old_term_;
};

}  // namespace raoq::tools
