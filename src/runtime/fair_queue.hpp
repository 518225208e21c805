// Requests fetched but not yet running, one FIFO per partition, served
// round-robin: a hot partition with a deep backlog gets one slot per turn,
// like every other partition that has work, so it cannot starve them.
// Order within a partition is kept (Kafka's per-key ordering).
// Poll thread only: no locking.
#pragma once

#include <cstddef>
#include <cstdint>
#include <deque>
#include <map>
#include <optional>
#include <utility>
#include <vector>

namespace memrun::internal {

template <typename T>
class FairQueue {
 public:
  void push(int32_t partition, T item) {
    queues_[partition].push_back(std::move(item));
    ++size_;
  }

  // The oldest item of the partition after the one served last.
  std::optional<T> pop() {
    auto next = pop_with_partition();
    if (!next) return std::nullopt;
    return std::move(next->second);
  }

  // The same, with the partition it came from.
  std::optional<std::pair<int32_t, T>> pop_with_partition() {
    if (size_ == 0) return std::nullopt;
    auto it = queues_.upper_bound(last_);
    if (it == queues_.end()) it = queues_.begin();
    last_ = it->first;
    T item = std::move(it->second.front());
    it->second.pop_front();
    if (it->second.empty()) queues_.erase(it);
    --size_;
    return std::pair<int32_t, T>(last_, std::move(item));
  }

  // Drops what waits for these partitions (revoked or lost: the next owner
  // fetches them again from the committed offset).
  void erase(const std::vector<int32_t>& partitions) {
    for (int32_t p : partitions) {
      auto it = queues_.find(p);
      if (it == queues_.end()) continue;
      size_ -= it->second.size();
      queues_.erase(it);
    }
  }

  void clear() {
    queues_.clear();
    size_ = 0;
  }

  size_t size() const { return size_; }
  size_t size(int32_t partition) const {
    auto it = queues_.find(partition);
    return it == queues_.end() ? 0 : it->second.size();
  }
  bool empty() const { return size_ == 0; }
  // Calls f(partition, count) for every partition with items.
  template <typename F>
  void for_each_size(F&& f) const {
    for (const auto& [partition, items] : queues_) f(partition, items.size());
  }

 private:
  std::map<int32_t, std::deque<T>> queues_;  // only partitions with items
  int32_t last_ = -1;
  size_t size_ = 0;
};

}  // namespace memrun::internal
