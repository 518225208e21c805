// The handler runner: from a request whose headers were read to its outcome.
// It sets the deadline, answers redeliveries from the recent-replies window
// (dedupe), keeps crash-looping requests away from the handler (crash
// journal and the gate that runs suspects alone), validates the record, and
// runs the handler, retrying retry-worthy failures with a backoff that stop()
// interrupts. It produces nothing: the outcome is left in the Request for the
// outbox. No librdkafka.
//
// @locality: run() on the worker's handler threads, many at once; stop() from
// the thread that stops the worker; stopping() from any thread.
#pragma once

#include <memrun/service.hpp>
#include <memrun/routing.hpp>

#include "core/payload_scan.hpp"
#include "runtime/crash_journal.hpp"
#include "runtime/fleet_journal.hpp"
#include "runtime/recent_replies.hpp"
#include "runtime/request.hpp"
#include "runtime/worker_counters.hpp"

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <mutex>
#include <string>

namespace memrun::internal {

// Failures worth another attempt: transient ones, and unexpected handler
// failures (as Spring Kafka retries any exception by default). Bad input,
// missing objects and expired deadlines would fail the same way again.
bool retry_worthy(Code code);

// The caller's message when a handler runs past its deadline.
std::string overdue_message(const Request& req, int64_t now_ms, double timeout_seconds);

class HandlerRunner {
 public:
  struct Parts {
    const MemoryService& service;
    SharedWorkerContext& context;
    RecentReplies& recent;
    CrashJournal* journal = nullptr;  // null: no crash-loop protection
    FleetJournal* fleet = nullptr;    // null: deaths on other machines are not counted
    Counters& counters;
    // Whether this worker still holds the partition: a handler's cancelled()
    // turns true when it is revoked.
    std::function<bool(int32_t partition)> holds;
    std::string request_topic;  // for log lines
  };
  // Every reference in `parts` must outlive the runner.
  explicit HandlerRunner(Parts parts);

  // REQUIRES: req->headers read (read_request_headers) and req->taken_ms set.
  // Sets req->deadline_ms and the outcome: code, body, attempts, duplicate,
  // error_class, dead_letter. While the handler runs, `watch` (may be null)
  // holds the request so its caller hears deadline_exceeded at the deadline.
  void run(const RequestPtr& req, DeadlineWatch* watch);

  // Running handlers' cancelled() turns true and retry backoffs end now; no
  // further attempt starts.
  void stop();
  bool stopping() const { return stopping_.load(); }

 private:
  class Context;
  void run_guarded(Request& req);
  void run_handler(Request& req);
  // Counts and logs a misrouted request; throws Error(kInvalidArgument) for it
  // under strict_routing.
  void check_routing(const Request& req, const std::string& key);
  // false if stop() came first
  bool back_off(std::chrono::milliseconds wait);

  Parts p_;
  StickyKey sticky_;
  PayloadScanner scanner_;  // validates payloads and reads their keys without a tree
  std::atomic<int64_t> last_misroute_log_ms_{0};  // Unix ms of the last misroute line
  std::atomic<uint64_t> misroutes_unlogged_{0};   // since that line
  SuspectGate gate_;
  std::atomic<bool> stopping_{false};
  std::mutex stop_mu_;
  std::condition_variable stop_cv_;  // wakes backoffs at stop()
};

}  // namespace memrun::internal
