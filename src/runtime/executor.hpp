// A fixed pool of handler threads. The worker bounds admissions to the pool's
// size, so the queue never holds more than `threads` tasks.
#pragma once

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
  ~Executor();  // runs queued tasks, then joins
  Executor(const Executor&) = delete;
  Executor& operator=(const Executor&) = delete;

  void submit(std::function<void()> task);

 private:
  void loop();

  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::function<void()>> tasks_;  // GUARDED_BY(mu_)
  bool closing_ = false;                     // GUARDED_BY(mu_)
  std::vector<std::thread> threads_;
};

}  // namespace memrun::internal
