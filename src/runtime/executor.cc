#include "runtime/executor.hpp"

#include "core/thread_name.hpp"

namespace memrun::internal {

Executor::Executor(int threads, std::string name) {
  queue_->alive = static_cast<size_t>(threads);
  threads_.reserve(static_cast<size_t>(threads));
  for (int i = 0; i < threads; ++i)
    threads_.emplace_back([q = queue_, name] {
      if (!name.empty()) name_this_thread(name);
      loop(q);
    });
}

Executor::~Executor() {
  {
    std::lock_guard lock(queue_->mu);
    queue_->closing = true;
  }
  queue_->cv.notify_all();
  for (auto& t : threads_)
    if (t.joinable()) t.join();
}

void Executor::submit(std::function<void()> task) {
  {
    std::lock_guard lock(queue_->mu);
    queue_->tasks.push_back(std::move(task));
  }
  queue_->cv.notify_one();
}

bool Executor::join_for(std::chrono::milliseconds bound) {
  std::unique_lock lock(queue_->mu);
  queue_->closing = true;
  queue_->cv.notify_all();
  const bool all_exited = queue_->exited.wait_for(lock, bound, [&] { return queue_->alive == 0; });
  lock.unlock();
  for (auto& t : threads_) {
    if (all_exited) t.join();
    else t.detach();
  }
  return all_exited;
}

void Executor::loop(const std::shared_ptr<Queue>& q) {
  while (true) {
    std::function<void()> task;
    {
      std::unique_lock lock(q->mu);
      q->cv.wait(lock, [&] { return q->closing || !q->tasks.empty(); });
      if (q->tasks.empty()) {
        --q->alive;
        q->exited.notify_all();
        return;
      }
      task = std::move(q->tasks.front());
      q->tasks.pop_front();
    }
    task();
  }
}

}  // namespace memrun::internal
