#include "runtime/recent_replies.hpp"

#include "core/string_hash.hpp"

#include <algorithm>
#include <bit>
#include <cstring>

namespace memrun::internal {

RecentReplies::RecentReplies(size_t capacity, size_t max_bytes)
    : shard_count_(capacity >= kShardedFrom ? kShards : 1),
      shard_capacity_(max_bytes == 0 ? 0 : (capacity + shard_count_ - 1) / shard_count_),
      max_bytes_(max_bytes),
      shards_(std::make_unique<Shard[]>(shard_count_)) {}

RecentReplies::Shard& RecentReplies::shard_of(uint64_t hash) const {
  return shards_[shard_count_ == 1 ? 0 : hash % shard_count_];
}

// Fibonacci hashing: the product's high bits depend on all of the hash's, so
// the index does not cluster on the low bits that chose the shard.
size_t RecentReplies::Shard::home(uint64_t hash) const {
  return static_cast<size_t>((hash * 0x9E3779B97F4A7C15ull) >> 32) & (index.size() - 1);
}

std::optional<size_t> RecentReplies::Shard::position(uint64_t hash, std::string_view id) const {
  if (index.empty()) return std::nullopt;
  const size_t mask = index.size() - 1;
  for (size_t i = home(hash); index[i] != kEmpty; i = (i + 1) & mask) {
    const Slot& slot = slots[index[i]];
    if (slot.hash == hash && slot.id() == id) return i;
  }
  return std::nullopt;
}

void RecentReplies::Shard::insert(uint32_t slot) {
  const size_t mask = index.size() - 1;
  size_t i = home(slots[slot].hash);
  while (index[i] != kEmpty) i = (i + 1) & mask;
  index[i] = slot;
}

// Backward-shift deletion: no tombstones, so probes stay as short as the
// live entries make them.
void RecentReplies::Shard::erase(uint32_t slot) {
  const size_t mask = index.size() - 1;
  size_t hole = home(slots[slot].hash);
  while (index[hole] != slot) hole = (hole + 1) & mask;
  for (size_t j = (hole + 1) & mask; index[j] != kEmpty; j = (j + 1) & mask) {
    // The entry at j stays unless the hole lies between its home and j.
    const size_t k = home(slots[index[j]].hash);
    const bool stays = hole <= j ? (hole < k && k <= j) : (hole < k || k <= j);
    if (!stays) {
      index[hole] = index[j];
      hole = j;
    }
  }
  index[hole] = kEmpty;
}

void RecentReplies::Shard::reindex() {
  index.assign(std::bit_ceil(2 * slots.size()), kEmpty);
  for (size_t i = 0; i < count; ++i) insert(static_cast<uint32_t>((oldest + i) % slots.size()));
}

void RecentReplies::Shard::grow(size_t capacity) {
  std::rotate(slots.begin(), slots.begin() + static_cast<std::ptrdiff_t>(oldest), slots.end());
  oldest = 0;
  slots.resize(std::min(capacity, std::max<size_t>(16, 2 * slots.size())));
  reindex();
}

void RecentReplies::evict_oldest(Shard& s, bool release) {
  Slot& slot = s.slots[s.oldest];
  s.erase(static_cast<uint32_t>(s.oldest));
  if (release) {
    bytes_.fetch_sub(slot.buffer_size, std::memory_order_relaxed);
    slot.buffer.reset();
    slot.buffer_size = 0;
  }
  s.oldest = (s.oldest + 1) % s.slots.size();
  --s.count;
}

std::optional<RecentReplies::Outcome> RecentReplies::find(std::string_view request_id) const {
  if (shard_capacity_ == 0) return std::nullopt;
  const uint64_t hash = StringHash{}(request_id);
  Shard& s = shard_of(hash);
  std::lock_guard lock(s.mu);
  const auto at = s.position(hash, request_id);
  if (!at) return std::nullopt;
  const Slot& slot = s.slots[s.index[*at]];
  return Outcome{slot.code, std::string(slot.body())};
}

bool RecentReplies::remember(std::string_view request_id, Code code, std::string_view body) {
  if (shard_capacity_ == 0) return true;
  const size_t need = request_id.size() + body.size();
  const size_t size = std::max<size_t>(1, (need + kBufferAlign - 1) / kBufferAlign) * kBufferAlign;
  if (size > max_bytes_) return false;
  const uint64_t hash = StringHash{}(request_id);
  Shard& s = shard_of(hash);
  std::lock_guard lock(s.mu);
  if (s.position(hash, request_id)) return true;
  if (s.count == s.slots.size()) {
    if (s.slots.size() < shard_capacity_) s.grow(shard_capacity_);
    else evict_oldest(s, false);  // its slot, buffer and all, is the one written next
  }
  const auto at = static_cast<uint32_t>((s.oldest + s.count) % s.slots.size());
  Slot& slot = s.slots[at];
  // A buffer is reused when large enough, and not when far larger: one large
  // reply should not pin its size for the small ones after it.
  if (slot.buffer_size < size || slot.buffer_size > 2 * size + 4096) {
    bytes_.fetch_add(size, std::memory_order_relaxed);
    bytes_.fetch_sub(slot.buffer_size, std::memory_order_relaxed);
    slot.buffer = std::make_unique_for_overwrite<char[]>(size);
    slot.buffer_size = size;
  }
  if (!request_id.empty()) std::memcpy(slot.buffer.get(), request_id.data(), request_id.size());
  if (!body.empty()) std::memcpy(slot.buffer.get() + request_id.size(), body.data(), body.size());
  slot.id_size = request_id.size();
  slot.body_size = body.size();
  slot.hash = hash;
  slot.code = code;
  s.insert(at);
  ++s.count;
  while (s.count > 0 && bytes_.load(std::memory_order_relaxed) > max_bytes_) evict_oldest(s, true);
  // The new outcome is the newest: it left only if all before it did.
  return s.count > 0;
}

size_t RecentReplies::size() const {
  size_t n = 0;
  for (size_t i = 0; i < shard_count_; ++i) {
    std::lock_guard lock(shards_[i].mu);
    n += shards_[i].count;
  }
  return n;
}

}  // namespace memrun::internal
