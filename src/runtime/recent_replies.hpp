// The replies a worker gave recently, by request id, bounded by count and by
// bytes.
//
// At-least-once delivery redelivers requests after a crash or rebalance; a
// request whose id is still in the window is answered with the stored outcome
// instead of running its handler (and side effects) again. Oldest ids leave
// the window first. The byte bound keeps large replies from holding
// count × reply size of RAM (10 000 replies of 1 MiB would be 10 GiB): a
// reply that does not fit in it is not kept, and a redelivery of its id runs
// again, as one past the window does.
//
// Every handler thread looks an id up and records one per request, so the
// window is built to allocate nothing per request once it is full:
// - Each outcome lives in a slot of a ring, oldest first. A slot's buffer
//   holds the id and the body together and is reused by the outcome that
//   replaces it, when large enough.
// - An open-addressed index (linear probing) maps an id's hash to its slot.
// Maps of strings allocated a node, an id and a body per request and freed
// the oldest's, 10 000 of them live across 16 threads' heaps. Per request,
// 16 threads on 2 cores, full window: about 0.8 µs here against 3-4 µs for
// one locked map (bench/recent_replies.cc), and 1.7 µs for 16 locked maps.
//
// A window of kShardedFrom ids or more is split into kShards shards by the
// id's hash, each with its own lock and a kShards-th of the capacity: one
// lock made 16 handler threads queue on it. Within a shard the oldest leaves
// first; across shards an id leaves after about `capacity` newer ones. A
// smaller window is one shard, exact. The byte bound is the whole window's:
// a shard that adds past it lets its own oldest go, down to the reply it
// just added if need be. Bytes are the slots' buffers, each the id and body
// rounded up to kBufferAlign.
//
// @locality: any thread.
#pragma once

#include <memrun/status.hpp>

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace memrun::internal {

class RecentReplies {
 public:
  struct Outcome {
    Code code = Code::kOk;
    std::string body;  // reply bytes, or the error message
  };
  static constexpr size_t kShards = 16;
  static constexpr size_t kShardedFrom = 1024;
  static constexpr size_t kBufferAlign = 64;

  // `capacity` ids and `max_bytes` of ids and bodies; either 0 disables.
  RecentReplies(size_t capacity, size_t max_bytes);

  std::optional<Outcome> find(std::string_view request_id) const;
  // Records an outcome; a no-op when the window is off or the id is present.
  // False when the window is on but cannot keep this outcome within the byte
  // bound: it is larger than the bound, or (sharded) its shard let go of all
  // it held and the other shards still fill the bound.
  bool remember(std::string_view request_id, Code code, std::string_view body);
  size_t size() const;
  size_t bytes() const { return bytes_.load(std::memory_order_relaxed); }

 private:
  struct Slot {
    std::unique_ptr<char[]> buffer;  // id, then body
    size_t buffer_size = 0;
    size_t id_size = 0;
    size_t body_size = 0;
    uint64_t hash = 0;
    Code code = Code::kOk;
    std::string_view id() const { return {buffer.get(), id_size}; }
    std::string_view body() const { return {buffer.get() + id_size, body_size}; }
  };
  static constexpr uint32_t kEmpty = UINT32_MAX;

  // Everything GUARDED_BY(mu).
  struct Shard {
    mutable std::mutex mu;
    std::vector<Slot> slots;     // a ring: `count` outcomes from `oldest` on
    size_t oldest = 0;
    size_t count = 0;
    std::vector<uint32_t> index;  // slot numbers, or kEmpty; a power of 2, at least twice slots.size()

    size_t home(uint64_t hash) const;
    // The index position holding the id's slot, or none.
    std::optional<size_t> position(uint64_t hash, std::string_view id) const;
    void insert(uint32_t slot);
    void erase(uint32_t slot);
    void reindex();
    // Doubles the ring (up to `capacity`), the oldest first again.
    void grow(size_t capacity);
  };

  Shard& shard_of(uint64_t hash) const;
  // Drops the shard's oldest outcome, freeing its buffer when `release`.
  void evict_oldest(Shard& s, bool release);

  const size_t shard_count_;
  const size_t shard_capacity_;  // each shard's share of the capacity, rounded up; 0 when off
  const size_t max_bytes_;
  std::atomic<size_t> bytes_{0};  // every slot's buffer_size, all shards
  const std::unique_ptr<Shard[]> shards_;
};

}  // namespace memrun::internal
