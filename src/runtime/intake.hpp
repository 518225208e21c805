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
// Wake-ups are chained: however many requests become ready at once, one
// sleeping thread is woken, and it wakes the next only if requests are
// still ready when it takes its own. Waking one per request made 16
// threads take turns on 2 cores for requests that ran in microseconds
// (0.7 thread switches per request); chained, a thread that finishes
// first takes what is ready itself. A slow handler's requests start one
// wake-up latency (microseconds) apart instead of together.
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

  // REQUIRES: slots > 0, read_ahead > 0, read_ahead_bytes > 0.
  Intake(size_t slots, size_t read_ahead, Hooks hooks, size_t read_ahead_bytes = SIZE_MAX)
      : admission_(slots, read_ahead, read_ahead_bytes), hooks_(std::move(hooks)) {}

  // Poll thread: a record of `partition`, `bytes` of payload, arrived.
  // Returns true if the partition must pause now.
  bool offer(int32_t partition, T item, size_t bytes = 0) {
    bool pause = false, wake = false;
    {
      std::lock_guard lock(mu_);
      refresh_hold();
      auto offered = admission_.offer(partition, std::move(item), running_.load(std::memory_order_relaxed), bytes);
      pause = offered.pause;
      if (offered.run) let_run(std::move(*offered.run));
      wake = wake_locked();
    }
    if (wake) ready_cv_.notify_one();
    return pause;
  }

  // Poll thread: starts what waits for the free slots (after a hold ends, or
  // as a safety net; handler threads normally take it themselves).
  void admit_waiting() {
    bool wake = false;
    {
      std::lock_guard lock(mu_);
      refresh_hold();
      take_locked();
      wake = wake_locked();
    }
    if (wake) ready_cv_.notify_one();
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
    bool resumed = false, wake = false;
    std::optional<T> out;
    {
      std::unique_lock lock(mu_);
      if (finished) running_.fetch_sub(1, std::memory_order_relaxed);
      if (!closed_) {
        refresh_hold();
        const size_t before = resumes_.size();
        take_locked();
        resumed = resumes_.size() > before;
      }
      while (ready_.empty() && !closed_) {
        ++sleeping_;
        ready_cv_.wait(lock);
        --sleeping_;
        // Any return from the wait counts as the pending wake-up's: at
        // worst one more thread is woken than needed, never one fewer.
        wake_pending_ = false;
      }
      if (!ready_.empty()) {
        out = std::move(ready_.front());
        ready_.pop_front();
      }
      // What this thread does not run itself: a finished request's
      // successor runs on the same thread, with no switch.
      wake = wake_locked();
    }
    if (wake) ready_cv_.notify_one();
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
  // Handler threads asleep in next(), waiting for a request.
  size_t sleeping() const {
    std::lock_guard lock(mu_);
    return sleeping_;
  }
  size_t room() const {
    std::lock_guard lock(mu_);
    return admission_.room();
  }

 private:
  void refresh_hold() {
    if (hooks_.hold) admission_.hold(hooks_.hold(admission_.held()));
  }
  // Whether to wake a sleeping handler thread for what is ready: only when
  // none is being woken already (that one wakes the next if need be).
  bool wake_locked() {
    if (ready_.empty() || sleeping_ == 0 || wake_pending_) return false;
    wake_pending_ = true;
    return true;
  }
  void let_run(T item) {
    if (hooks_.admit) hooks_.admit(item);
    running_.fetch_add(1, std::memory_order_relaxed);
    ready_.push_back(std::move(item));
  }
  // Lets run what waits, for the free slots. The caller wakes a handler
  // thread for them (wake_locked, then notify after unlocking).
  void take_locked() {
    auto taken = admission_.take(running_.load(std::memory_order_relaxed));
    for (auto& item : taken.run) let_run(std::move(item));
    resumes_.insert(resumes_.end(), taken.resume.begin(), taken.resume.end());
  }

  mutable std::mutex mu_;
  std::condition_variable ready_cv_;
  Admission<T> admission_;  // GUARDED_BY(mu_)
  Hooks hooks_;
  std::deque<T> ready_;            // GUARDED_BY(mu_): admitted, no handler thread has it yet
  std::vector<int32_t> resumes_;   // GUARDED_BY(mu_)
  bool closed_ = false;            // GUARDED_BY(mu_)
  size_t sleeping_ = 0;            // GUARDED_BY(mu_): handler threads waiting in next()
  bool wake_pending_ = false;      // GUARDED_BY(mu_): one of them was notified and has not returned yet
  std::atomic<size_t> running_{0};  // written under mu_; read anywhere
};

}  // namespace memrun::internal
