#include "runtime/recent_replies.hpp"

namespace memrun::internal {

std::optional<RecentReplies::Outcome> RecentReplies::find(const std::string& request_id) const {
  std::lock_guard lock(mu_);
  auto it = outcomes_.find(request_id);
  if (it == outcomes_.end()) return std::nullopt;
  return it->second;
}

void RecentReplies::remember(const std::string& request_id, Outcome outcome) {
  if (capacity_ == 0) return;
  std::lock_guard lock(mu_);
  const auto [it, added] = outcomes_.emplace(request_id, std::move(outcome));
  if (!added) return;
  order_.push_back(it->first);
  while (order_.size() > capacity_) {
    // Erased from order_ first: the view dies with the map's node.
    const std::string_view oldest = order_.front();
    order_.pop_front();
    outcomes_.erase(outcomes_.find(oldest));
  }
}

size_t RecentReplies::size() const {
  std::lock_guard lock(mu_);
  return outcomes_.size();
}

}  // namespace memrun::internal
