// The worker's lifecycle and its poll loop. The jobs live in their own units:
//   admission.hpp        which fetched requests run now, which wait; pause/resume
//   intake.hpp           admission shared with the handler threads, which take their next request
//   handler_runner.*     deadline, dedupe, crash journal, validation, handler, retries
//   fleet_journal.*      deaths of processes across the fleet (memrun.suspects.{service})
//   outbox.*             replies, dead letters, redelivery, deadline replies
//   partition_owner.*    the consumer: rebalances, revoke wait, commits
//   request.hpp          one request and the completion that lets it commit
//
// @locality: start(), stop() and stats() on the caller's thread; poll_loop()
// on the poll thread; serve() and process() on the handler pool's threads,
// which take requests from the intake themselves; warm() on the warm-up
// thread.
#include <memrun/protocol.hpp>
#include <memrun/worker.hpp>

#include "context/context_access.hpp"
#include "core/thread_name.hpp"
#include "kafka/kafka.hpp"
#include "runtime/crash_journal.hpp"
#include "runtime/executor.hpp"
#include "runtime/fleet_journal.hpp"
#include "runtime/handler_runner.hpp"
#include "runtime/intake.hpp"
#include "runtime/offset_tracker.hpp"
#include "runtime/outbox.hpp"
#include "runtime/partition_owner.hpp"
#include "runtime/recent_replies.hpp"
#include "runtime/request.hpp"
#include "runtime/status_record.hpp"
#include "runtime/wire.hpp"
#include "runtime/worker_counters.hpp"
#include "runtime/worker_metrics.hpp"

#include <nlohmann/json.hpp>
#include <fmt/ranges.h>
#include <spdlog/spdlog.h>

#include <unistd.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <memory>
#include <mutex>
#include <optional>
#include <thread>
#include <vector>

namespace memrun {
namespace {

using internal::OffsetTracker;
using Clock = std::chrono::steady_clock;

constexpr auto kStoreInterval = std::chrono::milliseconds(100);
constexpr auto kRegistrationFlush = std::chrono::milliseconds(10000);
// How long an assignment waits to read the deaths published before it.
constexpr auto kFleetCatchUp = std::chrono::milliseconds(10000);
// Records taken from the consumer per poll-loop wake-up: what librdkafka
// already fetched is taken in one call instead of one poll per record.
constexpr size_t kPollBatch = 256;

std::string default_worker_id() {
  char host[256] = "worker";
  ::gethostname(host, sizeof host - 1);
  return std::string(host) + "-" + std::to_string(::getpid());
}

}  // namespace

// Shared by the Worker and each handler thread's task, so that handlers
// abandoned at stop() (see stop()) keep it alive until the last one returns.
struct Worker::Impl : std::enable_shared_from_this<Worker::Impl> {
  const Clock::time_point born = Clock::now();  // first member: times the context's construction
  MemoryService svc;
  WorkerOptions opts;
  SharedWorkerContext ctx;
  std::string topic;
  std::string worker_id;

  internal::Counters counters;
  internal::WorkerMetrics metrics;
  OffsetTracker tracker;
  internal::RecentReplies recent;
  std::unique_ptr<internal::CrashJournal> journal;  // null: no crash-loop protection
  internal::Outbox outbox;
  internal::PartitionOwner owner;
  std::unique_ptr<internal::FleetJournal> fleet;  // null: deaths are counted per machine only
  std::unique_ptr<internal::HandlerRunner> runner;
  std::unique_ptr<internal::Executor> pool;
  std::unique_ptr<internal::Executor> warmer;  // runs on_assign, one call at a time
  std::thread poll_thread;

  std::atomic<bool> stop_requested{false};
  mutable std::mutex failure_mu;
  std::optional<Error> failure;  // GUARDED_BY(failure_mu)
  // Handlers outlived stop()'s bound: the last of them to return frees this
  // state, and ~Impl finishes the teardown stop() left to it.
  std::atomic<bool> handlers_abandoned{false};

  std::atomic<bool> intake_held{false};  // admission is held (written under the intake's lock)

  internal::Intake<internal::RequestPtr> intake;

  std::mutex lifecycle_mu;
  bool started = false;
  bool stopped = false;

  std::atomic<bool> initialised{false};
  std::atomic<bool> first_assignment{false};
  std::atomic<bool> first_request{false};
  Clock::time_point serving_since;  // end of start(): the group join begins

  Impl(MemoryService s, WorkerOptions o)
      : svc(std::move(s)),
        opts(std::move(o)),
        ctx(SharedWorkerContext::Options{svc.name, svc.memory_bytes(), opts.result_url, opts.state_dir,
                                         opts.state_dir.empty() ? 0 : svc.disk_bytes(), {}, opts.package_dir, opts.s3,
                                         opts.file_roots, opts.range_chunk_bytes}),
        topic(protocol::request_topic(svc.name)),
        worker_id(opts.worker_id.empty() ? default_worker_id() : opts.worker_id),
        recent(static_cast<size_t>(svc.dedup_window), static_cast<size_t>(svc.dedup_window_bytes)),
        outbox({svc.name, topic, worker_id, svc.timeout_seconds}, counters, [this] { on_settled(); }),
        owner({topic, protocol::consumer_group(svc.name), worker_id, opts.instance_id}, tracker, counters, metrics,
              {.assigned = [this](const std::vector<int32_t>& ps) { on_assigned(ps); },
               .revoking = [this](const std::vector<int32_t>& ps) { intake.forget(ps); },
               .waiting = [this] { admit_waiting(); }}),
        intake(static_cast<size_t>(std::max(1, svc.concurrency)),
               opts.read_ahead > 0 ? opts.read_ahead : std::max<size_t>(1024, static_cast<size_t>(svc.concurrency)),
               {.admit = [this](internal::RequestPtr& req) { admit(*req); },
                .hold = [this](bool held) { return hold_at_outbox_bound(held); },
                .resume_ready = [this] { owner.wake(); }},
               opts.read_ahead_bytes > 0 ? opts.read_ahead_bytes : size_t{4} << 20) {
    for (auto& phase : opts.startup_phases) metrics.add_phase(std::move(phase));
    const auto disk = ctx.cache_stats().disk;
    metrics.add_phase("cache index rebuild", Clock::now() - born,
                      disk.dir_in_use    ? fmt::format("no disk tier: its directory is held by pid {}", disk.dir_holder_pid)
                      : disk.capacity == 0 ? "no disk tier"
                                           : fmt::format("{} entries, {} bytes found on disk", disk.entries, disk.bytes));
  }

  // Runs on the thread that drops the last reference: the Worker's owner,
  // or the last abandoned handler thread when it returns (its pool was
  // detached by then, so nothing here joins it). After a stop() that
  // abandoned handlers, closing the clients was left to here: those
  // handlers still reply through the producer and wake the consumer's queue.
  ~Impl() { close_clients(); }

  // The producer first: its flush settles the replies, which release their
  // requests, and librdkafka's consumer cannot be destroyed while a request
  // still holds one of its messages. Idempotent.
  void close_clients() {
    outbox.close();
    owner.destroy();
  }

  // start() failed after the pool began: its threads wait in the intake
  // and hold this state, so they must end here.
  void abort_start() {
    intake.close();
    pool.reset();
  }

  // ---- lifecycle ---------------------------------------------------------
  void start() {
    svc.validate();
    const auto init_start = Clock::now();
    if (svc.init) {
      internal::ContextAccess::begin_init(ctx);
      try {
        svc.init(ctx);
      } catch (const Error& e) {
        internal::ContextAccess::end_init(ctx);
        throw Error(e.code(), "init handler of '" + svc.name + "' failed: " + e.what());
      } catch (const std::exception& e) {
        internal::ContextAccess::end_init(ctx);
        throw Error(Code::kInternal, "init handler of '" + svc.name + "' failed: " + e.what());
      }
      internal::ContextAccess::end_init(ctx);
    }
    const auto pinned = ctx.stats().pinned_bytes;
    metrics.add_phase("init handler", Clock::now() - init_start,
                      svc.init ? fmt::format("{} bytes pinned", pinned) : "none");
    initialised = true;
    const auto kafka_start = Clock::now();

    if (!opts.state_dir.empty() && svc.max_crashes > 0) {
      try {
        journal = std::make_unique<internal::CrashJournal>(opts.state_dir);
        spdlog::info("crash journal {}: {} request(s) left running by a dead worker", journal->path(),
                     journal->suspects());
      } catch (const Error& e) {
        spdlog::warn("{}; running without crash-loop protection", e.what());
      }
    }
    outbox.open(opts.kafka);
    if (opts.register_service) register_service();
    // Before joining: a death this process found is published before any
    // rebalance it causes hands its partitions to another worker.
    if (journal) open_fleet_journal();
    runner = std::make_unique<internal::HandlerRunner>(internal::HandlerRunner::Parts{
        .service = svc,
        .context = ctx,
        .recent = recent,
        .journal = journal.get(),
        .fleet = fleet.get(),
        .counters = counters,
        .holds = [this](int32_t partition) { return tracker.assigned(partition); },
        .request_topic = topic});
    pool = std::make_unique<internal::Executor>(svc.concurrency, "memrun-handler");
    for (int i = 0; i < svc.concurrency; ++i) pool->submit([self = shared_from_this()] { self->serve(); });
    if (svc.on_assign) warmer = std::make_unique<internal::Executor>(1, "memrun-warm");
    owner.open(opts.kafka, opts.drain_timeout, opts.revoke_wait.value_or(opts.drain_timeout));
    metrics.add_phase("kafka setup", Clock::now() - kafka_start);
    serving_since = Clock::now();
    poll_thread = std::thread([this] {
      internal::name_this_thread("memrun-poll");
      poll_loop();
    });
    spdlog::info("worker {} serving '{}' from {} in group {} (concurrency {})", worker_id,
                 svc.name, topic, protocol::consumer_group(svc.name), svc.concurrency);
  }

  void stop() {
    // First, so that every running handler's cancelled() reads true at once.
    stop_requested = true;
    if (runner) runner->stop();
    const auto handlers_due = Clock::now() + opts.drain_timeout;
    owner.wake();
    if (poll_thread.joinable()) poll_thread.join();
    intake.close();  // handler threads run what was admitted, then end
    // The drain already waited up to drain_timeout; a handler still running
    // past it ignores cancellation and may never return.
    if (pool && !pool->join_for(std::max<std::chrono::milliseconds>(
                    std::chrono::duration_cast<std::chrono::milliseconds>(handlers_due - Clock::now()),
                    std::chrono::milliseconds(1000)))) {
      handlers_abandoned = true;
      spdlog::error("worker {}: {} handler(s) still running after drain_timeout ({} ms) ignore cancellation; "
                    "leaving them running and their requests uncommitted",
                    worker_id, intake.running(), opts.drain_timeout.count());
    }
    pool.reset();  // joined, or detached with their own hold on this state
    warmer.reset();
    outbox.stop();
    if (handlers_abandoned) {
      // The shutdown handler would free what the running handlers use.
      // ~Impl leaves the group and closes the producer when the last of
      // them returns.
      spdlog::error("worker {} stopped with {} handler(s) still running: shutdown handler skipped", worker_id,
                    intake.running());
      return;
    }
    if (svc.shutdown) {
      try {
        svc.shutdown(ctx);
      } catch (const std::exception& e) {
        spdlog::error("shutdown handler of '{}' failed: {}", svc.name, e.what());
      }
    }
    close_clients();
    spdlog::info("worker {} stopped: {} received, {} ok, {} failed", worker_id,
                 counters.get(&WorkerCounters::received), counters.get(&WorkerCounters::succeeded),
                 counters.get(&WorkerCounters::failed));
  }

  // The fleet's crash journal (fleet_journal.hpp): its reader, then the
  // death this process found in its journal slot if no supervisor published
  // it (the process was restarted by Kubernetes or systemd, not memrun-host).
  void open_fleet_journal() {
    const std::string suspects = protocol::suspects_topic(svc.name);
    try {
      fleet = std::make_unique<internal::FleetJournal>(
          opts.kafka, svc.name, counters,
          [this, suspects](std::string_view key, std::string_view value) { outbox.publish(suspects, key, value); });
    } catch (const Error& e) {
      spdlog::error("crash journal: {}; deaths are counted on this machine only, so a request that kills worker "
                    "processes may kill up to max_crashes ({}) of them on every machine it reaches",
                    e.what(), svc.max_crashes);
      return;
    }
    const auto& found = journal->found();
    if (found.requests.empty()) return;
    for (const auto& r : found.requests)
      outbox.publish(suspects, internal::FleetJournal::record_key(r, found.incarnation),
                     internal::FleetJournal::record_value(r, found.incarnation));
    if (outbox.flush(kRegistrationFlush))
      spdlog::info("crash journal: published the death of process {} ({} request(s) running) to {}",
                   found.incarnation, found.requests.size(), suspects);
    else
      spdlog::warn("crash journal: the death of process {} was not acknowledged by {} within 10 s", found.incarnation,
                   suspects);
  }

  void register_service() {
    outbox.publish(protocol::kServicesTopic, svc.name, service_fields(svc).dump());
    // Wait for it: a client started right after this worker must find the key.
    if (!outbox.flush(kRegistrationFlush))
      spdlog::warn("service registration in {} not acknowledged within 10 s", protocol::kServicesTopic);
  }

  // ---- poll thread ----------------------------------------------------------
  void poll_loop() {
    auto last_store = Clock::now();
    auto last_heartbeat = Clock::now();
    std::array<rd_kafka_message_t*, kPollBatch> batch{};
    while (!stop_requested.load()) {
      admit_waiting();
      if (rd_kafka_message_t* raw = rd_kafka_consumer_poll(owner.consumer(), 100)) {
        on_message(kafka::Message(raw));
        // Then what is already fetched, without waiting (a batch call with a
        // timeout would wait for a full batch), and no more than the intake
        // has room for: records taken from librdkafka are in RAM, and a
        // partition must pause at read_ahead waiting, not past it.
        const size_t room = std::min(kPollBatch, intake.room());
        const ssize_t n = room > 1 ? rd_kafka_consume_batch_queue(owner.queue(), 0, batch.data(), room - 1) : 0;
        for (ssize_t i = 0; i < n; ++i) on_message(kafka::Message(batch[static_cast<size_t>(i)]));
      }
      if (Clock::now() - last_store >= kStoreInterval) {
        owner.store(tracker.take_commits());
        if (fleet) fleet->poll();
        last_store = Clock::now();
      }
      if (opts.heartbeat_interval.count() > 0 && Clock::now() - last_heartbeat >= opts.heartbeat_interval) {
        heartbeat("serving");
        last_heartbeat = Clock::now();
      }
    }
    drain();
    // A last record says this worker left, so `memrun status` drops it at
    // once instead of after its heartbeats go stale.
    if (opts.heartbeat_interval.count() > 0) heartbeat("stopped");
  }

  void on_message(kafka::Message m) {
    if (m->err == RD_KAFKA_RESP_ERR__FATAL) return fail(fatal_consumer_error());
    if (m->err) {
      if (m->err != RD_KAFKA_RESP_ERR__PARTITION_EOF) spdlog::warn("consumer: {}", rd_kafka_message_errstr(m.get()));
      return;
    }
    if (!tracker.assigned(m->partition)) return;  // revoked since it was fetched
    if (stop_requested.load()) return;  // a fatal error earlier in this batch
    counters.add(&WorkerCounters::received);
    const int32_t partition = m->partition;
    const size_t bytes = m->len;
    if (intake.offer(partition, internal::request_from(std::move(m), kafka::now_unix_ms()), bytes))
      owner.pause({partition});
  }

  // The consumer can do nothing more (librdkafka's fatal error): which one,
  // and what to do about it.
  Error fatal_consumer_error() {
    char reason[512] = "";
    const auto err = rd_kafka_fatal_error(owner.consumer(), reason, sizeof reason);
    if (err == RD_KAFKA_RESP_ERR_FENCED_INSTANCE_ID)
      return Error(Code::kInvalidArgument,
                   fmt::format("instance id '{}' is in use by another worker of group {}: the broker fenced this "
                               "one (FENCED_INSTANCE_ID); give every worker its own --instance-id",
                               opts.instance_id, protocol::consumer_group(svc.name)));
    return Error(Code::kUnavailable, fmt::format("Kafka ended this worker's consumer: {} ({})", reason,
                                                 rd_kafka_err2name(err)));
  }

  // Ends the poll loop (which drains and leaves as on stop()) and tells the
  // owner. Poll thread.
  void fail(Error e) {
    spdlog::error("worker {} stops: {}", worker_id, e.what());
    {
      std::lock_guard lock(failure_mu);
      failure = e;
    }
    stop_requested = true;
    if (opts.on_failure) opts.on_failure(e);
  }

  // Starts waiting requests while slots are free (after a hold ends; handler
  // threads take them themselves otherwise), and resumes the partitions the
  // intake says may fetch again.
  void admit_waiting() {
    intake.admit_waiting();
    if (auto resume = intake.take_resumes(); !resume.empty()) owner.resume(resume);
  }

  // Whether admission is held: while the outbox keeps max_unacked_records,
  // records Kafka keeps refusing must not pile up in RAM, and requests not
  // started wait in Kafka instead (their partitions pause as the read-ahead
  // fills). Asked under the intake's lock before anything starts, by the
  // poll thread and by handler threads taking their next request; the
  // outbox settles records on its own thread and wakes the poll loop when
  // the count falls (on_settled), which then admits again.
  bool hold_at_outbox_bound(bool held) {
    const size_t bound = opts.max_unacked_records;
    const size_t unacked = outbox.unacked();
    const bool hold = bound > 0 && unacked >= bound;
    if (hold == held) return hold;
    intake_held = hold;
    if (hold) {
      counters.add(&WorkerCounters::intake_holds);
      spdlog::warn("worker {}: {} replies and dead letters await Kafka's acknowledgement (max_unacked_records "
                   "{}); starting no request until some are delivered",
                   worker_id, unacked, bound);
    } else {
      spdlog::info("worker {}: Kafka acknowledges again ({} unacknowledged); starting requests", worker_id,
                   unacked);
    }
    return hold;
  }

  // Outbox's delivery thread, after delivery reports: while admission is held
  // at max_unacked_records, the poll thread is woken as soon as the count
  // falls, to start requests again (admit_waiting). Waiting for its next
  // wake-up instead (a record, or its 100 ms poll timeout) stalled bursts.
  void on_settled() {
    if (intake_held.load(std::memory_order_relaxed) && outbox.unacked() < opts.max_unacked_records) owner.wake();
  }

  // The intake lets `req` run (under its lock, in offset order within the
  // partition): from here its offset is not committed before it finishes.
  void admit(internal::Request& req) {
    req.completion = internal::Completion(tracker, tracker.admit(req.partition, req.offset));
    counters.raise(&WorkerCounters::max_in_flight, static_cast<uint64_t>(intake.running() + 1));
  }

  // Keeps serving the group (heartbeats, rebalances) while running work
  // finishes, then commits and leaves the group.
  void drain() {
    owner.pause(owner.assigned());
    intake.clear();  // never admitted, so never committed: redelivered later
    const auto deadline = Clock::now() + opts.drain_timeout;
    while (tracker.unfinished() > 0 && Clock::now() < deadline) {
      if (rd_kafka_message_t* raw = rd_kafka_consumer_poll(owner.consumer(), 20)) rd_kafka_message_destroy(raw);
    }
    if (size_t left = tracker.unfinished())
      spdlog::warn("drain timed out with {} requests unfinished; they will be redelivered", left);
    owner.commit_now(tracker.take_commits());
    owner.close();  // leaves the group; revokes via the rebalance callback
  }

  // Inside the rebalance callback.
  void on_assigned(const std::vector<int32_t>& ps) {
    if (!ps.empty() && !first_assignment.exchange(true)) {
      metrics.add_phase("group join + first assignment", Clock::now() - serving_since,
                        fmt::format("{} partitions", ps.size()));
      log_cold_start();
    }
    if (warmer && !ps.empty()) warmer->submit([this, ps] { warm(ps); });
    // No request of these partitions is taken before this returns: a death
    // published before this rebalance is counted when its request comes.
    if (fleet && !ps.empty() && !fleet->catch_up(Clock::now() + kFleetCatchUp))
      spdlog::warn("worker {}: {} not read to its end within {} ms; deaths on other workers may be counted late",
                   worker_id, fleet->topic(), kFleetCatchUp.count());
  }

  // Publishes this worker's status (memrun.heartbeats, keyed by worker id) and
  // logs the same figures on one line. `state`: "serving" or "stopped".
  void heartbeat(std::string_view state) {
    const WorkerStats stats = stats_now();
    WorkerStatus s;
    static_cast<WorkerCounters&>(s) = stats;
    s.worker_id = worker_id;
    s.service = svc.name;
    s.state = state;
    s.time_ms = kafka::now_unix_ms();
    s.interval = opts.heartbeat_interval;
    for (const auto& p : stats.partitions) s.partitions.push_back(p.partition);
    s.in_flight = static_cast<int64_t>(stats.in_flight);
    s.handled = stats.succeeded + stats.failed;
    s.errors = stats.failed;
    const auto store = ctx.stats();
    s.objects = store.objects;
    s.object_bytes = store.bytes;
    s.memory_budget_bytes = store.budget_bytes;
    s.evictions = store.evictions;
    const auto tiers = ctx.cache_stats();
    s.cache = {tiers.ram_hits,      tiers.disk_hits,     tiers.remote_fetches,
               tiers.remote_bytes,  tiers.disk.entries,  tiers.disk.bytes,
               tiers.disk.capacity, tiers.disk.evictions, tiers.disk.corrupt_dropped};
    outbox.publish(protocol::kHeartbeatsTopic, worker_id, internal::encode_worker_status(s));
    spdlog::info("heartbeat {}: {} partitions, {} in flight, {} handled, {} errors, {} dead letters, "
                 "{} duplicates, {} objects ({} bytes){}",
                 worker_id, s.partitions.size(), s.in_flight, s.handled, s.errors, s.dead_letters, s.duplicates,
                 s.objects, s.object_bytes, state == "stopped" ? "; stopped" : "");
  }

  // ---- handler threads ------------------------------------------------------
  // One handler thread: runs requests as the intake hands them out, the next
  // taken by this thread as it finishes one; ends when the intake closes.
  void serve() {
    bool finished = false;
    while (auto req = intake.next(finished)) {
      process(std::move(*req));
      finished = true;
    }
  }

  void process(internal::RequestPtr req) {
    const auto taken = Clock::now();
    std::string problem;
    req->headers = internal::read_request_headers(req->msg.get(), &problem);
    kafka::drop_parsed_headers(req->msg.get());  // freed on this thread, which made them
    if (!problem.empty())
      spdlog::warn("request at {}[{}]@{}: {}", topic, req->partition, req->offset, problem);
    runner->run(req, &outbox);
    const auto took = Clock::now() - taken;
    metrics.observe_latency(std::chrono::duration<double>(took).count());
    if (!first_request.exchange(true)) {
      metrics.add_phase("first request", took, std::string(code_name(req->code)));
      spdlog::info("cold start of worker {}: first request took {:.3f} s ({})", worker_id,
                   std::chrono::duration<double>(took).count(), code_name(req->code));
    }
    // The reply is counted in the outbox before the slot frees (serve()'s
    // next call of intake.next), so no request starts past max_unacked_records.
    outbox.send(std::move(req));
  }

  // ---- warm-up thread ---------------------------------------------------------
  // The service's on_assign, off the poll thread so a slow warm-up never
  // delays heartbeats, fetches or rebalances.
  void warm(const std::vector<int32_t>& ps) {
    if (stop_requested.load()) return;
    const auto start = Clock::now();
    try {
      svc.on_assign(ctx, ps);
      spdlog::info("on_assign for partitions {} took {} ms", fmt::join(ps, ","),
                   std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - start).count());
    } catch (const std::exception& e) {
      spdlog::warn("on_assign for partitions {} failed: {}", fmt::join(ps, ","), e.what());
    }
  }

  // One table of the phases up to readiness, so an operator sees at a glance
  // where a cold start went and what was warm.
  void log_cold_start() const {
    const auto phases = metrics.phases();
    double total = 0;
    for (const auto& p : phases) total += p.seconds;
    // A line per row: log lines never hold a line break (logging.cc escapes one).
    spdlog::info("cold start of worker {} (service {}): ready after {:.3f} s", worker_id, svc.name, total);
    spdlog::info("  {:<32} {:>9}  {}", "phase", "seconds", "detail");
    for (const auto& p : phases) spdlog::info("  {:<32} {:>9.3f}  {}", p.name, p.seconds, p.detail);
  }

  // Any thread.
  WorkerStats stats_now() const {
    WorkerStats s;
    counters.fill(s);
    s.in_flight = intake.running();
    s.unacked_records = outbox.unacked();
    s.intake_held = intake_held.load();
    metrics.fill(s);
    s.partitions = owner.partition_status();
    s.assigned_partitions = static_cast<uint32_t>(owner.assigned().size());
    return s;
  }
};

Worker::Worker(MemoryService service, WorkerOptions options)
    : impl_(std::make_shared<Impl>(std::move(service), std::move(options))) {}

// Handlers abandoned by stop() still hold the state; the last to return frees it.
Worker::~Worker() { stop(); }

void Worker::start() {
  std::lock_guard lock(impl_->lifecycle_mu);
  if (impl_->started) throw Error(Code::kInvalidArgument, "worker already started");
  impl_->started = true;
  try {
    impl_->start();
  } catch (...) {
    impl_->stopped = true;
    impl_->stop_requested = true;
    impl_->abort_start();
    throw;
  }
}

void Worker::stop() {
  std::lock_guard lock(impl_->lifecycle_mu);
  if (!impl_->started || impl_->stopped) return;
  impl_->stopped = true;
  impl_->stop();
}

bool Worker::wait_for_assignment(std::chrono::milliseconds timeout) {
  return impl_->owner.wait_for_assignment(timeout);
}

const std::string& Worker::worker_id() const noexcept { return impl_->worker_id; }
const MemoryService& Worker::service() const noexcept { return impl_->svc; }
SharedWorkerContext& Worker::context() noexcept { return impl_->ctx; }
const SharedWorkerContext& Worker::context() const noexcept { return impl_->ctx; }

bool Worker::ready() const noexcept {
  return impl_->initialised && impl_->first_assignment && !impl_->stop_requested;
}

std::vector<StartupPhase> Worker::startup_phases() const { return impl_->metrics.phases(); }

WorkerStats Worker::stats() const { return impl_->stats_now(); }

std::optional<Error> Worker::failure() const {
  std::lock_guard lock(impl_->failure_mu);
  return impl_->failure;
}

}  // namespace memrun
