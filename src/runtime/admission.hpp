// Admission: which fetched requests run now, which wait, and when a
// partition's fetching pauses and resumes. Pure logic, no librdkafka: the
// worker acts on its decisions (runs, pauses, resumes).
//
// At most `slots` requests run at once. A record that arrives while every
// slot is busy (or others already wait) waits in a per-partition FIFO, served
// round-robin across partitions (FairQueue). When `read_ahead` records of
// one partition wait, or `read_ahead_bytes` of their payloads, that partition
// pauses, so the rest of its backlog waits in Kafka, not in RAM; it resumes
// once it is below half of both (hysteresis). A pause is costly: librdkafka
// drops what it fetched of the partition past the last record handed out,
// and fetches it again on resume.
//
// Admission can be held: then nothing starts, records still arriving wait
// (so their partitions pause as above) and start once it is released. The
// worker holds it while the outbox keeps WorkerOptions::max_unacked_records
// that Kafka has not acknowledged.
//
// @locality: poll thread only (offer and take from the poll loop, forget from
// the rebalance callback, which runs inside the poll). No locking.
#pragma once

#include "runtime/fair_queue.hpp"

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <utility>
#include <vector>

namespace memrun::internal {

template <typename T>
class Admission {
 public:
  // REQUIRES: slots > 0, read_ahead > 0, read_ahead_bytes > 0.
  Admission(size_t slots, size_t read_ahead, size_t read_ahead_bytes = SIZE_MAX)
      : slots_(slots), read_ahead_(read_ahead), read_ahead_bytes_(read_ahead_bytes) {}

  struct Offered {
    std::optional<T> run;  // start it now
    bool pause = false;    // it waits, and its partition must pause now
  };

  // A record of `partition`, `bytes` of payload, arrived while `running`
  // requests run.
  Offered offer(int32_t partition, T item, size_t running, size_t bytes = 0) {
    Offered out;
    // Down by 1/64 of the gap per smaller record (rounded up, so it reaches
    // the size): one outlier does not shrink room() for long.
    if (bytes >= record_bytes_) record_bytes_ = bytes;
    else record_bytes_ -= (record_bytes_ - bytes + 63) / 64;
    if (!held_ && running < slots_ && waiting_.empty()) {
      out.run = std::move(item);
      return out;
    }
    waiting_.push(partition, {std::move(item), bytes});
    const size_t waiting_bytes = bytes_[partition] += bytes;
    // Only this partition stops: one with a backlog must not keep the others'
    // requests from reaching the queue and their round-robin turn.
    out.pause = (waiting_.size(partition) >= read_ahead_ || waiting_bytes >= read_ahead_bytes_) &&
                paused_.insert(partition).second;
    return out;
  }

  struct Taken {
    std::vector<T> run;             // start these, in this order
    std::vector<int32_t> resume;    // partitions to resume fetching
  };

  // Waiting requests for the slots free while `running` run.
  Taken take(size_t running) {
    Taken out;
    while (!held_ && !waiting_.empty() && running + out.run.size() < slots_) {
      auto [partition, next] = std::move(*waiting_.pop_with_partition());
      out.run.push_back(std::move(next.item));
      const size_t left = waiting_.size(partition);
      auto bytes = bytes_.find(partition);
      if (left == 0) bytes_.erase(bytes);
      else bytes->second -= next.bytes;
      if (paused_.count(partition) && left <= read_ahead_ / 2 &&
          (left == 0 || bytes->second <= read_ahead_bytes_ / 2)) {
        paused_.erase(partition);
        out.resume.push_back(partition);
      }
    }
    return out;
  }

  // The partitions left this worker: what waits for them is dropped (never
  // admitted, so never committed: their next owner fetches it again), and
  // they count as paused no longer.
  void forget(const std::vector<int32_t>& partitions) {
    waiting_.erase(partitions);
    for (int32_t p : partitions) {
      paused_.erase(p);
      bytes_.erase(p);
    }
  }

  // Stop: everything waiting is dropped, as in forget().
  void clear() {
    waiting_.clear();
    paused_.clear();
    bytes_.clear();
  }

  // Held: offer() starts nothing and take() hands out nothing until released.
  void hold(bool held) { held_ = held; }
  bool held() const { return held_; }

  // How many records may be fetched into RAM now without any partition
  // that still fetches passing read_ahead waiting, were they all its
  // (paused partitions get none), nor read_ahead_bytes, were they all as
  // large as the records offered lately (the largest, decaying); at least 1.
  // The poll loop takes this many at most per wake-up, so a batch overruns
  // neither bound by more than one record, or than records larger than the
  // recent ones.
  size_t room() const {
    size_t largest = 0, largest_bytes = 0;
    waiting_.for_each_size([&](int32_t partition, size_t n) {
      if (paused_.count(partition)) return;
      largest = std::max(largest, n);
      largest_bytes = std::max(largest_bytes, waiting_bytes(partition));
    });
    const size_t by_count = largest + 1 >= read_ahead_ ? 1 : read_ahead_ - largest;
    const size_t record = std::max<size_t>(1, record_bytes_);
    const size_t by_bytes =
        largest_bytes + record >= read_ahead_bytes_ ? 1 : (read_ahead_bytes_ - largest_bytes) / record;
    return std::max<size_t>(1, std::min(by_count, by_bytes));
  }

  size_t waiting() const { return waiting_.size(); }
  size_t waiting(int32_t partition) const { return waiting_.size(partition); }
  bool paused(int32_t partition) const { return paused_.count(partition) != 0; }
  size_t waiting_bytes(int32_t partition) const {
    auto it = bytes_.find(partition);
    return it == bytes_.end() ? 0 : it->second;
  }

 private:
  struct Waiting {
    T item;
    size_t bytes;
  };
  const size_t slots_;
  const size_t read_ahead_;
  const size_t read_ahead_bytes_;
  FairQueue<Waiting> waiting_;
  std::map<int32_t, size_t> bytes_;  // payload bytes waiting, for partitions with records waiting
  size_t record_bytes_ = 0;          // the largest payload offered lately (decaying): room()'s estimate
  std::set<int32_t> paused_;  // paused by offer() and not yet resumed by take()
  bool held_ = false;
};

}  // namespace memrun::internal
