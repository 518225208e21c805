// A one-line progress bar on stderr for long transfers and scans. Drawn only
// when stderr is a terminal; silent when output goes to a file or a pipe, so
// scripts and logs never see carriage returns.
#pragma once

#include <fmt/core.h>

#include <unistd.h>

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <mutex>
#include <string>

namespace memrun::cli {

class ProgressBar {
 public:
  explicit ProgressBar(std::string label, bool enabled = ::isatty(STDERR_FILENO) != 0)
      : label_(std::move(label)), enabled_(enabled), start_(Clock::now()) {}
  ~ProgressBar() { finish(); }
  ProgressBar(const ProgressBar&) = delete;
  ProgressBar& operator=(const ProgressBar&) = delete;

  // Thread-safe: transfers report from their worker threads. Redraws at most
  // ten times a second, and always for the last byte.
  void update(uint64_t done, uint64_t total) {
    if (!enabled_) return;
    std::lock_guard lock(mu_);
    const auto now = Clock::now();
    if (done < total && now - last_draw_ < std::chrono::milliseconds(100)) return;
    last_draw_ = now;
    const double fraction = total ? static_cast<double>(done) / static_cast<double>(total) : 1.0;
    const double seconds = std::chrono::duration<double>(now - start_).count();
    constexpr int kWidth = 30;
    const int filled = static_cast<int>(fraction * kWidth);
    fmt::print(stderr, "\r{} [{}{}] {:3.0f}%  {:.1f}/{:.1f} MiB  {:.1f} MiB/s ", label_, std::string(filled, '#'),
               std::string(kWidth - filled, ' '), fraction * 100, mib(done), mib(total),
               seconds > 0 ? mib(done) / seconds : 0.0);
    drawn_ = true;
  }

  // Ends the line, if one was drawn.
  void finish() {
    std::lock_guard lock(mu_);
    if (drawn_) std::fputc('\n', stderr);
    drawn_ = false;
  }

 private:
  using Clock = std::chrono::steady_clock;
  static double mib(uint64_t bytes) { return static_cast<double>(bytes) / (1 << 20); }

  std::string label_;
  bool enabled_;
  Clock::time_point start_, last_draw_{};
  std::mutex mu_;
  bool drawn_ = false;
};

}  // namespace memrun::cli
