// Which requests were running when a worker process died.
//
// A request whose handler kills the process (a plugin that segfaults on one
// payload) is redelivered after the restart and would kill it again, forever.
// The worker appends a line before a handler runs and another when it
// returns; a restarted worker reads what was left open, counts one crash for
// each of those requests, and runs them alone (so the next crash has one
// suspect), or sends them to the dead-letter topic once they reach the
// service's max_crashes.
//
// The slot's file is mapped, and lines are stored into the mapping: no system
// call per line (two write(2)s per request were the largest cost of the
// request path after JSON), and like write(2)n lines without fsync they
// survive the death of the process (the page cache keeps them), not of the
// machine. The file is sized ahead, so its text ends at the first NUL byte;
// a line counts once its '\n' is stored, which is stored last. Several workers on one
// machine each lock their own journal slot, {dir}/inflight.{n}.journal; a
// restarted worker takes the first free slot, usually its predecessor's.
// Requests are keyed by partition, offset and request id, so a journal left
// over from another cluster never matches.
//
// Each process writes a random incarnation id at the head of its slot. A
// death found in a slot (the incarnation and the requests it left open) is
// what the fleet journal (fleet_journal.hpp) publishes, so that the
// partition's next owner, on another machine, counts it too: the supervisor
// publishes it when its child dies (publish_dead_slots, which marks the slot
// published), else the next process to open the slot (found()).
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <string>
#include <string_view>
#include <tuple>
#include <vector>

namespace memrun::internal {

class CrashJournal {
 public:
  struct Request {
    int32_t partition = 0;
    int64_t offset = 0;
    std::string request_id;
  };
  // A dead process and the requests it was running.
  struct Death {
    std::string incarnation;
    std::vector<Request> requests;
  };
  // Request ids become one token (no spaces or controls) in a line.
  using Key = std::tuple<int32_t, int64_t, std::string>;
  static Key key(int32_t partition, int64_t offset, std::string_view request_id);
  static Key key(const Request& r) { return key(r.partition, r.offset, r.request_id); }

  // Takes a free slot in `dir` (created if missing) and reads what a dead
  // predecessor left in it. Throws Error(kUnavailable) when no slot can be
  // opened; the worker then runs without one.
  explicit CrashJournal(const std::string& dir);
  ~CrashJournal();
  CrashJournal(const CrashJournal&) = delete;
  CrashJournal& operator=(const CrashJournal&) = delete;

  // How many worker deaths this request was running for (0 = none known).
  int crashes(const Request& r) const;
  int crashes_of(const Key& k) const;  // the same, by a key made once
  // Requests left open by a dead process when this one started.
  size_t suspects() const;
  const std::string& path() const { return path_; }
  // The death this process found in its slot when it opened it, unless a
  // supervisor had published it already (empty requests: none).
  const Death& found() const { return found_; }

  // For a supervisor, after its child died: for each slot of `dir` that no
  // live process holds, with the slot locked, calls `publish` with the death
  // it records, if it records one not yet published, and marks it published
  // when `publish` returns true. Returns how many deaths were published.
  static size_t publish_dead_slots(const std::string& dir, const std::function<bool(const Death&)>& publish);

  void started(const Request& r) { started_key(key(r)); }
  // The handler returned (or the request was dead-lettered): no longer a
  // suspect.
  void finished(const Request& r) { finished_key(key(r), kNoTicket); }
  // The same, by a key made once per request (key() allocates).
  // started_key's ticket lets finished_key find the request without a search.
  using Ticket = size_t;
  static constexpr Ticket kNoTicket = SIZE_MAX;
  Ticket started_key(const Key& k);
  void finished_key(const Key& k, Ticket ticket);

 private:
  struct Contents;
  static Contents read(const std::string& path);
  void load();
  // Compacts (the suspects and what is running now) into a new mapped file.
  // False, with a warning, when it cannot: crash-loop protection is off.
  bool rewrite();
  void append(char kind, const Key& k, int crashes);
  void unmap();

  std::string dir_, path_;
  std::string incarnation_;  // this process's, written at the head of the slot
  Death found_;
  int lock_fd_ = -1;
  mutable std::mutex mu_;
  std::map<Key, int> crashed_;  // suspects → crash count
  std::atomic<bool> any_crashed_{false};  // !crashed_.empty(), read without the lock
  // Started, not finished, with their crash counts so far: for compaction.
  // Slots are reused, ids' buffers with them, so that a request allocates
  // nothing here (a std::map allocated a node and a copy of the key each).
  struct Running {
    Key key;
    int crashes = 0;
    bool live = false;
  };
  std::vector<Running> running_;
  std::vector<Ticket> free_running_;  // slots of running_ not live
  char* map_ = nullptr;         // the slot's file; null: protection is off
  size_t capacity_ = 0;         // its size
  size_t bytes_ = 0;            // the text's end in it
};

// Runs a suspect alone: it waits until every other handler has returned,
// and nothing else starts while it runs, so if the process dies again the
// journal blames only it. Writer-preferring, so steady traffic cannot keep
// a suspect waiting forever.
//
// Every request passes it, and suspects are rare: while none waits or runs
// (`guarded_` false) a normal request enters and leaves with an atomic
// count, without the lock (two locked sections per request were 16 handler
// threads' most frequent futex site after the intake). `guarded_` and
// `normal_` are sequentially consistent: a normal request that counted
// itself and then saw no guard is seen by the suspect that set the guard
// and then read the count.
class SuspectGate {
 public:
  void enter(bool suspect);
  void leave(bool suspect);

  // Who is inside and who waits, for tests and diagnostics.
  struct Counts {
    int normal_running = 0;
    int normal_waiting = 0;
    int suspects_waiting = 0;
    bool suspect_running = false;
  };
  Counts counts() const;

 private:
  // A normal request is done: the last one out wakes a waiting suspect.
  void leave_normal();

  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::atomic<bool> guarded_{false};  // suspects_waiting_ > 0 || suspect_running_; written under mu_
  std::atomic<int> normal_{0};        // normal requests inside
  int normal_waiting_ = 0;            // GUARDED_BY(mu_)
  int suspects_waiting_ = 0;          // GUARDED_BY(mu_)
  bool suspect_running_ = false;      // GUARDED_BY(mu_)
};

}  // namespace memrun::internal
