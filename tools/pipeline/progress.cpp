// tools/pipeline/progress.cpp — live progress bar on a terminal, plain lines elsewhere.
#include "tools/pipeline/progress.h"

#include <sys/ioctl.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <ostream>

namespace raoq::tools {
namespace {

int terminal_width() {
  winsize w{};
  if (::ioctl(STDOUT_FILENO, TIOCGWINSZ, &w) == 0 && w.ws_col >= 40) return w.ws_col;
  return 100;
}

}  // namespace

bool stdout_is_terminal() {
  const char* term = std::getenv("TERM");
  return ::isatty(STDOUT_FILENO) && !(term && std::string(term) == "dumb");
}

Progress::Progress(std::ostream& os, bool terminal, int64_t every_steps)
    : os_(os), terminal_(terminal), every_steps_(std::max<int64_t>(1, every_steps)) {}

std::string Progress::format_duration(double seconds) {
  const auto s = static_cast<long long>(std::max(0.0, seconds) + 0.5);
  char buf[32];
  if (s >= 3600)
    std::snprintf(buf, sizeof buf, "%lld:%02lld:%02lld", s / 3600, s / 60 % 60, s % 60);
  else
    std::snprintf(buf, sizeof buf, "%lld:%02lld", s / 60, s % 60);
  return buf;
}

void Progress::start_epoch(const std::string& stage, int64_t epoch, int64_t epochs, int64_t done, int64_t total) {
  stage_ = stage;
  epoch_ = epoch;
  epochs_ = epochs;
  total_ = total;
  first_ = done;
  epoch_start_ = std::chrono::steady_clock::now();
  last_draw_ = {};
}

void Progress::step(int64_t done, double loss, double accuracy_percent, double examples_per_second) {
  const auto now = std::chrono::steady_clock::now();
  const double elapsed = std::chrono::duration<double>(now - epoch_start_).count();
  const int64_t ran = done - first_;
  const double eta = ran > 0 ? elapsed / static_cast<double>(ran) * static_cast<double>(total_ - done) : 0.0;
  char stats[160];
  std::snprintf(stats, sizeof stats, "%lld/%lld  loss %.4f  acc %.1f%%  %.0f ex/s  ETA %s",
                static_cast<long long>(done), static_cast<long long>(total_), loss, accuracy_percent,
                examples_per_second, format_duration(eta).c_str());
  const std::string head = stage_ + "  epoch " + std::to_string(epoch_) + "/" + std::to_string(epochs_);
  if (!terminal_) {
    if (done % every_steps_ == 0 || done == total_) os_ << head << "  step " << stats << "\n" << std::flush;
    return;
  }
  if (done != total_ && now - last_draw_ < std::chrono::milliseconds(100)) return;
  last_draw_ = now;
  const int width = terminal_width();
  const int bar = std::clamp(width - static_cast<int>(head.size() + std::string(stats).size()) - 8, 0, 30);
  std::string text = head;
  if (bar >= 5) {
    const auto filled = static_cast<int>(static_cast<double>(bar) * static_cast<double>(done) /
                                         static_cast<double>(std::max<int64_t>(1, total_)));
    text += "  [" + std::string(filled, '#') + std::string(bar - filled, '.') + "]";
  }
  text += "  " + std::string(stats);
  if (static_cast<int>(text.size()) >= width) text.resize(width - 1);
  os_ << "\r" << text << "\033[K" << std::flush;
  bar_shown_ = true;
}

void Progress::clear_bar() {
  if (bar_shown_) os_ << "\r\033[K";
  bar_shown_ = false;
}

void Progress::line(const std::string& text) {
  clear_bar();
  os_ << text << "\n" << std::flush;
}

}  // namespace raoq::tools
