// The Prometheus text exposition format (0.0.4): a HELP and a TYPE line per
// family, then its samples. Names follow Prometheus conventions: counters end
// in _total, units are base units (seconds, bytes).
#include <memrun/context.hpp>
#include <memrun/metrics.hpp>

#include "ops/exposition.hpp"

#include <fmt/format.h>

#include <string>

namespace memrun {

using internal::Exposition;

std::string prometheus_text(const Worker& worker) {
  const WorkerStats w = worker.stats();
  const CacheStats c = worker.context().cache_stats();
  const ObjectStoreStats o = worker.context().stats();
  Exposition x;

  x.family("memrun_worker_info", "gauge", "The worker's identity; always 1.");
  x.sample("memrun_worker_info", 1, {{"service", worker.service().name}, {"worker", worker.worker_id()}});
  x.one("memrun_ready", "gauge", "1 once init ran and partitions are assigned, 0 before and while stopping.",
        worker.ready() ? 1 : 0);

  internal::write_counters(x, w);
  x.family("memrun_request_duration_seconds", "histogram",
           "From taking a request to its reply, retries included.");
  uint64_t cumulative = 0;
  for (size_t i = 0; i < kLatencyBucketCount; ++i) {
    cumulative += w.latency_buckets[i];
    x.sample("memrun_request_duration_seconds_bucket", static_cast<double>(cumulative),
             {{"le", i + 1 < kLatencyBucketCount ? fmt::format("{}", kLatencyBuckets[i]) : "+Inf"}});
  }
  x.sample("memrun_request_duration_seconds_sum", w.latency_sum_seconds);
  x.sample("memrun_request_duration_seconds_count", static_cast<double>(w.latency_count));
  x.one("memrun_in_flight", "gauge", "Handlers running now.", static_cast<double>(w.in_flight));
  x.one("memrun_concurrency", "gauge", "Handlers that may run at once.", worker.service().concurrency);
  x.one("memrun_unacked_records", "gauge", "Replies and dead letters awaiting Kafka's acknowledgement.",
        static_cast<double>(w.unacked_records));
  x.one("memrun_intake_held", "gauge", "1 while max_unacked_records await Kafka and no request starts.",
        w.intake_held ? 1 : 0);
  x.one("memrun_paused_seconds_total", "counter", "Time partitions spent paused, summed over partitions.",
        w.paused_seconds);
  x.one("memrun_assigned_partitions", "gauge", "Partitions this worker holds.", w.assigned_partitions);
  x.family("memrun_partition_lag", "gauge", "Records of an assigned partition still waiting in Kafka.");
  for (const auto& p : w.partitions)
    x.sample("memrun_partition_lag", static_cast<double>(p.lag), {{"partition", std::to_string(p.partition)}});

  x.family("memrun_cache_hits_total", "counter", "get_or_fetch answers by the tier that had the bytes.");
  x.sample("memrun_cache_hits_total", static_cast<double>(c.ram_hits), {{"tier", "ram"}});
  x.sample("memrun_cache_hits_total", static_cast<double>(c.disk_hits), {{"tier", "disk"}});
  x.one("memrun_remote_fetches_total", "counter", "Fetches from remote storage.",
        static_cast<double>(c.remote_fetches));
  x.one("memrun_remote_bytes_total", "counter", "Bytes fetched from remote storage.",
        static_cast<double>(c.remote_bytes));
  x.one("memrun_object_store_bytes", "gauge", "Bytes charged to the memory budget.", static_cast<double>(o.bytes));
  x.one("memrun_object_store_pinned_bytes", "gauge", "Of which pinned by the init handler.",
        static_cast<double>(o.pinned_bytes));
  x.one("memrun_object_store_budget_bytes", "gauge", "The service's memory budget.",
        static_cast<double>(o.budget_bytes));
  x.one("memrun_object_store_objects", "gauge", "Objects held.", static_cast<double>(o.objects));
  x.one("memrun_object_store_evictions_total", "counter", "Objects evicted for the budget.",
        static_cast<double>(o.evictions));
  x.one("memrun_disk_cache_bytes", "gauge", "Bytes of committed disk-cache entries.",
        static_cast<double>(c.disk.bytes));
  x.one("memrun_disk_cache_capacity_bytes", "gauge", "The disk cache's capacity (0: no disk tier).",
        static_cast<double>(c.disk.capacity));
  x.one("memrun_disk_cache_entries", "gauge", "Disk-cache entries.", static_cast<double>(c.disk.entries));
  x.one("memrun_disk_cache_evictions_total", "counter", "Disk-cache entries evicted.",
        static_cast<double>(c.disk.evictions));
  x.one("memrun_disk_cache_corrupt_total", "counter", "Entries that failed their checksums and were dropped.",
        static_cast<double>(c.disk.corrupt_dropped));
  x.one("memrun_disk_cache_mapped_bytes", "gauge",
        "Bytes of disk-cache entries mapped by live blobs: page cache they may pin; not evictable until released.",
        static_cast<double>(c.disk.mapped_bytes));
  x.one("memrun_disk_cache_not_cached_total", "counter", "Objects served uncached (no room, disk full, errors).",
        static_cast<double>(c.disk.not_cached));
  x.one("memrun_disk_cache_dir_in_use", "gauge",
        "1 when the disk tier is off because another process holds its directory.", c.disk.dir_in_use ? 1.0 : 0.0);

  const auto phases = worker.startup_phases();
  x.family("memrun_startup_phase_seconds", "gauge", "How long each phase of the worker's start took.");
  for (const auto& phase : phases) x.sample("memrun_startup_phase_seconds", phase.seconds, {{"phase", phase.name}});
  x.family("memrun_startup_phase_info", "gauge",
           "What each start-up phase found, e.g. the tier the package came from or the cache entries found on disk.");
  for (const auto& phase : phases)
    x.sample("memrun_startup_phase_info", 1, {{"phase", phase.name}, {"detail", phase.detail}});
  return x.take();
}

}  // namespace memrun
