// What the public Blob hides: how the tiers make one, and the disk tier's
// lazy per-chunk check behind it. Not installed; the cache and context
// layers (and their unit tests) include it.
#pragma once

#include <memrun/context.hpp>

#include <atomic>
#include <cstddef>
#include <memory>

namespace memrun::internal {

// Checks a disk-cache entry against its per-chunk checksums the first time
// each chunk is read after a restart, so a multi-GB entry is trusted without
// a full rescan. Implemented by the disk tier; a Blob points at one.
class ChunkCheck {
 public:
  virtual ~ChunkCheck();
  bool all_verified() const noexcept { return all_verified_.load(std::memory_order_acquire); }
  // True once a chunk failed: the entry is dropped and the next get_or_fetch refetches.
  bool corrupt() const noexcept { return corrupt_.load(std::memory_order_acquire); }
  // Verifies the chunks under [offset, offset + length) not verified yet.
  // Throws Error(kUnavailable) on a mismatch (retriable: a retry refetches).
  virtual void verify(std::size_t offset, std::size_t length) const = 0;

 protected:
  mutable std::atomic<bool> all_verified_{false};
  mutable std::atomic<bool> corrupt_{false};
};

struct BlobAccess {
  // Wraps bytes kept alive by `owner`, which also keeps `check` (null:
  // nothing left to check) alive.
  static Blob make(std::shared_ptr<const void> owner, const std::byte* data, std::size_t size, Tier tier,
                   const ChunkCheck* check = nullptr) {
    return Blob(std::move(owner), data, size, tier, check);
  }
  // The same bytes, reported as served by `tier`.
  static Blob with_tier(const Blob& blob, Tier tier) {
    Blob b = blob;
    b.tier_ = tier;
    return b;
  }
};

}  // namespace memrun::internal
