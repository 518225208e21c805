// The replies a worker gave recently, by request id, bounded by count.
//
// At-least-once delivery redelivers requests after a crash or rebalance; a
// request whose id is still in the window is answered with the stored outcome
// instead of running its handler (and side effects) again. Oldest ids leave
// the window first.
//
// Every handler thread looks an id up and records one per request, so a
// window of kShardedFrom ids or more is split into kShards shards by the
// id's hash, each with its own lock and a kShards-th of the capacity: one
// lock made 16 handler threads queue on it (RecentReplies::find and
// remember were 14 % of their samples in a burst profile, a third of it
// waiting). Within a shard the oldest leaves first; across shards an id
// leaves after about `capacity` newer ones. A smaller window is one shard,
// exact.
//
// @locality: any thread.
#pragma once

#include <memrun/status.hpp>

#include "core/string_hash.hpp"

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

  explicit RecentReplies(size_t capacity);

  std::optional<Outcome> find(const std::string& request_id) const;
  // Records an outcome; a no-op when capacity is 0 or the id is present.
  void remember(const std::string& request_id, Outcome outcome);
  size_t size() const;

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

  const size_t shard_count_;
  const size_t shard_capacity_;  // each shard's share of the capacity, rounded up
  const std::unique_ptr<Shard[]> shards_;
};

}  // namespace memrun::internal
