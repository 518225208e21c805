// Object store: name → type-erased, reference-counted object, charged against a
// byte budget. Objects marked pinned are never evicted; the others are evicted
// least recently used first once the budget is exceeded. A holder's shared_ptr
// keeps an evicted or replaced object alive.
#pragma once

#include <memrun/context.hpp>

#include <cstdint>
#include <list>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace memrun::internal {

class ObjectStore {
 public:
  explicit ObjectStore(uint64_t budget_bytes) : budget_(budget_bytes) {}

  // Throws Error(kResourceExhausted) when the object alone exceeds what the
  // budget leaves after pinned objects.
  void set(std::string name, std::string type_name, std::shared_ptr<void> object,
           uint64_t size, bool pinned);
  // nullptr when absent; throws Error(kTypeMismatch) on another type.
  std::shared_ptr<void> find(std::string_view name, std::string_view type_name);
  bool erase(std::string_view name);
  ObjectStoreStats stats() const;

 private:
  struct Entry {
    std::string type_name;
    std::shared_ptr<void> object;
    uint64_t size = 0;
    bool pinned = false;
    std::list<std::string>::iterator lru;  // valid when !pinned
  };
  using Map = std::unordered_map<std::string, Entry>;

  void remove_locked(Map::iterator it);
  void evict_locked(std::vector<std::shared_ptr<void>>& dropped);

  const uint64_t budget_;
  mutable std::mutex mu_;
  Map entries_;                      // GUARDED_BY(mu_)
  std::list<std::string> lru_;       // GUARDED_BY(mu_); front = most recent
  uint64_t bytes_ = 0;               // GUARDED_BY(mu_)
  uint64_t pinned_bytes_ = 0;        // GUARDED_BY(mu_)
  uint64_t evictions_ = 0;           // GUARDED_BY(mu_)
};

}  // namespace memrun::internal
