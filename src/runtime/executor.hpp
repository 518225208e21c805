// A fixed pool of handler threads. The worker bounds admissions to the pool's
// size, so the queue never holds more than `threads` tasks.
#pragma once

#include <chrono>
#include <condition_variable>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace memrun::internal {

class Executor {
 public:
  // `name`: the threads' name (name_this_thread); empty keeps the
  // process's.
  explicit Executor(int threads, std::string name = {});
  // Closes the queue and joins, after the queued tasks ran; after a
  // join_for() that gave up, it returns at once instead (the threads were
  // detached).
  ~Executor();
  Executor(const Executor&) = delete;
  Executor& operator=(const Executor&) = delete;

  void submit(std::function<void()> task);

  // Runs the queued tasks, then joins the threads if they all finish within
  // `bound`. Otherwise detaches them and returns false: a task that never
  // returns cannot be stopped from outside. A detached thread keeps the
  // queue it reads alive itself and ends when its task returns, so this
  // executor may be destroyed at once; what the tasks use is theirs to keep
  // alive (the worker's hold a reference to its state).
  bool join_for(std::chrono::milliseconds bound);

 private:
  // Shared with the threads, so that a detached one outlives the executor.
  struct Queue {
    std::mutex mu;
    std::condition_variable cv;
    std::condition_variable exited;           // a thread left loop()
    std::deque<std::function<void()>> tasks;  // GUARDED_BY(mu)
    bool closing = false;                     // GUARDED_BY(mu)
    size_t alive = 0;                         // GUARDED_BY(mu); threads still in loop()
  };
  static void loop(const std::shared_ptr<Queue>& q);

  std::shared_ptr<Queue> queue_ = std::make_shared<Queue>();
  std::vector<std::thread> threads_;
};

}  // namespace memrun::internal
