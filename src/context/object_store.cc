#include "context/object_store.hpp"

#include <limits>

namespace memrun::internal {

void ObjectStore::set(std::string name, std::string type_name, std::shared_ptr<void> object,
                      uint64_t size, Keep keep) {
  const bool pinned = keep == Keep::kPinned;
  // Destructors of dropped objects run after the locks are released: they are
  // user code and may be slow or touch the store.
  std::vector<std::shared_ptr<void>> dropped;
  std::lock_guard set_lock(set_mu_);
  Shard& shard = shard_for(name);
  {
    std::unique_lock lock(shard.mu);
    auto it = shard.entries.find(name);
    const uint64_t replaced_pinned =
        (it != shard.entries.end() && it->second.keep == Keep::kPinned) ? it->second.size : 0;
    const uint64_t pinned_now = pinned_bytes_ - replaced_pinned;
    const uint64_t room = budget_ - std::min(budget_, pinned_now);
    if (size > room)
      throw Error(Code::kResourceExhausted,
                  "object '" + name + "' of " + std::to_string(size) + " bytes does not fit the memory budget (" +
                      std::to_string(budget_) + " bytes, " + std::to_string(pinned_now) + " pinned)");
    if (it != shard.entries.end()) remove_locked(shard, it, dropped);
    Entry& e = shard.entries.try_emplace(std::move(name)).first->second;
    e.type_name = std::move(type_name);
    e.object = std::move(object);
    e.size = size;
    e.keep = keep;
    e.last_used = ++clock_;
    if (pinned) pinned_bytes_ += size;
    bytes_ += size;
    ++objects_;
  }
  evict(dropped);
}

std::shared_ptr<void> ObjectStore::find(std::string_view name, std::string_view type_name) {
  Shard& shard = shard_for(name);
  std::shared_lock lock(shard.mu);
  auto it = shard.entries.find(name);
  if (it == shard.entries.end()) return nullptr;
  Entry& e = it->second;
  if (e.type_name != type_name)
    throw Error(Code::kTypeMismatch, "object '" + std::string(name) + "' is a " + e.type_name + ", not a " +
                                         std::string(type_name));
  // Stamped only when something else was stamped since: the object every
  // handler reads stays a read-only cache line.
  if (e.last_used.load(std::memory_order_relaxed) != clock_.load(std::memory_order_relaxed))
    e.last_used.store(++clock_, std::memory_order_relaxed);
  return e.object;
}

bool ObjectStore::erase(std::string_view name) {
  std::vector<std::shared_ptr<void>> dropped;
  Shard& shard = shard_for(name);
  std::unique_lock lock(shard.mu);
  auto it = shard.entries.find(name);
  if (it == shard.entries.end()) return false;
  remove_locked(shard, it, dropped);
  return true;
}

void ObjectStore::remove_locked(Shard& shard, Map::iterator it, std::vector<std::shared_ptr<void>>& dropped) {
  Entry& e = it->second;
  bytes_ -= e.size;
  if (e.keep == Keep::kPinned) pinned_bytes_ -= e.size;
  --objects_;
  dropped.push_back(std::move(e.object));
  shard.entries.erase(it);
}

void ObjectStore::evict(std::vector<std::shared_ptr<void>>& dropped) {
  while (bytes_ > budget_) {
    // The least recently used spare object of all shards, else the least
    // recently used unpinned one.
    size_t victim_shard = kShards;
    std::string victim;
    Keep victim_keep = Keep::kPinned;
    uint64_t oldest = std::numeric_limits<uint64_t>::max();
    for (size_t i = 0; i < kShards; ++i) {
      std::shared_lock lock(shards_[i].mu);
      for (const auto& [name, e] : shards_[i].entries) {
        if (e.keep == Keep::kPinned) continue;
        const uint64_t t = e.last_used.load(std::memory_order_relaxed);
        const bool spare_over_normal = e.keep == Keep::kSpare && victim_keep != Keep::kSpare;
        const bool same_class_older = e.keep == victim_keep && t < oldest;
        if (spare_over_normal || same_class_older || victim_shard == kShards) {
          oldest = t;
          victim = name;
          victim_shard = i;
          victim_keep = e.keep;
        }
      }
    }
    if (victim_shard == kShards) return;  // only pinned objects left
    std::unique_lock lock(shards_[victim_shard].mu);
    auto it = shards_[victim_shard].entries.find(victim);
    if (it == shards_[victim_shard].entries.end()) continue;  // erased meanwhile
    remove_locked(shards_[victim_shard], it, dropped);
    ++evictions_;
  }
}

ObjectStoreStats ObjectStore::stats() const {
  ObjectStoreStats s;
  s.objects = objects_;
  s.bytes = bytes_;
  s.pinned_bytes = pinned_bytes_;
  s.budget_bytes = budget_;
  s.evictions = evictions_;
  return s;
}

}  // namespace memrun::internal
