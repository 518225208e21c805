// What a worker measures about itself beyond its counters: request latency
// (a fixed-bucket histogram, lock-free), how long partitions stayed paused,
// and the phases of its start.
#pragma once

#include <memrun/worker.hpp>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <map>
#include <mutex>
#include <string>
#include <vector>

namespace memrun::internal {

class WorkerMetrics {
 public:
  using Clock = std::chrono::steady_clock;

  void observe_latency(double seconds) {
    const auto bucket = std::lower_bound(std::begin(kLatencyBuckets), std::end(kLatencyBuckets), seconds) -
                        std::begin(kLatencyBuckets);
    ++latency_[static_cast<size_t>(bucket)];
    latency_sum_us_ += static_cast<uint64_t>(seconds * 1e6);
  }

  // Pauses are rare (a partition's read-ahead filled up), so a lock is cheap
  // here and lets stats() count the pauses still open.
  void paused(int32_t partition) {
    std::lock_guard lock(mu_);
    paused_since_.emplace(partition, Clock::now());
  }
  void resumed(int32_t partition) {
    std::lock_guard lock(mu_);
    auto it = paused_since_.find(partition);
    if (it == paused_since_.end()) return;
    paused_closed_ += Clock::now() - it->second;
    paused_since_.erase(it);
  }

  void add_phase(std::string name, Clock::duration took, std::string detail = "") {
    add_phase({std::move(name), std::chrono::duration<double>(took).count(), std::move(detail)});
  }
  void add_phase(StartupPhase phase) {
    std::lock_guard lock(mu_);
    phases_.push_back(std::move(phase));
  }
  std::vector<StartupPhase> phases() const {
    std::lock_guard lock(mu_);
    return phases_;
  }

  void fill(WorkerStats& s) const {
    for (size_t i = 0; i < kLatencyBucketCount; ++i) {
      s.latency_buckets[i] = latency_[i].load(std::memory_order_relaxed);
      s.latency_count += s.latency_buckets[i];
    }
    s.latency_sum_seconds = static_cast<double>(latency_sum_us_.load()) / 1e6;
    std::lock_guard lock(mu_);
    auto paused = paused_closed_;
    const auto now = Clock::now();
    for (const auto& [partition, since] : paused_since_) paused += now - since;
    s.paused_seconds = std::chrono::duration<double>(paused).count();
  }

 private:
  std::array<std::atomic<uint64_t>, kLatencyBucketCount> latency_{};
  std::atomic<uint64_t> latency_sum_us_{0};
  mutable std::mutex mu_;
  std::map<int32_t, Clock::time_point> paused_since_;  // GUARDED_BY(mu_)
  Clock::duration paused_closed_{};                     // GUARDED_BY(mu_)
  std::vector<StartupPhase> phases_;                    // GUARDED_BY(mu_)
};

}  // namespace memrun::internal
