// The replies a worker gave recently, by request id, bounded by count.
//
// At-least-once delivery redelivers requests after a crash or rebalance; a
// request whose id is still in the window is answered with the stored outcome
// instead of running its handler (and side effects) again. Oldest ids leave
// the window first.
#pragma once

#include <memrun/status.hpp>

#include "core/string_hash.hpp"

#include <cstddef>
#include <deque>
#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>

namespace memrun::internal {

class RecentReplies {
 public:
  struct Outcome {
    Code code = Code::kOk;
    std::string body;  // reply bytes, or the error message
  };

  explicit RecentReplies(size_t capacity) : capacity_(capacity) {}

  std::optional<Outcome> find(const std::string& request_id) const;
  // Records an outcome; a no-op when capacity is 0 or the id is present.
  void remember(const std::string& request_id, Outcome outcome);
  size_t size() const;

 private:
  const size_t capacity_;
  mutable std::mutex mu_;
  // Looked up by string_view too (order_'s views), without a copy.
  std::unordered_map<std::string, Outcome, StringHash, std::equal_to<>> outcomes_;  // GUARDED_BY(mu_)
  // GUARDED_BY(mu_); oldest first. Views of outcomes_'s keys: its nodes
  // stay put across rehashing, and an id is erased from both at once.
  std::deque<std::string_view> order_;
};

}  // namespace memrun::internal
