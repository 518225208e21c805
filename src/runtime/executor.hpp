// A fixed pool of handler threads. The worker bounds admissions to the pool's
// size, so the queue never holds more than `threads` tasks.
#pragma once

#include <chrono>
#include <condition_variable>
#include <deque>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace memrun::internal {

class Executor {
 public:
  explicit Executor(int threads);
  // Runs queued tasks, then joins. REQUIRES: join_for() returned true, or
  // was never called.
  ~Executor();
  Executor(const Executor&) = delete;
  Executor& operator=(const Executor&) = delete;

  void submit(std::function<void()> task);

  // Runs the queued tasks, then joins the threads if they all finish within
  // `bound`. Otherwise detaches them and returns false: a task that never
  // returns cannot be stopped from outside, and the caller must then keep
  // this executor, and whatever its tasks use, alive for good.
  bool join_for(std::chrono::milliseconds bound);

 private:
  void loop();

  std::mutex mu_;
  std::condition_variable cv_;
  std::condition_variable exited_;           // a thread left loop()
  std::deque<std::function<void()>> tasks_;  // GUARDED_BY(mu_)
  bool closing_ = false;                     // GUARDED_BY(mu_)
  size_t alive_ = 0;                         // GUARDED_BY(mu_); threads still in loop()
  std::vector<std::thread> threads_;
};

}  // namespace memrun::internal
