#include "runtime/recent_replies.hpp"

namespace memrun::internal {

RecentReplies::RecentReplies(size_t capacity)
    : shard_count_(capacity >= kShardedFrom ? kShards : 1),
      shard_capacity_((capacity + shard_count_ - 1) / shard_count_),
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

void RecentReplies::remember(const std::string& request_id, Outcome outcome) {
  if (shard_capacity_ == 0) return;
  Shard& s = shard_of(request_id);
  std::lock_guard lock(s.mu);
  const auto [it, added] = s.outcomes.emplace(request_id, std::move(outcome));
  if (!added) return;
  s.order.push_back(it->first);
  while (s.order.size() > shard_capacity_) {
    // Erased from order first: the view dies with the map's node.
    const std::string_view oldest = s.order.front();
    s.order.pop_front();
    s.outcomes.erase(s.outcomes.find(oldest));
  }
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
