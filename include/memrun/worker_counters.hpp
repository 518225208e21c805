// memrun/worker_counters.hpp — what a worker counts about itself, defined once.
//
//   for (const auto& c : memrun::kWorkerCounters)
//     std::cout << c.name << " = " << stats.*c.field << "\n";
//
// Each counter is a field of WorkerCounters and one row of kWorkerCounters.
// The row is the only list: Worker::stats(), the heartbeat record (both
// writing and reading it, see heartbeats.hpp) and the Prometheus text
// (metrics.hpp) are all generated from it. To add a counter, add the field
// and its row here, and nothing else.
#pragma once

#include <cstdint>
#include <iterator>
#include <string_view>

namespace memrun {

// Counted since the worker started; never decrease (max_in_flight is a high
// water mark, revoke_limit_ms a setting).
struct WorkerCounters {
  uint64_t received = 0;          // records taken from Kafka
  uint64_t succeeded = 0;         // handler returned a reply
  uint64_t failed = 0;            // error replies (handler errors, bad input, expiry)
  uint64_t max_in_flight = 0;     // most handlers running at once
  uint64_t paused_times = 0;      // how often the worker paused a partition
  uint64_t commits = 0;           // offset commits Kafka acknowledged
  uint64_t retries = 0;           // handler attempts beyond the first
  uint64_t dead_letters = 0;      // requests acknowledged on memrun.dlq.{service}
  uint64_t duplicates = 0;        // redelivered requests answered from the window
  uint64_t dedup_not_kept = 0;    // replies the window could not keep in dedup_window_bytes
  uint64_t rebalances = 0;        // assignment changes (each assign or revoke)
  uint64_t delivery_retries = 0;  // replies and dead letters produced again after Kafka refused them
  uint64_t lost_replies = 0;      // replies that could never arrive (no such reply topic, too large)
  uint64_t misrouted = 0;         // records keyed or partitioned unlike their payload's sticky key
  uint64_t revoke_waits = 0;      // revokes that waited for requests still running
  uint64_t revoke_wait_ms = 0;    // how long those waits took, summed
  uint64_t revoke_gave_up = 0;    // requests still running when a revoke's wait ended
  uint64_t revoke_limit_ms = 0;   // how long a revoke may wait (set once, when the consumer opens)
  uint64_t lost_partitions = 0;   // partitions lost to the group, dropped without a commit
  uint64_t intake_holds = 0;      // times no request could start: max_unacked_records awaited Kafka
  uint64_t fleet_deaths = 0;      // deaths read from memrun.suspects.{service}: one per request a dead process ran
};

struct WorkerCounterInfo {
  std::string_view name;    // the field's name; also its key in the heartbeat record
  std::string_view metric;  // Prometheus family
  std::string_view label;   // `name=value` for rows sharing one family, else empty
  std::string_view type;    // Prometheus type: "counter", or "gauge" for a high water mark or a setting
  std::string_view help;    // Prometheus HELP, once per family
  uint64_t WorkerCounters::*field;
};

inline constexpr WorkerCounterInfo kWorkerCounters[] = {
    {"received", "memrun_requests_received_total", "", "counter", "Requests taken from Kafka.",
     &WorkerCounters::received},
    {"succeeded", "memrun_requests_total", "outcome=ok", "counter", "Requests answered, by outcome.",
     &WorkerCounters::succeeded},
    {"failed", "memrun_requests_total", "outcome=error", "counter", "Requests answered, by outcome.",
     &WorkerCounters::failed},
    {"max_in_flight", "memrun_max_in_flight", "", "gauge", "Most handlers that ran at once.",
     &WorkerCounters::max_in_flight},
    {"paused_times", "memrun_pauses_total", "", "counter", "Times a partition was paused for backpressure.",
     &WorkerCounters::paused_times},
    {"commits", "memrun_commits_total", "", "counter", "Offset commits acknowledged.", &WorkerCounters::commits},
    {"retries", "memrun_retries_total", "", "counter", "Handler attempts beyond the first.",
     &WorkerCounters::retries},
    {"dead_letters", "memrun_dead_letters_total", "", "counter", "Requests sent to the dead-letter topic.",
     &WorkerCounters::dead_letters},
    {"duplicates", "memrun_duplicates_suppressed_total", "", "counter",
     "Redelivered requests answered from the reply window.", &WorkerCounters::duplicates},
    {"dedup_not_kept", "memrun_dedup_not_kept_total", "", "counter",
     "Replies the reply window could not keep within dedup_window_bytes: a redelivery of their id runs again.",
     &WorkerCounters::dedup_not_kept},
    {"rebalances", "memrun_rebalances_total", "", "counter", "Partition assignments and revocations.",
     &WorkerCounters::rebalances},
    {"delivery_retries", "memrun_delivery_retries_total", "", "counter",
     "Replies and dead letters produced again after Kafka refused them.", &WorkerCounters::delivery_retries},
    {"lost_replies", "memrun_lost_replies_total", "", "counter",
     "Replies that could never be delivered (no such reply topic, too large).", &WorkerCounters::lost_replies},
    {"misrouted", "memrun_misrouted_requests_total", "", "counter",
     "Requests whose record key or partition differs from their payload's sticky key.", &WorkerCounters::misrouted},
    {"revoke_waits", "memrun_revoke_waits_total", "", "counter",
     "Revokes that waited for requests of the revoked partitions still running.", &WorkerCounters::revoke_waits},
    {"revoke_wait_ms", "memrun_revoke_wait_milliseconds_total", "", "counter",
     "Time revokes spent waiting for running requests, summed.", &WorkerCounters::revoke_wait_ms},
    {"revoke_gave_up", "memrun_revoke_gave_up_total", "", "counter",
     "Requests still running when a revoke's wait ended; their partition's next owner runs them again.",
     &WorkerCounters::revoke_gave_up},
    {"revoke_limit_ms", "memrun_revoke_wait_limit_milliseconds", "", "gauge",
     "How long a revoke may wait: the lesser of drain_timeout and half of max.poll.interval.ms.",
     &WorkerCounters::revoke_limit_ms},
    {"lost_partitions", "memrun_partitions_lost_total", "", "counter",
     "Partitions lost to the group (session or poll interval expired), dropped without a commit.",
     &WorkerCounters::lost_partitions},
    {"intake_holds", "memrun_intake_holds_total", "", "counter",
     "Times the worker stopped starting requests because max_unacked_records replies and dead letters awaited "
     "Kafka's acknowledgement.",
     &WorkerCounters::intake_holds},
    {"fleet_deaths", "memrun_fleet_suspect_deaths_total", "", "counter",
     "Worker process deaths read from memrun.suspects.{service}, one per request the dead process was running "
     "(this worker's own included).",
     &WorkerCounters::fleet_deaths},
};
inline constexpr std::size_t kWorkerCounterCount = std::size(kWorkerCounters);
static_assert(kWorkerCounterCount * sizeof(uint64_t) == sizeof(WorkerCounters),
              "every WorkerCounters field needs its row in kWorkerCounters");

}  // namespace memrun
