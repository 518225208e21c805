// The worker's counters as atomics, one per row of kWorkerCounters
// (memrun/worker_counters.hpp), addressed by the public field they fill.
//
// @locality: any thread; lock-free (relaxed: each counter is independent).
#pragma once

#include <memrun/worker_counters.hpp>

#include <array>
#include <atomic>
#include <cstddef>
#include <cstdint>

namespace memrun::internal {

class Counters {
 public:
  using Field = uint64_t WorkerCounters::*;

  void add(Field f, uint64_t n = 1) { at(f).fetch_add(n, std::memory_order_relaxed); }
  // Raises a high water mark to `value` if it is higher.
  void raise(Field f, uint64_t value) {
    auto& c = at(f);
    uint64_t prev = c.load(std::memory_order_relaxed);
    while (value > prev && !c.compare_exchange_weak(prev, value, std::memory_order_relaxed)) {
    }
  }
  uint64_t get(Field f) const { return at(f).load(std::memory_order_relaxed); }
  void fill(WorkerCounters& out) const {
    for (std::size_t i = 0; i < kWorkerCounterCount; ++i)
      out.*kWorkerCounters[i].field = values_[i].load(std::memory_order_relaxed);
  }

 private:
  static constexpr std::size_t index(Field f) {
    for (std::size_t i = 0; i < kWorkerCounterCount; ++i)
      if (kWorkerCounters[i].field == f) return i;
    return kWorkerCounterCount;  // unreachable: every field has its row (static_assert in the table's header)
  }
  std::atomic<uint64_t>& at(Field f) { return values_[index(f)]; }
  const std::atomic<uint64_t>& at(Field f) const { return values_[index(f)]; }

  std::array<std::atomic<uint64_t>, kWorkerCounterCount> values_{};
};

}  // namespace memrun::internal
