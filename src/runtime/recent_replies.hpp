// The replies a worker gave recently, by request id, bounded by count and by
// bytes (ids plus reply bodies).
//
// At-least-once delivery redelivers requests after a crash or rebalance; a
// request whose id is still in the window is answered with the stored outcome
// instead of running its handler (and side effects) again. Oldest ids leave
// the window first. The byte bound keeps large replies from holding
// count × reply size of RAM (10 000 replies of 1 MiB would be 10 GiB): a
// reply that does not fit in it is not kept, and a redelivery of its id runs
// again, as one past the window does.
//
// Every handler thread looks an id up and records one per request, so a
// window of kShardedFrom ids or more is split into kShards shards by the
// id's hash, each with its own lock and a kShards-th of the capacity: one
// lock made 16 handler threads queue on it (RecentReplies::find and
// remember were 14 % of their samples in a burst profile, a third of it
// waiting). Within a shard the oldest leaves first; across shards an id
// leaves after about `capacity` newer ones. A smaller window is one shard,
// exact. The byte bound is the whole window's: a shard that adds past it
// lets its own oldest go, down to the reply it just added if need be.
//
// @locality: any thread.
#pragma once

#include <memrun/status.hpp>

#include "core/string_hash.hpp"

#include <atomic>
#include <cstddef>
#include <deque>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>

namespace memrun::internal {

class RecentReplies {
 public:
  struct Outcome {
    Code code = Code::kOk;
    std::string body;  // reply bytes, or the error message
  };
  static constexpr size_t kShards = 16;
  static constexpr size_t kShardedFrom = 1024;

  // `capacity` ids and `max_bytes` of ids and bodies; either 0 disables.
  RecentReplies(size_t capacity, size_t max_bytes);

  std::optional<Outcome> find(const std::string& request_id) const;
  // Records an outcome; a no-op when the window is off or the id is present.
  // False when the window is on but cannot keep this outcome within the byte
  // bound: it is larger than the bound, or (sharded) its shard let go of all
  // it held and the other shards still fill the bound.
  bool remember(const std::string& request_id, Outcome outcome);
  size_t size() const;
  size_t bytes() const { return bytes_.load(std::memory_order_relaxed); }

 private:
  struct Shard {
    mutable std::mutex mu;
    // Looked up by string_view too (order's views), without a copy.
    std::unordered_map<std::string, Outcome, StringHash, std::equal_to<>> outcomes;  // GUARDED_BY(mu)
    // GUARDED_BY(mu); oldest first. Views of outcomes' keys: its nodes stay
    // put across rehashing, and an id is erased from both at once.
    std::deque<std::string_view> order;
  };
  Shard& shard_of(std::string_view request_id) const;
  static size_t cost(std::string_view id, const Outcome& outcome) { return id.size() + outcome.body.size(); }

  const size_t shard_count_;
  const size_t shard_capacity_;  // each shard's share of the capacity, rounded up
  const size_t max_bytes_;
  std::atomic<size_t> bytes_{0};  // cost() of every kept outcome, all shards
  const std::unique_ptr<Shard[]> shards_;
};

}  // namespace memrun::internal
