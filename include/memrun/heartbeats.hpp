// memrun/heartbeats.hpp — which workers of a service are alive, and how they
// are doing, from the status records they publish to memrun.heartbeats.
//
//   auto workers = memrun::read_worker_status(kafka, "echo");
//   for (const auto& w : workers)
//     std::cout << w.worker_id << " holds " << w.partitions.size() << " partitions\n";
//
// Every worker sends a record every heartbeat interval, keyed by its id, and a
// last one with state "stopped" when it leaves. This reads the recent records
// of the topic without joining any consumer group and keeps the newest record
// of each worker.
#pragma once

#include <memrun/export.hpp>
#include <memrun/kafka_options.hpp>
#include <memrun/status.hpp>
#include <memrun/worker_counters.hpp>

#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

namespace memrun {

// A worker's cache tiers, as counted since it started (docs/cache.md).
struct CacheTierStatus {
  uint64_t ram_hits = 0;
  uint64_t disk_hits = 0;
  uint64_t remote_fetches = 0;
  uint64_t remote_bytes = 0;
  uint64_t disk_entries = 0;
  uint64_t disk_bytes = 0;
  uint64_t disk_capacity = 0;
  uint64_t disk_evictions = 0;
  uint64_t disk_corrupt_dropped = 0;
};

// One worker's newest heartbeat. Counters (WorkerCounters: every one in
// kWorkerCounters) run since the worker started.
struct WorkerStatus : WorkerCounters {
  std::string worker_id;
  std::string service;
  std::string state;                       // "serving", or "stopped" in a worker's last record
  int64_t time_ms = 0;                     // when it was sent, Unix milliseconds (the worker's clock)
  std::chrono::milliseconds interval{0};  // the worker's heartbeat interval
  std::vector<int32_t> partitions;         // request partitions it held, ascending
  int64_t in_flight = 0;
  uint64_t handled = 0;  // finished requests, failed ones included
  uint64_t errors = 0;
  uint64_t objects = 0;
  uint64_t object_bytes = 0;
  uint64_t memory_budget_bytes = 0;
  uint64_t evictions = 0;
  CacheTierStatus cache;
  // Now minus time_ms; never negative, though the clocks of reader and worker
  // may disagree.
  std::chrono::milliseconds age{0};
  // Serving, and its last record is at most max(3 intervals, 5 s) old.
  bool live = false;
  std::string json;  // the record's value exactly as the worker sent it
};

struct WorkerStatusQuery {
  // Only records from the last `window` are read; a worker silent for longer
  // is not listed at all.
  std::chrono::milliseconds window{std::chrono::seconds(60)};
  // Also list workers whose newest record says "stopped" or is stale (live is
  // false for them).
  bool include_gone = false;
  // Bound on the whole call: metadata, offset lookups and the read.
  std::chrono::milliseconds timeout{std::chrono::seconds(10)};
};

// The workers of `service` that sent a heartbeat within `query.window`, the
// newest record of each, sorted by worker id; only live ones unless
// `query.include_gone`. Reads memrun.heartbeats up to its end as of the call,
// so it returns promptly even while workers keep writing. Records that are not
// a worker status (bad JSON, missing or mistyped fields) are skipped.
//
// Thread-safe: each call uses its own Kafka client.
//
// Throws Error(kInvalidArgument) for a bad Kafka property or a window that is
// not positive, Error(kNotFound) if the cluster has no memrun.heartbeats topic
// (no worker ever ran there), Error(kUnavailable) if Kafka cannot be reached,
// and Error(kDeadlineExceeded) if the read did not finish within
// `query.timeout`.
MEMRUN_API std::vector<WorkerStatus> read_worker_status(const KafkaOptions& kafka, const std::string& service,
                                                        const WorkerStatusQuery& query = {});

}  // namespace memrun
