#include "runtime/executor.hpp"

namespace memrun::internal {

Executor::Executor(int threads) {
  alive_ = static_cast<size_t>(threads);
  threads_.reserve(static_cast<size_t>(threads));
  for (int i = 0; i < threads; ++i) threads_.emplace_back([this] { loop(); });
}

Executor::~Executor() {
  {
    std::lock_guard lock(mu_);
    closing_ = true;
  }
  cv_.notify_all();
  for (auto& t : threads_)
    if (t.joinable()) t.join();
}

void Executor::submit(std::function<void()> task) {
  {
    std::lock_guard lock(mu_);
    tasks_.push_back(std::move(task));
  }
  cv_.notify_one();
}

bool Executor::join_for(std::chrono::milliseconds bound) {
  std::unique_lock lock(mu_);
  closing_ = true;
  cv_.notify_all();
  const bool all_exited = exited_.wait_for(lock, bound, [&] { return alive_ == 0; });
  lock.unlock();
  for (auto& t : threads_) {
    if (all_exited) t.join();
    else t.detach();
  }
  return all_exited;
}

void Executor::loop() {
  while (true) {
    std::function<void()> task;
    {
      std::unique_lock lock(mu_);
      cv_.wait(lock, [&] { return closing_ || !tasks_.empty(); });
      if (tasks_.empty()) {
        --alive_;
        exited_.notify_all();
        return;
      }
      task = std::move(tasks_.front());
      tasks_.pop_front();
    }
    task();
  }
}

}  // namespace memrun::internal
