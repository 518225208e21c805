// Per-partition commit points under out-of-order completion.
//
// Requests of one partition finish in any order. The offset that may be
// committed for a partition is the lowest offset still unfinished (or one past
// the highest admitted when none is unfinished): committing it never skips a
// request that is running or whose reply is not yet acknowledged.
//
// Partitions carry a generation: after a partition is dropped (revoked or lost)
// and assigned again, completions of the old generation are ignored, so work
// finished after a lost assignment is never committed by this worker.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <map>
#include <mutex>
#include <vector>

namespace memrun::internal {

class OffsetTracker {
 public:
  struct Ticket {
    int32_t partition = -1;
    int64_t offset = -1;
    uint64_t generation = 0;
  };
  struct Commit {
    int32_t partition;
    int64_t offset;  // next offset to consume, as Kafka stores it
  };

  // Starts tracking a partition (a fresh generation).
  void assign(int32_t partition);
  // Stops tracking; later completions of its tickets are ignored.
  void drop(int32_t partition);
  bool assigned(int32_t partition) const;
  // True while the ticket's partition is tracked in the ticket's generation:
  // completing it can still move a commit point.
  bool live(const Ticket& ticket) const;

  // Records that `offset` was taken from `partition`. REQUIRES: assigned.
  Ticket admit(int32_t partition, int64_t offset);
  // Records that the work of `ticket` is done (reply acknowledged).
  void complete(const Ticket& ticket);

  // Commit points that advanced since the last call, marked as committed.
  std::vector<Commit> take_commits();
  // The current commit point of one partition, if it advanced; marks it.
  std::vector<Commit> take_commits(const std::vector<int32_t>& partitions);

  // Unfinished requests of one partition / of these / of all partitions.
  size_t unfinished(int32_t partition) const;
  size_t unfinished(const std::vector<int32_t>& partitions) const;
  size_t unfinished() const;
  // Blocks until none of `partitions` has unfinished requests or `until`
  // passes; true if they finished. Woken by complete() and drop().
  bool wait_finished(const std::vector<int32_t>& partitions, std::chrono::steady_clock::time_point until) const;

 private:
  struct Admitted {
    int64_t offset;
    bool done;
  };
  struct State {
    uint64_t generation = 0;
    // Admitted offsets in ascending order from the lowest unfinished one
    // (finished ones leave from the front). Offsets arrive in order, so an
    // admission appends and no request allocates a node of its own, as a
    // std::set did (one allocation on the admitting thread, one free on the
    // delivery thread, per request).
    std::deque<Admitted> window;
    size_t unfinished = 0;   // entries of `window` not done
    int64_t next = -1;       // one past the highest admitted offset
    int64_t committed = -1;  // last commit point handed out
  };
  // The first entry of `s.window` at or after `offset` (its end if none).
  static std::deque<Admitted>::iterator slot(State& s, int64_t offset);
  static int64_t commit_point(const State& s);
  std::vector<Commit> take_locked(const std::vector<int32_t>* only);

  size_t unfinished_locked(const std::vector<int32_t>& partitions) const;

  mutable std::mutex mu_;
  mutable std::condition_variable finished_;  // signalled when a request finishes
  std::map<int32_t, State> parts_;  // GUARDED_BY(mu_)
  uint64_t generations_ = 0;        // GUARDED_BY(mu_)
};

}  // namespace memrun::internal
