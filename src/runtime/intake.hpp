// Intake: admission (admission.hpp) shared by the poll thread, which offers
// the records it fetched, and the handler threads, which take their next
// request themselves when they finish one.
//
// Why: with admission on the poll thread alone, every request was handed to
// a handler thread (a queued std::function and a wake-up), and every finished
// request woke the poll thread to admit the next waiting one: two thread
// switches per request under load. Here a handler thread that finishes a
// request takes the next waiting one under the intake's lock and runs it
// with no hand-off; a handler thread sleeps only while nothing waits. The
// poll thread wakes a sleeping handler only for a record that may run at
// once (some slot idle), and is woken by a handler only when a paused
// partition may fetch again (rare: see Admission's hysteresis).
//
// Semantics are Admission's: at most `slots` requests run (counted from
// admission to the handler thread's next call of next()); what waits is
// served round-robin across partitions; hold() starts nothing. Every request
// let run passes through `admit` (under the lock, so in offset order within
// a partition) and is returned by next() even after close(): an admitted
// request is never dropped.
//
// @locality: offer(), admit_waiting(), take_resumes(), forget(), clear()
// and hold refreshes from the poll thread; next() from the handler threads;
// close() from the thread stopping the worker; running() and waiting() from
// any thread. One mutex guards the admission state.
#pragma once

#include "runtime/admission.hpp"

#include <atomic>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <mutex>
#include <optional>
#include <utility>
#include <vector>

namespace memrun::internal {

template <typename T>
class Intake {
 public:
  struct Hooks {
    // A request is let run (before any handler thread sees it). Under the
    // intake's lock: keep it short.
    std::function<void(T&)> admit;
    // Whether admission is held now, given whether it was; asked under the
    // lock before anything is let run. Empty: never held.
    std::function<bool(bool held)> hold;
    // A handler thread queued partitions to resume (take_resumes()): the
    // poll thread must look. Called outside the lock.
    std::function<void()> resume_ready;
  };

  // REQUIRES: slots > 0, read_ahead > 0.
  Intake(size_t slots, size_t read_ahead, Hooks hooks) : admission_(slots, read_ahead), hooks_(std::move(hooks)) {}

  // Poll thread: a record of `partition` arrived. Returns true if the
  // partition must pause now.
  bool offer(int32_t partition, T item) {
    bool pause = false, offered_run = false;
    {
      std::lock_guard lock(mu_);
      refresh_hold();
      auto offered = admission_.offer(partition, std::move(item), running_.load(std::memory_order_relaxed));
      pause = offered.pause;
      offered_run = offered.run.has_value();
      if (offered.run) let_run(std::move(*offered.run));
    }
    if (offered_run) ready_cv_.notify_one();
    return pause;
  }

  // Poll thread: starts what waits for the free slots (after a hold ends, or
  // as a safety net; handler threads normally take it themselves).
  void admit_waiting() {
    size_t started = 0;
    {
      std::lock_guard lock(mu_);
      refresh_hold();
      started = take_locked();
    }
    for (size_t i = 0; i < started; ++i) ready_cv_.notify_one();
  }

  // Poll thread: partitions that may fetch again since the last call.
  std::vector<int32_t> take_resumes() {
    std::lock_guard lock(mu_);
    return std::exchange(resumes_, {});
  }

  // Handler threads: the next request to run. `finished`: the caller's
  // previous request is done (its slot frees). Blocks while nothing may run;
  // nullopt once close() was called and nothing admitted is left.
  std::optional<T> next(bool finished) {
    bool resumed = false;
    size_t others = 0;  // requests let run here beyond the one this thread takes
    std::optional<T> out;
    {
      std::unique_lock lock(mu_);
      if (finished) running_.fetch_sub(1, std::memory_order_relaxed);
      if (!closed_) {
        refresh_hold();
        const size_t before = resumes_.size();
        const size_t started = take_locked();
        resumed = resumes_.size() > before;
        others = started > 0 ? started - 1 : 0;
      }
      ready_cv_.wait(lock, [&] { return !ready_.empty() || closed_; });
      if (!ready_.empty()) {
        out = std::move(ready_.front());
        ready_.pop_front();
      }
    }
    // Woken only for what this thread does not run itself: a finished
    // request's successor runs on the same thread, with no switch.
    for (size_t i = 0; i < others; ++i) ready_cv_.notify_one();
    if (resumed && hooks_.resume_ready) hooks_.resume_ready();
    return out;
  }

  // Handler threads' next() returns what was admitted, then nullopt. What
  // waits unadmitted is left for clear().
  void close() {
    {
      std::lock_guard lock(mu_);
      closed_ = true;
    }
    ready_cv_.notify_all();
  }

  // Poll thread (rebalance callback): as Admission::forget.
  void forget(const std::vector<int32_t>& partitions) {
    std::lock_guard lock(mu_);
    admission_.forget(partitions);
  }
  // Poll thread: as Admission::clear.
  void clear() {
    std::lock_guard lock(mu_);
    admission_.clear();
    resumes_.clear();
  }

  bool held() const {
    std::lock_guard lock(mu_);
    return admission_.held();
  }
  // Admitted and not finished: waiting for a handler thread or running.
  size_t running() const { return running_.load(std::memory_order_relaxed); }
  size_t waiting() const {
    std::lock_guard lock(mu_);
    return admission_.waiting();
  }
  size_t room() const {
    std::lock_guard lock(mu_);
    return admission_.room();
  }

 private:
  void refresh_hold() {
    if (hooks_.hold) admission_.hold(hooks_.hold(admission_.held()));
  }
  void let_run(T item) {
    if (hooks_.admit) hooks_.admit(item);
    running_.fetch_add(1, std::memory_order_relaxed);
    ready_.push_back(std::move(item));
  }
  // Lets run what waits, for the free slots; returns how many. The caller
  // wakes handler threads for them (after unlocking).
  size_t take_locked() {
    auto taken = admission_.take(running_.load(std::memory_order_relaxed));
    for (auto& item : taken.run) let_run(std::move(item));
    resumes_.insert(resumes_.end(), taken.resume.begin(), taken.resume.end());
    return taken.run.size();
  }

  mutable std::mutex mu_;
  std::condition_variable ready_cv_;
  Admission<T> admission_;  // GUARDED_BY(mu_)
  Hooks hooks_;
  std::deque<T> ready_;            // GUARDED_BY(mu_): admitted, no handler thread has it yet
  std::vector<int32_t> resumes_;   // GUARDED_BY(mu_)
  bool closed_ = false;            // GUARDED_BY(mu_)
  std::atomic<size_t> running_{0};  // written under mu_; read anywhere
};

}  // namespace memrun::internal
