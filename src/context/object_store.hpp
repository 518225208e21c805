// Object store: name → type-erased, reference-counted object, charged against a
// byte budget. Objects marked pinned are never evicted; the others are evicted
// once the budget is exceeded: spare ones (Keep::kSpare, the RAM tier's raw
// blobs) first, least recently used first within each class. A holder's
// shared_ptr keeps an evicted or replaced object alive.
//
// Lookups are the hot path (every handler, every request), so they take a
// shared lock on one of 16 shards and move nothing: recency is a logical
// clock stamped on the entry, written only when it changed (a hot object read
// by every handler is not written at all). Sets are rare by comparison; they
// are serialised, and an eviction scans the shards for the oldest stamp.
#pragma once

#include <memrun/context.hpp>

#include "core/string_hash.hpp"

#include <array>
#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <shared_mutex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace memrun::internal {

class ObjectStore {
 public:
  explicit ObjectStore(uint64_t budget_bytes) : budget_(budget_bytes) {}

  // How an object yields to the budget. kSpare objects fill only what the
  // others leave: a kSpare object is never evicted for as long as another
  // kSpare one remains, and never pushes out a kNormal one (it evicts itself
  // first). The RAM tier's raw blobs are kSpare: a handler derives its decoded
  // object from them, which is what it reads again, and the disk tier still
  // holds the raw bytes.
  enum class Keep { kPinned, kNormal, kSpare };

  // Throws Error(kResourceExhausted) when the object alone exceeds what the
  // budget leaves after pinned objects.
  void set(std::string name, std::string type_name, std::shared_ptr<void> object,
           uint64_t size, Keep keep);
  // nullptr when absent; throws Error(kTypeMismatch) on another type.
  std::shared_ptr<void> find(std::string_view name, std::string_view type_name);
  bool erase(std::string_view name);
  ObjectStoreStats stats() const;

 private:
  struct Entry {
    std::string type_name;
    std::shared_ptr<void> object;
    uint64_t size = 0;
    Keep keep = Keep::kNormal;
    std::atomic<uint64_t> last_used{0};  // the clock at the last lookup
  };
  // Lookups by string_view allocate nothing.
  using Map = std::unordered_map<std::string, Entry, StringHash, std::equal_to<>>;
  struct alignas(64) Shard {
    mutable std::shared_mutex mu;
    Map entries;  // GUARDED_BY(mu)
  };
  static constexpr size_t kShards = 16;

  Shard& shard_for(std::string_view name) { return shards_[StringHash{}(name) % kShards]; }
  // Caller holds the shard's lock exclusively; `dropped` outlives the lock.
  void remove_locked(Shard& shard, Map::iterator it, std::vector<std::shared_ptr<void>>& dropped);
  // Caller holds set_mu_.
  void evict(std::vector<std::shared_ptr<void>>& dropped);

  const uint64_t budget_;
  std::array<Shard, kShards> shards_;
  std::mutex set_mu_;  // one set (and its evictions) at a time
  std::atomic<uint64_t> clock_{0};
  std::atomic<uint64_t> objects_{0}, bytes_{0}, pinned_bytes_{0}, evictions_{0};
};

}  // namespace memrun::internal
