// tools/pipeline/progress.h — what a person watching `raoq train` sees.
//
// On a terminal: one live line, redrawn at most ten times a second,
//   fp  epoch 2/10  [#########.........]  234/469  loss 0.3412  acc 88.1%  812 ex/s  ETA 0:35
// Otherwise (a log file, a pipe): a plain line every `every_steps` steps and at the end of
// each epoch, so a log grows at a readable pace and never holds carriage returns.
#pragma once

#include <chrono>
#include <cstdint>
#include <iosfwd>
#include <string>

namespace raoq::tools {

class Progress {
 public:
  // `terminal`: draw the live bar (use stdout_is_terminal()).
  Progress(std::ostream& os, bool terminal, int64_t every_steps);

  // Starts an epoch of `total` steps, `done` of which already ran (a resumed epoch).
  void start_epoch(const std::string& stage, int64_t epoch, int64_t epochs, int64_t done, int64_t total);
  // After each step: running means over the epoch so far and throughput.
  void step(int64_t done, double loss, double accuracy_percent, double examples_per_second);
  // A whole line of its own (epoch summaries, evaluations); clears the live bar first.
  void line(const std::string& text);

  // Removes the live bar, if one is shown (before an error message).
  void clear() { clear_bar(); }

  // "1:02:03" or "2:05".
  static std::string format_duration(double seconds);

 private:
  void clear_bar();
  std::ostream& os_;
  bool terminal_;
  int64_t every_steps_;
  bool bar_shown_ = false;
  std::string stage_;
  int64_t epoch_ = 0, epochs_ = 0, total_ = 0, first_ = 0;
  std::chrono::steady_clock::time_point epoch_start_, last_draw_;
};

// Whether standard output is a terminal (isatty) and TERM is not "dumb".
bool stdout_is_terminal();

}  // namespace raoq::tools
