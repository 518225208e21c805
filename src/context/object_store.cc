#include "context/object_store.hpp"

#include <vector>

namespace memrun::internal {

void ObjectStore::set(std::string name, std::string type_name, std::shared_ptr<void> object,
                      uint64_t size, bool pinned) {
  // Destructors of dropped objects run after the lock is released: they are
  // user code and may be slow or touch the store.
  std::vector<std::shared_ptr<void>> dropped;
  {
    std::lock_guard lock(mu_);
    auto it = entries_.find(name);
    uint64_t replaced_pinned = (it != entries_.end() && it->second.pinned) ? it->second.size : 0;
    uint64_t room = budget_ - std::min(budget_, pinned_bytes_ - replaced_pinned);
    if (size > room)
      throw Error(Code::kResourceExhausted,
                  "object '" + name + "' of " + std::to_string(size) +
                      " bytes does not fit the memory budget (" + std::to_string(budget_) +
                      " bytes, " + std::to_string(pinned_bytes_ - replaced_pinned) + " pinned)");
    if (it != entries_.end()) {
      dropped.push_back(std::move(it->second.object));
      remove_locked(it);
    }
    Entry e{std::move(type_name), std::move(object), size, pinned, {}};
    if (!pinned) {
      lru_.push_front(name);
      e.lru = lru_.begin();
    } else {
      pinned_bytes_ += size;
    }
    bytes_ += size;
    entries_.emplace(std::move(name), std::move(e));
    evict_locked(dropped);
  }
}

std::shared_ptr<void> ObjectStore::find(std::string_view name, std::string_view type_name) {
  std::lock_guard lock(mu_);
  auto it = entries_.find(std::string(name));
  if (it == entries_.end()) return nullptr;
  Entry& e = it->second;
  if (e.type_name != type_name)
    throw Error(Code::kTypeMismatch, "object '" + std::string(name) + "' is a " + e.type_name +
                                         ", not a " + std::string(type_name));
  if (!e.pinned) lru_.splice(lru_.begin(), lru_, e.lru);
  return e.object;
}

bool ObjectStore::erase(std::string_view name) {
  std::shared_ptr<void> dropped;
  std::lock_guard lock(mu_);
  auto it = entries_.find(std::string(name));
  if (it == entries_.end()) return false;
  dropped = std::move(it->second.object);
  remove_locked(it);
  return true;
}

void ObjectStore::remove_locked(Map::iterator it) {
  Entry& e = it->second;
  bytes_ -= e.size;
  if (e.pinned) pinned_bytes_ -= e.size;
  else lru_.erase(e.lru);
  entries_.erase(it);
}

void ObjectStore::evict_locked(std::vector<std::shared_ptr<void>>& dropped) {
  while (bytes_ > budget_ && !lru_.empty()) {
    auto it = entries_.find(lru_.back());
    dropped.push_back(std::move(it->second.object));
    remove_locked(it);
    ++evictions_;
  }
}

ObjectStoreStats ObjectStore::stats() const {
  std::lock_guard lock(mu_);
  ObjectStoreStats s;
  s.objects = entries_.size();
  s.bytes = bytes_;
  s.pinned_bytes = pinned_bytes_;
  s.budget_bytes = budget_;
  s.evictions = evictions_;
  return s;
}

}  // namespace memrun::internal
