#include "runtime/offset_tracker.hpp"

#include <algorithm>

namespace memrun::internal {

void OffsetTracker::assign(int32_t partition) {
  std::lock_guard lock(mu_);
  State s;
  s.generation = ++generations_;
  parts_[partition] = std::move(s);
}

void OffsetTracker::drop(int32_t partition) {
  {
    std::lock_guard lock(mu_);
    parts_.erase(partition);
  }
  finished_.notify_all();
}

bool OffsetTracker::assigned(int32_t partition) const {
  std::lock_guard lock(mu_);
  return parts_.count(partition) != 0;
}

bool OffsetTracker::live(const Ticket& t) const {
  std::lock_guard lock(mu_);
  auto it = parts_.find(t.partition);
  return it != parts_.end() && it->second.generation == t.generation;
}

OffsetTracker::Ticket OffsetTracker::admit(int32_t partition, int64_t offset) {
  std::lock_guard lock(mu_);
  auto it = parts_.find(partition);
  if (it == parts_.end()) return {partition, offset, 0};  // generation 0 never matches
  State& s = it->second;
  // In order (Kafka's consumer), `at` is the end and this appends; out of
  // order or again, the window stays sorted and holds the offset once.
  auto at = slot(s, offset);
  if (at == s.window.end() || at->offset != offset) {
    s.window.insert(at, {offset, false});
    ++s.unfinished;
  } else if (at->done) {
    at->done = false;
    ++s.unfinished;
  }
  s.next = std::max(s.next, offset + 1);
  return {partition, offset, s.generation};
}

void OffsetTracker::complete(const Ticket& t) {
  {
    std::lock_guard lock(mu_);
    auto it = parts_.find(t.partition);
    if (it == parts_.end() || it->second.generation != t.generation) return;
    State& s = it->second;
    auto at = slot(s, t.offset);
    if (at == s.window.end() || at->offset != t.offset || at->done) return;
    at->done = true;
    --s.unfinished;
    while (!s.window.empty() && s.window.front().done) s.window.pop_front();
  }
  finished_.notify_all();
}

std::deque<OffsetTracker::Admitted>::iterator OffsetTracker::slot(State& s, int64_t offset) {
  return std::lower_bound(s.window.begin(), s.window.end(), offset,
                          [](const Admitted& a, int64_t o) { return a.offset < o; });
}

int64_t OffsetTracker::commit_point(const State& s) {
  return s.window.empty() ? s.next : s.window.front().offset;
}

std::vector<OffsetTracker::Commit> OffsetTracker::take_locked(const std::vector<int32_t>* only) {
  std::vector<Commit> out;
  for (auto& [p, s] : parts_) {
    if (only && std::find(only->begin(), only->end(), p) == only->end()) continue;
    int64_t point = commit_point(s);
    if (point > s.committed && point >= 0) {
      s.committed = point;
      out.push_back({p, point});
    }
  }
  return out;
}

std::vector<OffsetTracker::Commit> OffsetTracker::take_commits() {
  std::lock_guard lock(mu_);
  return take_locked(nullptr);
}

std::vector<OffsetTracker::Commit> OffsetTracker::take_commits(const std::vector<int32_t>& partitions) {
  std::lock_guard lock(mu_);
  return take_locked(&partitions);
}

size_t OffsetTracker::unfinished(int32_t partition) const {
  std::lock_guard lock(mu_);
  auto it = parts_.find(partition);
  return it == parts_.end() ? 0 : it->second.unfinished;
}

size_t OffsetTracker::unfinished(const std::vector<int32_t>& partitions) const {
  std::lock_guard lock(mu_);
  return unfinished_locked(partitions);
}

size_t OffsetTracker::unfinished_locked(const std::vector<int32_t>& partitions) const {
  size_t n = 0;
  for (int32_t p : partitions)
    if (auto it = parts_.find(p); it != parts_.end()) n += it->second.unfinished;
  return n;
}

bool OffsetTracker::wait_finished(const std::vector<int32_t>& partitions,
                                  std::chrono::steady_clock::time_point until) const {
  std::unique_lock lock(mu_);
  return finished_.wait_until(lock, until, [&] { return unfinished_locked(partitions) == 0; });
}

size_t OffsetTracker::unfinished() const {
  std::lock_guard lock(mu_);
  size_t n = 0;
  for (const auto& [p, s] : parts_) n += s.unfinished;
  return n;
}

}  // namespace memrun::internal
