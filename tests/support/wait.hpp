// Waiting on a condition with a deadline: how tests synchronise with workers
// and plugins (a file a handler writes when it begins, a counter on /metrics,
// a heartbeat) instead of sleeping for a guessed time.
#pragma once

#include <chrono>
#include <filesystem>
#include <fstream>
#include <string>
#include <thread>

namespace memrun::test {

// Evaluates `ready` until it holds or `timeout` passes; true if it held. The
// poll interval only bounds how late a change is seen, never correctness.
template <class Pred>
bool wait_until(Pred ready, std::chrono::milliseconds timeout,
                std::chrono::milliseconds interval = std::chrono::milliseconds(20)) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (!ready()) {
    if (std::chrono::steady_clock::now() >= deadline) return false;
    std::this_thread::sleep_for(interval);
  }
  return true;
}

// Lines in a file (0 if it does not exist): the faulty plugin appends one per
// handler that began with {"entered": path}.
inline int lines_in(const std::string& path) {
  std::ifstream in(path);
  int n = 0;
  for (std::string line; std::getline(in, line);) ++n;
  return n;
}

// Threads of this process now: tests that check nothing outlives what
// started it compare this before and after.
inline size_t threads_in_process() {
  size_t n = 0;
  for ([[maybe_unused]] const auto& e : std::filesystem::directory_iterator("/proc/self/task")) ++n;
  return n;
}

// The count to compare with: taken after a thread was started and joined,
// because ThreadSanitizer's runtime starts a thread of its own when the
// process starts its first one.
inline size_t threads_baseline() {
  std::thread([] {}).join();
  return threads_in_process();
}

// Waits until `n` handlers have reported that they began into `path`.
inline bool wait_entered(const std::string& path, int n, std::chrono::milliseconds timeout = std::chrono::seconds(30)) {
  return wait_until([&] { return lines_in(path) >= n; }, timeout);
}

}  // namespace memrun::test
