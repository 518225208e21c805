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
// water mark).
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
  uint64_t rebalances = 0;        // assignment changes (each assign or revoke)
  uint64_t delivery_retries = 0;  // replies and dead letters produced again after Kafka refused them
  uint64_t lost_replies = 0;      // replies that could never arrive (no such reply topic, too large)
  uint64_t misrouted = 0;         // records keyed or partitioned unlike their payload's sticky key
};

struct WorkerCounterInfo {
  std::string_view name;    // the field's name; also its key in the heartbeat record
  std::string_view metric;  // Prometheus family
  std::string_view label;   // `name=value` for rows sharing one family, else empty
  std::string_view type;    // Prometheus type: "counter", or "gauge" for a high water mark
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
    {"rebalances", "memrun_rebalances_total", "", "counter", "Partition assignments and revocations.",
     &WorkerCounters::rebalances},
    {"delivery_retries", "memrun_delivery_retries_total", "", "counter",
     "Replies and dead letters produced again after Kafka refused them.", &WorkerCounters::delivery_retries},
    {"lost_replies", "memrun_lost_replies_total", "", "counter",
     "Replies that could never be delivered (no such reply topic, too large).", &WorkerCounters::lost_replies},
    {"misrouted", "memrun_misrouted_requests_total", "", "counter",
     "Requests whose record key or partition differs from their payload's sticky key.", &WorkerCounters::misrouted},
};
inline constexpr std::size_t kWorkerCounterCount = std::size(kWorkerCounters);
static_assert(kWorkerCounterCount * sizeof(uint64_t) == sizeof(WorkerCounters),
              "every WorkerCounters field needs its row in kWorkerCounters");

}  // namespace memrun
