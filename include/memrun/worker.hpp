// memrun/worker.hpp — runs a MemoryService on Kafka.
//
//   memrun::Worker worker(std::move(service), {.kafka = {.bootstrap_servers = "127.0.0.1:9092"}});
//   worker.start();          // init handler, then joins group memrun-{service}
//   ...                      // requests are served on worker threads
//   worker.stop();           // drain, commit, leave the group
//
// The worker consumes "memrun.requests.{service}" in group "memrun-{service}",
// runs at most `concurrency` handlers at once (pausing a partition while all
// slots are busy and `read_ahead` of its requests, or `read_ahead_bytes` of
// their payloads, wait, so the backlog waits in Kafka), takes waiting
// requests round-robin across partitions, replies to the address in the
// request's headers, and commits a partition's offset only past requests whose
// replies Kafka has acknowledged.
#pragma once

#include <memrun/kafka_options.hpp>
#include <memrun/service.hpp>
#include <memrun/status.hpp>
#include <memrun/worker_counters.hpp>

#include <array>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <iterator>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace memrun {

// One phase of a worker's start, for the cold-start table and metrics.
struct StartupPhase {
  std::string name;
  double seconds = 0;
  std::string detail;  // e.g. what was warm
};

struct WorkerOptions {
  KafkaOptions kafka;
  // Unique per process; default "{hostname}-{pid}".
  std::string worker_id;
  // group.instance.id (KIP-345, static membership): stable across restarts
  // of this worker (e.g. a StatefulSet pod's name), unique in the group. A
  // worker restarted within session.timeout.ms keeps its partitions, and so
  // its warm cache, without a rebalance. Empty = dynamic membership. Kafka
  // fences an older member with the same id. librdkafka's mock cluster
  // ignores it.
  std::string instance_id;
  // The worker's directory, normally {cache_root}/{service}: the disk cache
  // (bounded by the service's `disk`) and the crash journal. It must outlive
  // the process (not a per-run temp dir). Empty = neither.
  std::string state_dir;
  // Where upload_result writes (s3://bucket/prefix or a file:// directory).
  std::string result_url;
  // For s3:// fetches and results (SharedWorkerContext::Options::s3).
  S3Settings s3;
  // How long stop() waits for running requests before giving up on them.
  std::chrono::milliseconds drain_timeout{10000};
  // How long a revoke waits for running requests of the partitions it takes,
  // so that their next owner starts after them instead of running them
  // again. While it waits, librdkafka fetches none of the partitions kept
  // (it pauses the whole assignment until the wait ends). Unset: the lesser
  // of drain_timeout and half of max.poll.interval.ms; longer values are cut
  // to that too. 0: no wait; kept partitions never stall, and requests still
  // running on revoked partitions (their cancelled() reads true) finish here,
  // uncommitted, while their next owner runs them again. memrun-host:
  // --revoke-wait-ms.
  std::optional<std::chrono::milliseconds> revoke_wait;
  // Publish the service's fields to memrun.services so clients learn its key.
  bool register_service = true;
  // Requests of one partition fetched ahead while every slot is busy. When
  // this many of a partition wait, or read_ahead_bytes of their payloads, the
  // worker pauses that partition (the rest of its backlog waits in Kafka) and
  // resumes it below half of both. A pause costs more than the fetch
  // restart: librdkafka drops what it had fetched of the partition past the
  // last record handed out, and fetches it again on resume.
  // 0 = max(1024, concurrency): bursts of 3 000 requests over 16 partitions
  // paused 68-92 times per 10 000 requests at the former max(64,
  // concurrency), and none at this (bench/run_thread_costs.sh); the RAM
  // bound is read_ahead_bytes. memrun-host: --read-ahead.
  size_t read_ahead = 0;
  // The RAM bound of the above: payload bytes of one partition's waiting
  // requests (each also holds its Kafka message). 0 = 4 MiB: with 16
  // partitions, librdkafka's own prefetch bound (queued.max.messages.kbytes,
  // 64 MiB). memrun-host: --read-ahead-bytes.
  size_t read_ahead_bytes = 0;
  // Replies and dead letters Kafka has not acknowledged yet (in flight, or
  // refused and waiting to be produced again) are kept in RAM. At this many
  // the worker starts no new request, and fetching pauses as each partition's
  // read-ahead fills, until Kafka acknowledges some: a Kafka that keeps
  // refusing them stops the intake instead of growing memory. Handlers
  // already running still add theirs (at most this + concurrency are held).
  // 0 = no bound.
  size_t max_unacked_records = 1000;
  // Status record to memrun.heartbeats and a one-line log summary; 0 = off.
  std::chrono::milliseconds heartbeat_interval{10000};
  // The unpacked package the service came from (SharedWorkerContext::package_dir).
  std::string package_dir;
  // Where file:// URLs may read besides package_dir
  // (SharedWorkerContext::Options::file_roots).
  std::vector<std::string> file_roots;
  // SharedWorkerContext::Options::range_chunk_bytes; 0: its default.
  uint64_t range_chunk_bytes = 0;
  // Phases of the start measured before the worker existed (e.g. the host's
  // package fetch and plugin load); they open the cold-start table.
  std::vector<StartupPhase> startup_phases;
  // Called once, on the worker's poll thread, when Kafka ends this worker: a
  // fatal consumer error, e.g. FENCED_INSTANCE_ID when another worker runs
  // with the same instance_id. The worker then drains and leaves on its own,
  // and failure() holds the error. The callback must not call stop() (stop
  // joins the thread that calls it): wake the thread that owns the Worker.
  std::function<void(const Error&)> on_failure;
};

// Upper bounds (seconds) of the request-latency histogram's buckets; a last
// bucket (+Inf) follows.
inline constexpr double kLatencyBuckets[] = {0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25,
                                             0.5,   1,     2.5,  5,     10,   30,  60};
inline constexpr std::size_t kLatencyBucketCount = std::size(kLatencyBuckets) + 1;

struct PartitionStatus {
  int32_t partition = 0;
  int64_t position = -1;        // next offset to fetch; -1 before the first fetch
  int64_t high_watermark = -1;  // log end offset as of the last fetch; -1 unknown
  int64_t lag = 0;              // high_watermark - position: records still waiting in Kafka
};

// Counters (WorkerCounters, listed once in worker_counters.hpp) and gauges.
struct WorkerStats : WorkerCounters {
  uint64_t in_flight = 0;
  uint64_t unacked_records = 0;  // replies and dead letters awaiting Kafka's acknowledgement
  bool intake_held = false;      // unacked_records reached max_unacked_records: no request starts
  uint32_t assigned_partitions = 0;
  double paused_seconds = 0;     // summed over partitions
  // Handler latency from taking a request to its reply (retries included):
  // per-bucket counts (not cumulative), their sum in seconds, their total.
  std::array<uint64_t, kLatencyBucketCount> latency_buckets{};
  double latency_sum_seconds = 0;
  uint64_t latency_count = 0;
  std::vector<PartitionStatus> partitions;  // the assigned ones
};

class MEMRUN_API Worker {
 public:
  Worker(MemoryService service, WorkerOptions options);
  ~Worker();  // stop()s if still running
  Worker(const Worker&) = delete;
  Worker& operator=(const Worker&) = delete;

  // Runs the init handler (on this thread), then connects and starts serving.
  // Throws Error if validation, init or the Kafka setup fails; nothing runs then.
  void start();

  // Stops admitting (running handlers' cancelled() turns true at once), waits
  // up to drain_timeout for running requests, commits, leaves the group,
  // flushes replies. Handlers still running drain_timeout after stop() began
  // are left running on detached threads, uncommitted, and the shutdown
  // handler is skipped; this worker's state (service, context, producer,
  // consumer) is freed when the last of them returns. Idempotent; safe from
  // any thread except a handler.
  void stop();

  // Blocks until the worker holds at least one partition or `timeout` passes.
  bool wait_for_assignment(std::chrono::milliseconds timeout);

  const std::string& worker_id() const noexcept;
  const MemoryService& service() const noexcept;
  SharedWorkerContext& context() noexcept;
  const SharedWorkerContext& context() const noexcept;
  // A snapshot (a copy) of the counters and partitions. Safe from any
  // thread at any time, also while stop() runs: partition
  // positions are read under the lock that stop() takes to destroy the
  // consumer (empty once it is gone).
  WorkerStats stats() const;

  // The error that ended this worker without stop() (see
  // WorkerOptions::on_failure); empty while it serves or after a plain stop.
  // Any thread.
  std::optional<Error> failure() const;

  // True once the init handler ran and the first partitions were assigned,
  // until stop() begins (for readiness probes).
  bool ready() const noexcept;
  // The phases of the start measured so far: WorkerOptions::startup_phases,
  // then cache index rebuild, init handler, Kafka setup, group join and first
  // assignment (when the worker logs them as one table), first request.
  std::vector<StartupPhase> startup_phases() const;

 private:
  struct Impl;
  std::shared_ptr<Impl> impl_;  // also held by handler threads (see stop())
};

// For a process that supervises workers (memrun-host's parent does): after
// a worker process of `service` that kept its state in `state_dir` died,
// publishes the requests it was running to memrun.suspects.{service} and
// waits up to `timeout` for Kafka's acknowledgement, so that whichever worker
// takes their partitions next counts that death (docs/architecture.md, Crash
// loops). Reads the crash-journal slots of `state_dir` that no live process
// holds; a death published once is not published again. Returns how many
// deaths it published. Any thread; run no worker of that state_dir in this
// process. Throws Error(kUnavailable) when Kafka cannot be reached, the topic
// is missing or the records are not acknowledged in time (the next worker in
// the slot then publishes them when it starts).
MEMRUN_API size_t publish_worker_deaths(const KafkaOptions& kafka, const std::string& service,
                                        const std::string& state_dir, std::chrono::milliseconds timeout);

}  // namespace memrun
