#include "runtime/recent_replies.hpp"

namespace memrun::internal {

RecentReplies::RecentReplies(size_t capacity, size_t max_bytes)
    : shard_count_(capacity >= kShardedFrom ? kShards : 1),
      shard_capacity_(max_bytes == 0 ? 0 : (capacity + shard_count_ - 1) / shard_count_),
      max_bytes_(max_bytes),
      shards_(std::make_unique<Shard[]>(shard_count_)) {}

RecentReplies::Shard& RecentReplies::shard_of(std::string_view request_id) const {
  return shards_[shard_count_ == 1 ? 0 : StringHash{}(request_id) % shard_count_];
}

std::optional<RecentReplies::Outcome> RecentReplies::find(const std::string& request_id) const {
  Shard& s = shard_of(request_id);
  std::lock_guard lock(s.mu);
  auto it = s.outcomes.find(request_id);
  if (it == s.outcomes.end()) return std::nullopt;
  return it->second;
}

bool RecentReplies::remember(const std::string& request_id, Outcome outcome) {
  const size_t added_bytes = cost(request_id, outcome);
  if (shard_capacity_ == 0) return true;
  if (added_bytes > max_bytes_) return false;
  Shard& s = shard_of(request_id);
  std::lock_guard lock(s.mu);
  const auto [it, added] = s.outcomes.emplace(request_id, std::move(outcome));
  if (!added) return true;
  s.order.push_back(it->first);
  size_t total = bytes_.fetch_add(added_bytes, std::memory_order_relaxed) + added_bytes;
  while (!s.order.empty() && (s.order.size() > shard_capacity_ || total > max_bytes_)) {
    // Erased from order first: the view dies with the map's node.
    const std::string_view oldest = s.order.front();
    s.order.pop_front();
    const auto gone = s.outcomes.find(oldest);
    const size_t freed = cost(gone->first, gone->second);
    s.outcomes.erase(gone);
    total = bytes_.fetch_sub(freed, std::memory_order_relaxed) - freed;
  }
  // The new outcome is the newest: it left only if all before it did.
  return !s.order.empty();
}

size_t RecentReplies::size() const {
  size_t n = 0;
  for (size_t i = 0; i < shard_count_; ++i) {
    std::lock_guard lock(shards_[i].mu);
    n += shards_[i].outcomes.size();
  }
  return n;
}

}  // namespace memrun::internal
