#include <memrun/protocol.hpp>
#include <memrun/routing.hpp>
#include <memrun/worker.hpp>

#include "kafka/kafka.hpp"
#include "runtime/crash_journal.hpp"
#include "runtime/executor.hpp"
#include "runtime/fair_queue.hpp"
#include "runtime/offset_tracker.hpp"
#include "runtime/recent_replies.hpp"
#include "runtime/wire.hpp"
#include "runtime/worker_metrics.hpp"

#include <nlohmann/json.hpp>
#include <fmt/ranges.h>
#include <spdlog/spdlog.h>

#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <cstdlib>
#include <cstring>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <thread>
#include <vector>

namespace memrun {
namespace {

using internal::OffsetTracker;
using Clock = std::chrono::steady_clock;

constexpr auto kStoreInterval = std::chrono::milliseconds(100);
constexpr int kMaxBackoffMs = 30000;
// A reply or dead letter Kafka refused is produced again after this, doubling
// up to kRedeliveryMax, for as long as its partition stays with this worker.
constexpr auto kRedeliveryFirst = std::chrono::milliseconds(100);
constexpr auto kRedeliveryMax = std::chrono::milliseconds(2000);
// How long a produce waits for room in librdkafka's queue before the record
// counts as failed (and is retried like any other failure).
constexpr auto kQueueFullPatience = std::chrono::milliseconds(10000);

std::string default_worker_id() {
  char host[256] = "worker";
  ::gethostname(host, sizeof host - 1);
  return std::string(host) + "-" + std::to_string(::getpid());
}

// One request from admission until every record it produces (reply, dead
// letter) is acknowledged. Shared by its holders (see `holders`).
struct InFlight {
  kafka::Message msg;
  OffsetTracker::Ticket ticket;
  internal::RequestHeaders headers;
  int64_t deadline_ms = 0;
  int attempts = 0;          // handler runs
  bool duplicate = false;    // answered from the recent-replies window
  bool dead_letter = false;  // also goes to memrun.dlq.{service}
  std::string error_class;   // dead-letter header; default: the code's name
  Code code = Code::kOk;
  std::string body;  // reply bytes, or the error message when code != kOk
  // The handler task, and each produced record until Kafka acknowledged it.
  // The last holder tells the offset tracker the request is done.
  std::atomic<int> holders{1};
  // The one reply has been produced (possibly the deadline reply, while the
  // handler still ran): the handler's outcome is not sent again.
  std::atomic<bool> replied{false};
};

// One outgoing record, kept whole so a failed delivery can be produced again.
struct Outgoing {
  InFlight* req = nullptr;
  std::string topic;
  int32_t partition = RD_KAFKA_PARTITION_UA;
  std::string key;
  std::string value;
  std::vector<std::pair<std::string, std::string>> headers;
  bool is_reply = false;
  int failures = 0;
  const char* kind() const { return is_reply ? "reply" : "dead letter"; }
};

// Failures worth another attempt: transient ones, and unexpected handler
// failures (as Spring Kafka retries any exception by default). Bad input,
// missing objects and expired deadlines would fail the same way again.
bool retry_worthy(Code code) { return is_retriable(code) || code == Code::kInternal; }

// Delivery errors after which a reply could never arrive, however often it is
// produced again: the caller named an address that does not exist, or the
// reply is larger than Kafka takes.
bool reply_never_deliverable(rd_kafka_resp_err_t err) {
  return err == RD_KAFKA_RESP_ERR__UNKNOWN_TOPIC || err == RD_KAFKA_RESP_ERR__UNKNOWN_PARTITION ||
         err == RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART || err == RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE ||
         err == RD_KAFKA_RESP_ERR_INVALID_MSG_SIZE;
}

// The consumer's max.poll.interval.ms: how long the application may stay away
// from rd_kafka_consumer_poll (rebalance callbacks included) before librdkafka
// leaves the group.
std::chrono::milliseconds max_poll_interval(rd_kafka_t* consumer) {
  char value[32];
  size_t size = sizeof value;
  if (rd_kafka_conf_get(rd_kafka_conf(consumer), "max.poll.interval.ms", value, &size) == RD_KAFKA_CONF_OK)
    return std::chrono::milliseconds(std::atoll(value));
  return std::chrono::milliseconds(300000);  // librdkafka's default
}

std::string_view payload_of(const rd_kafka_message_t* m) {
  return {static_cast<const char*>(m->payload), m->len};
}

}  // namespace

struct Worker::Impl {
  const Clock::time_point born = Clock::now();  // first member: times the context's construction
  MemoryService svc;
  WorkerOptions opts;
  SharedWorkerContext ctx;
  StickyKey sticky;
  std::string topic;
  std::string worker_id;

  kafka::Handle producer;
  kafka::Handle consumer;
  kafka::Queue consumer_queue;  // to wake the poll loop when a slot frees
  std::unique_ptr<internal::Executor> pool;
  std::unique_ptr<internal::Executor> warmer;  // runs on_assign, one call at a time
  OffsetTracker tracker;
  internal::RecentReplies recent;
  std::unique_ptr<internal::CrashJournal> journal;  // null: no crash-loop protection
  internal::SuspectGate gate;
  std::thread poll_thread;
  std::thread delivery_thread;

  std::atomic<bool> stop_requested{false};
  std::atomic<bool> delivery_stop{false};
  std::atomic<int> running{0};
  // Handlers outlived stop()'s bound: they still use this state, so it is
  // never freed (see ~Worker).
  std::atomic<bool> handlers_abandoned{false};
  // How long a revoke may wait for the revoked partitions' requests: below
  // max.poll.interval.ms, which the rebalance callback counts against.
  std::chrono::milliseconds revoke_grace{0};

  // Records to produce again after a failed delivery, by when. The delivery
  // thread produces them.
  std::mutex retry_mu;
  std::multimap<Clock::time_point, Outgoing*> retry_due;  // GUARDED_BY(retry_mu)
  // Requests whose handler runs, by deadline (Unix ms): the delivery thread
  // answers deadline_exceeded for any still running at its deadline.
  std::mutex watch_mu;
  std::multimap<int64_t, InFlight*> watched;  // GUARDED_BY(watch_mu)

  mutable std::mutex state_mu;
  std::condition_variable state_cv;
  std::set<int32_t> assigned;  // GUARDED_BY(state_mu); written by the poll thread

  // Poll-thread only.
  std::set<int32_t> paused;  // partitions paused because read_ahead of theirs wait
  bool drained = false;  // stop() already waited for in-flight work
  internal::FairQueue<kafka::Message> pending;  // fetched while every slot was busy
  size_t read_ahead = 0;

  std::mutex lifecycle_mu;
  bool started = false;
  bool stopped = false;

  struct {
    std::atomic<uint64_t> received{0}, succeeded{0}, failed{0}, max_in_flight{0},
        paused_times{0}, commits{0}, retries{0}, dead_letters{0}, duplicates{0}, rebalances{0},
        delivery_retries{0}, lost_replies{0};
  } counters;
  internal::WorkerMetrics metrics;
  std::atomic<bool> initialised{false};
  std::atomic<bool> first_assignment{false};
  std::atomic<bool> first_request{false};
  Clock::time_point serving_since;  // end of start(): the group join begins

  Impl(MemoryService s, WorkerOptions o)
      : svc(std::move(s)),
        opts(std::move(o)),
        ctx(SharedWorkerContext::Options{svc.name, svc.memory_bytes(), opts.result_url, opts.state_dir,
                                         opts.state_dir.empty() ? 0 : svc.disk_bytes(), {}, opts.package_dir, opts.s3,
                                         opts.file_roots}),
        sticky(svc.sticky_key),
        topic(protocol::request_topic(svc.name)),
        worker_id(opts.worker_id.empty() ? default_worker_id() : opts.worker_id),
        recent(static_cast<size_t>(svc.dedup_window)),
        read_ahead(opts.read_ahead > 0 ? opts.read_ahead : std::max<size_t>(2, static_cast<size_t>(svc.concurrency) / 4)) {
    for (auto& phase : opts.startup_phases) metrics.add_phase(std::move(phase));
    const auto disk = ctx.cache_stats().disk;
    metrics.add_phase("cache index rebuild", Clock::now() - born,
                      disk.dir_in_use    ? fmt::format("no disk tier: its directory is held by pid {}", disk.dir_holder_pid)
                      : disk.capacity == 0 ? "no disk tier"
                                           : fmt::format("{} entries, {} bytes found on disk", disk.entries, disk.bytes));
  }

  // ---- request context seen by handlers --------------------------------
  class Context final : public RequestContext {
   public:
    Context(Impl& w, const InFlight& r, const nlohmann::json& json, std::string key)
        : w_(w), r_(r), json_(json), key_(std::move(key)) {}
    std::string_view payload() const override { return payload_of(r_.msg.get()); }
    const nlohmann::json& json() const override { return json_; }
    const std::string& key() const override { return key_; }
    const std::string& request_id() const override { return r_.headers.request_id; }
    int32_t partition() const override { return r_.msg->partition; }
    int64_t offset() const override { return r_.msg->offset; }
    std::chrono::system_clock::time_point deadline() const override {
      return std::chrono::system_clock::time_point(std::chrono::milliseconds(r_.deadline_ms));
    }
    bool cancelled() const override {
      return kafka::now_unix_ms() > r_.deadline_ms || w_.stop_requested.load() ||
             !w_.tracker.assigned(r_.msg->partition);
    }
    SharedWorkerContext& worker() override { return w_.ctx; }

   private:
    Impl& w_;
    const InFlight& r_;
    const nlohmann::json& json_;
    std::string key_;
  };

  // ---- lifecycle ---------------------------------------------------------
  void start() {
    svc.validate();
    const auto init_start = Clock::now();
    if (svc.init) {
      ctx.begin_init();
      try {
        svc.init(ctx);
      } catch (const Error& e) {
        ctx.end_init();
        throw Error(e.code(), "init handler of '" + svc.name + "' failed: " + e.what());
      } catch (const std::exception& e) {
        ctx.end_init();
        throw Error(Code::kInternal, "init handler of '" + svc.name + "' failed: " + e.what());
      }
      ctx.end_init();
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

    auto pconf = kafka::make_conf(opts.kafka, kafka::producer_defaults());
    rd_kafka_conf_set_opaque(pconf.get(), this);
    rd_kafka_conf_set_dr_msg_cb(pconf.get(), &Impl::on_delivery);
    producer = kafka::make_handle(RD_KAFKA_PRODUCER, std::move(pconf));

    auto cdefaults = kafka::consumer_defaults();
    cdefaults["group.id"] = protocol::consumer_group(svc.name);
    cdefaults["client.id"] = worker_id;
    // We choose every offset (store() below); librdkafka's timer sends them.
    // Its timer skips while the group rebalances, which a commit of ours
    // cannot: one sent while our JoinGroup is pending carries the old
    // generation, the coordinator answers ILLEGAL_GENERATION, and librdkafka
    // then drops the whole assignment as lost, so cooperative rebalancing
    // degrades into moving every partition.
    cdefaults["enable.auto.commit"] = "true";
    cdefaults["auto.commit.interval.ms"] = "1000";
    auto cconf = kafka::make_conf(opts.kafka, cdefaults);
    rd_kafka_conf_set_opaque(cconf.get(), this);
    rd_kafka_conf_set_rebalance_cb(cconf.get(), &Impl::on_rebalance);
    rd_kafka_conf_set_offset_commit_cb(cconf.get(), &Impl::on_commit);
    consumer = kafka::make_handle(RD_KAFKA_CONSUMER, std::move(cconf));
    rd_kafka_poll_set_consumer(consumer.get());
    consumer_queue.reset(rd_kafka_queue_get_consumer(consumer.get()));

    if (opts.register_service) register_service();

    kafka::PartitionList topics(rd_kafka_topic_partition_list_new(1));
    rd_kafka_topic_partition_list_add(topics.get(), topic.c_str(), RD_KAFKA_PARTITION_UA);
    if (auto err = rd_kafka_subscribe(consumer.get(), topics.get()))
      throw kafka::error_from(err, "subscribe to " + topic);

    pool = std::make_unique<internal::Executor>(svc.concurrency);
    if (svc.on_assign) warmer = std::make_unique<internal::Executor>(1);
    revoke_grace = std::min(opts.drain_timeout, max_poll_interval(consumer.get()) / 2);
    delivery_thread = std::thread([this] { delivery_loop(); });
    metrics.add_phase("kafka setup", Clock::now() - kafka_start);
    serving_since = Clock::now();
    poll_thread = std::thread([this] { poll_loop(); });
    spdlog::info("worker {} serving '{}' from {} in group {} (concurrency {})", worker_id,
                 svc.name, topic, protocol::consumer_group(svc.name), svc.concurrency);
  }

  void stop() {
    // First, so that every running handler's cancelled() reads true at once.
    stop_requested = true;
    const auto handlers_due = Clock::now() + opts.drain_timeout;
    if (consumer_queue) rd_kafka_queue_yield(consumer_queue.get());
    if (poll_thread.joinable()) poll_thread.join();
    // The drain already waited up to drain_timeout; a handler still running
    // past it ignores cancellation and may never return.
    if (pool && !pool->join_for(std::max<std::chrono::milliseconds>(
                    std::chrono::duration_cast<std::chrono::milliseconds>(handlers_due - Clock::now()),
                    std::chrono::milliseconds(1000)))) {
      handlers_abandoned = true;
      spdlog::error("worker {}: {} handler(s) still running after drain_timeout ({} ms) ignore cancellation; "
                    "leaving them running and their requests uncommitted",
                    worker_id, std::max(0, running.load()), opts.drain_timeout.count());
    }
    if (handlers_abandoned) (void)pool.release();  // its detached threads still use it
    pool.reset();
    warmer.reset();
    if (producer) {
      if (rd_kafka_flush(producer.get(), 10000) != RD_KAFKA_RESP_ERR_NO_ERROR)
        spdlog::warn("{} replies still undelivered at shutdown", rd_kafka_outq_len(producer.get()));
    }
    delivery_stop = true;
    if (delivery_thread.joinable()) delivery_thread.join();
    abandon_retries();
    if (handlers_abandoned) {
      // The shutdown handler would free what the running handlers use, and
      // they still reply through the producer and wake the consumer queue.
      spdlog::error("worker {} stopped with {} handler(s) still running: shutdown handler skipped", worker_id,
                    std::max(0, running.load()));
      return;
    }
    if (svc.shutdown) {
      try {
        svc.shutdown(ctx);
      } catch (const std::exception& e) {
        spdlog::error("shutdown handler of '{}' failed: {}", svc.name, e.what());
      }
    }
    consumer_queue.reset();
    consumer.reset();
    producer.reset();
    spdlog::info("worker {} stopped: {} received, {} ok, {} failed", worker_id,
                 counters.received.load(), counters.succeeded.load(), counters.failed.load());
  }

  void register_service() {
    std::string value = service_fields(svc).dump();
    auto err = rd_kafka_producev(
        producer.get(), RD_KAFKA_V_TOPIC(std::string(protocol::kServicesTopic).c_str()),
        RD_KAFKA_V_KEY(svc.name.data(), svc.name.size()),
        RD_KAFKA_V_VALUE(value.data(), value.size()), RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
        RD_KAFKA_V_END);
    if (err) {
      spdlog::warn("cannot register service in {}: {}", protocol::kServicesTopic, rd_kafka_err2str(err));
      return;
    }
    // Wait for it: a client started right after this worker must find the key.
    if (rd_kafka_flush(producer.get(), 10000) != RD_KAFKA_RESP_ERR_NO_ERROR)
      spdlog::warn("service registration in {} not acknowledged within 10 s", protocol::kServicesTopic);
  }

  // ---- poll loop (one thread) ---------------------------------------------
  void poll_loop() {
    auto last_store = Clock::now();
    auto last_heartbeat = Clock::now();
    while (!stop_requested.load()) {
      admit_waiting();
      if (rd_kafka_message_t* raw = rd_kafka_consumer_poll(consumer.get(), 100))
        on_message(kafka::Message(raw));
      if (Clock::now() - last_store >= kStoreInterval) {
        store(tracker.take_commits());
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

  // Publishes this worker's status (memrun.heartbeats, keyed by worker id) and
  // logs the same figures on one line. `state`: "serving" or "stopped".
  void heartbeat(std::string_view state) {
    std::vector<int32_t> parts;
    {
      std::lock_guard lock(state_mu);
      parts.assign(assigned.begin(), assigned.end());
    }
    const auto cache = ctx.stats();
    nlohmann::json status = {
        {"worker_id", worker_id},        {"service", svc.name},
        {"state", state},
        {"time_ms", kafka::now_unix_ms()},
        {"interval_ms", opts.heartbeat_interval.count()},
        {"partitions", parts},
        {"in_flight", std::max(0, running.load())},
        {"handled", counters.succeeded.load() + counters.failed.load()},
        {"errors", counters.failed.load()},
        {"retries", counters.retries.load()},
        {"dead_letters", counters.dead_letters.load()},
        {"duplicates", counters.duplicates.load()},
        {"delivery_retries", counters.delivery_retries.load()},
        {"lost_replies", counters.lost_replies.load()},
        {"paused_times", counters.paused_times.load()},
        {"objects", cache.objects},     {"object_bytes", cache.bytes},
        {"memory_budget_bytes", cache.budget_bytes}, {"evictions", cache.evictions}};
    const auto tiers = ctx.cache_stats();
    status["cache"] = {{"ram_hits", tiers.ram_hits},       {"disk_hits", tiers.disk_hits},
                       {"remote_fetches", tiers.remote_fetches}, {"remote_bytes", tiers.remote_bytes},
                       {"disk_entries", tiers.disk.entries}, {"disk_bytes", tiers.disk.bytes},
                       {"disk_capacity", tiers.disk.capacity}, {"disk_evictions", tiers.disk.evictions},
                       {"disk_corrupt_dropped", tiers.disk.corrupt_dropped}};
    std::string value = status.dump();
    auto err = rd_kafka_producev(producer.get(), RD_KAFKA_V_TOPIC(std::string(protocol::kHeartbeatsTopic).c_str()),
                                 RD_KAFKA_V_KEY(worker_id.data(), worker_id.size()),
                                 RD_KAFKA_V_VALUE(value.data(), value.size()),
                                 RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_END);
    if (err) spdlog::warn("heartbeat not sent: {}", rd_kafka_err2str(err));
    spdlog::info("heartbeat {}: {} partitions, {} in flight, {} handled, {} errors, {} dead letters, "
                 "{} duplicates, {} objects ({} bytes){}",
                 worker_id, parts.size(), status["in_flight"].get<int>(), status["handled"].get<uint64_t>(),
                 status["errors"].get<uint64_t>(), status["dead_letters"].get<uint64_t>(),
                 status["duplicates"].get<uint64_t>(), cache.objects, cache.bytes,
                 state == "stopped" ? "; stopped" : "");
  }

  void on_message(kafka::Message m) {
    if (m->err) {
      if (m->err != RD_KAFKA_RESP_ERR__PARTITION_EOF)
        spdlog::warn("consumer: {}", rd_kafka_message_errstr(m.get()));
      return;
    }
    if (!tracker.assigned(m->partition)) return;  // revoked since it was fetched
    ++counters.received;
    if (running.load() < svc.concurrency && pending.empty()) {
      admit(std::move(m));
      return;
    }
    const int32_t partition = m->partition;  // before m is moved from
    pending.push(partition, std::move(m));
    // Only this partition stops: one with a backlog must not keep the
    // others' requests from reaching the queue and their round-robin turn.
    if (pending.size(partition) >= read_ahead && paused.insert(partition).second) pause({partition}, true);
  }

  // Starts waiting requests while slots are free, a partition at a time in
  // turn, and resumes a paused partition once half of its queue has started.
  // (Hysteresis: a resume costs a fetch restart, so not one per request.)
  void admit_waiting() {
    std::vector<int32_t> resume;
    while (!pending.empty() && running.load() < svc.concurrency) {
      kafka::Message m = std::move(*pending.pop());
      const int32_t partition = m->partition;
      admit(std::move(m));
      if (paused.count(partition) && pending.size(partition) <= read_ahead / 2) {
        paused.erase(partition);
        resume.push_back(partition);
      }
    }
    if (!resume.empty()) pause(resume, false);
  }

  void admit(kafka::Message m) {
    auto* req = new InFlight;
    req->ticket = tracker.admit(m->partition, m->offset);
    req->msg = std::move(m);
    int now_running = ++running;
    uint64_t prev = counters.max_in_flight.load();
    while (static_cast<uint64_t>(now_running) > prev &&
           !counters.max_in_flight.compare_exchange_weak(prev, static_cast<uint64_t>(now_running))) {
    }
    pool->submit([this, req] { process(req); });
  }

  void pause(const std::vector<int32_t>& partitions, bool stop) {
    kafka::PartitionList parts(rd_kafka_topic_partition_list_new(static_cast<int>(partitions.size()) + 1));
    for (int32_t p : partitions) rd_kafka_topic_partition_list_add(parts.get(), topic.c_str(), p);
    if (stop) {
      rd_kafka_pause_partitions(consumer.get(), parts.get());
      ++counters.paused_times;
      for (int32_t p : partitions) metrics.paused(p);
    } else {
      rd_kafka_resume_partitions(consumer.get(), parts.get());
      for (int32_t p : partitions) metrics.resumed(p);
      wake_fetchers(parts.get());
    }
  }

  // librdkafka 2.0.2 records a resume in its main thread, and each broker's
  // fetch thread notices it only on its next wakeup, up to a second later
  // (measured: 0.9 s per pause cycle, which throttled 100 ms handlers to a
  // tenth of their slots). Any request queued for a broker wakes its thread,
  // so ask the partitions' leaders for their end offsets without waiting for
  // the answer; librdkafka drops the late replies itself.
  void wake_fetchers(const rd_kafka_topic_partition_list_t* parts) {
    kafka::PartitionList ask(rd_kafka_topic_partition_list_copy(parts));
    for (int i = 0; i < ask->cnt; ++i) ask->elems[i].offset = RD_KAFKA_OFFSET_END;
    rd_kafka_offsets_for_times(consumer.get(), ask.get(), 0);
  }

  void drain() {
    std::vector<int32_t> all;
    {
      std::lock_guard lock(state_mu);
      all.assign(assigned.begin(), assigned.end());
    }
    pause(all, true);
    pending.clear();  // never admitted, so never committed: redelivered later
    auto deadline = Clock::now() + opts.drain_timeout;
    while (tracker.unfinished() > 0 && Clock::now() < deadline) {
      // Keep serving the group (heartbeats, rebalances) while work finishes.
      if (rd_kafka_message_t* raw = rd_kafka_consumer_poll(consumer.get(), 20))
        rd_kafka_message_destroy(raw);
    }
    if (size_t left = tracker.unfinished())
      spdlog::warn("drain timed out with {} requests unfinished; they will be redelivered", left);
    commit_now(tracker.take_commits());
    drained = true;
    rd_kafka_consumer_close(consumer.get());  // leaves the group; revokes via on_rebalance
  }

  // ---- handler threads ------------------------------------------------------
  void process(InFlight* req) {
    const auto taken = Clock::now();
    std::string problem;
    req->headers = internal::read_request_headers(req->msg.get(), &problem);
    if (req->headers.request_id.empty())
      req->headers.request_id = std::to_string(req->msg->partition) + "-" + std::to_string(req->msg->offset);
    if (!problem.empty())
      spdlog::warn("request {} at {}[{}]@{}: {}", req->headers.request_id, topic,
                   req->msg->partition, req->msg->offset, problem);
    const int64_t received_ms = kafka::now_unix_ms();
    req->deadline_ms = received_ms + static_cast<int64_t>(svc.timeout_seconds * 1000);
    if (req->headers.deadline_ms > 0) req->deadline_ms = std::min(req->deadline_ms, req->headers.deadline_ms);

    if (auto seen = recent.find(req->headers.request_id)) {
      req->duplicate = true;
      req->code = seen->code;
      req->body = std::move(seen->body);
      ++counters.duplicates;
      spdlog::info("request {} at {}[{}]@{} was answered before: replaying its reply", req->headers.request_id,
                   topic, req->msg->partition, req->msg->offset);
    } else {
      watch(req);
      run_guarded(*req, received_ms);
      unwatch(req);
      const int64_t done_ms = kafka::now_unix_ms();
      // Whether the deadline reply went out while the handler ran or not,
      // a late outcome is deadline_exceeded: the caller may have given up.
      if (done_ms > req->deadline_ms && req->code != Code::kDeadlineExceeded) {
        req->code = Code::kDeadlineExceeded;
        req->body = overdue_message(*req, done_ms);
      }
      recent.remember(req->headers.request_id, {req->code, req->body});
    }
    const auto took = Clock::now() - taken;
    metrics.observe_latency(std::chrono::duration<double>(took).count());
    if (!first_request.exchange(true)) {
      metrics.add_phase("first request", took, std::string(code_name(req->code)));
      spdlog::info("cold start of worker {}: first request took {:.3f} s ({})", worker_id,
                   std::chrono::duration<double>(took).count(), code_name(req->code));
    }
    if (req->code == Code::kOk) {
      ++counters.succeeded;
    } else {
      ++counters.failed;
      spdlog::warn("request {} at {}[{}]@{} failed after {} attempt(s): {}: {}", req->headers.request_id, topic,
                   req->msg->partition, req->msg->offset, req->attempts, code_name(req->code), req->body);
    }
    // Dead letters: handler failures that retries did not cure, and failures
    // nobody would hear of because the request names no reply address.
    req->dead_letter = !req->duplicate && req->code != Code::kOk &&
                       (retry_worthy(req->code) || req->headers.reply_to.empty());
    --running;
    rd_kafka_queue_yield(consumer_queue.get());  // a slot is free: wake the poll loop
    dispatch(req);
  }

  // run() between crash-journal lines. A request that was running when
  // workers died runs alone; at max_crashes it is dead-lettered unrun.
  void run_guarded(InFlight& req, int64_t now_ms) {
    if (!journal) {
      run(req, now_ms);
      return;
    }
    const internal::CrashJournal::Request jr{req.msg->partition, req.msg->offset, req.headers.request_id};
    const int crashes = journal->crashes(jr);
    if (crashes >= svc.max_crashes) {
      req.code = Code::kInternal;
      req.error_class = "crash_loop";
      req.attempts = crashes;
      req.body = "request was running when a worker process died " + std::to_string(crashes) +
                 " times; sent to " + protocol::dlq_topic(svc.name) + " without running again";
      journal->finished(jr);
      return;
    }
    const bool suspect = crashes > 0;
    if (suspect)
      spdlog::warn("request {} at {}[{}]@{} was running when a worker died ({} of {} allowed); running it alone",
                   req.headers.request_id, topic, req.msg->partition, req.msg->offset, crashes, svc.max_crashes);
    gate.enter(suspect);
    journal->started(jr);
    run(req, now_ms);
    journal->finished(jr);
    gate.leave(suspect);
  }

  // Validates the record, then runs the handler up to max_attempts times.
  // Leaves the outcome in req.code / req.body.
  void run(InFlight& req, int64_t now_ms) {
    std::optional<nlohmann::json> json;
    std::string key;
    try {
      if (req.headers.deadline_ms > 0 && now_ms > req.headers.deadline_ms)
        throw Error(Code::kDeadlineExceeded,
                    "request expired " + std::to_string(now_ms - req.headers.deadline_ms) + " ms before it could run");
      const std::string_view payload = payload_of(req.msg.get());
      if (payload.size() > svc.max_payload_bytes)
        throw Error(Code::kInvalidArgument, "payload of " + std::to_string(payload.size()) +
                                                " bytes exceeds max_payload_bytes " +
                                                std::to_string(svc.max_payload_bytes));
      json = nlohmann::json::parse(payload, nullptr, /*allow_exceptions=*/false);
      if (json->is_discarded()) throw Error(Code::kInvalidArgument, "payload is not valid JSON");
      key = sticky.extract(*json);
    } catch (const Error& e) {
      req.code = e.code();
      req.body = e.what();
      return;
    }
    for (int attempt = 1;; ++attempt) {
      req.attempts = attempt;
      try {
        Context rc(*this, req, *json, key);
        req.body = std::move(svc.handle(rc).body());
        req.code = Code::kOk;
        return;
      } catch (const Error& e) {
        req.code = e.code() == Code::kOk ? Code::kInternal : e.code();
        req.body = e.what();
      } catch (const std::exception& e) {
        req.code = Code::kInternal;
        req.body = std::string("handler threw: ") + e.what();
      } catch (...) {
        req.code = Code::kInternal;
        req.body = "handler threw a non-standard exception";
      }
      if (!retry_worthy(req.code) || attempt >= svc.max_attempts) return;
      const int64_t backoff =
          std::min<int64_t>(int64_t{svc.retry_backoff_ms} << std::min(attempt - 1, 20), kMaxBackoffMs);
      if (stop_requested.load() || kafka::now_unix_ms() + backoff >= req.deadline_ms) return;
      ++counters.retries;
      spdlog::warn("request {} attempt {}/{} failed ({}: {}); retrying in {} ms", req.headers.request_id, attempt,
                   svc.max_attempts, code_name(req.code), req.body, backoff);
      std::this_thread::sleep_for(std::chrono::milliseconds(backoff));
    }
  }

  // Produces the reply and/or the dead letter; the request is finished when
  // every one of them is acknowledged.
  void dispatch(InFlight* req) {
    std::vector<Outgoing*> out;
    if (!req->headers.reply_to.empty() && !req->replied.exchange(true))
      out.push_back(make_reply(req, req->code, req->body));
    if (req->dead_letter) out.push_back(make_dead_letter(req));
    req->holders += static_cast<int>(out.size());
    for (Outgoing* o : out) produce(o);
    release(req);  // the handler's hold
  }

  std::string overdue_message(const InFlight& req, int64_t now_ms) const {
    return fmt::format("handler ran past the request's deadline ({} ms over; timeout_seconds {})",
                       now_ms - req.deadline_ms, svc.timeout_seconds);
  }

  void watch(InFlight* req) {
    std::lock_guard lock(watch_mu);
    watched.emplace(req->deadline_ms, req);
  }

  void unwatch(InFlight* req) {
    std::lock_guard lock(watch_mu);
    auto [first, last] = watched.equal_range(req->deadline_ms);
    for (auto it = first; it != last; ++it) {
      if (it->second == req) {
        watched.erase(it);
        return;
      }
    }
  }

  // Delivery thread: answers deadline_exceeded for handlers still running at
  // their deadline, so the caller hears at once rather than at its own
  // timeout. The handler keeps its slot and the offset until it returns.
  void reply_overdue() {
    const int64_t now = kafka::now_unix_ms();
    std::vector<Outgoing*> out;
    {
      std::lock_guard lock(watch_mu);
      while (!watched.empty() && watched.begin()->first < now) {
        InFlight* req = watched.begin()->second;
        watched.erase(watched.begin());
        if (req->headers.reply_to.empty() || req->replied.exchange(true)) continue;
        ++req->holders;  // while watched, the handler's hold keeps req alive
        out.push_back(make_reply(req, Code::kDeadlineExceeded, overdue_message(*req, now)));
        spdlog::warn("request {} at {}[{}]@{} still running at its deadline: answered deadline_exceeded",
                     req->headers.request_id, topic, req->msg->partition, req->msg->offset);
      }
    }
    for (Outgoing* o : out) produce(o);
  }

  // Delivery thread: delivery reports, records due to be produced again, and
  // deadline replies.
  void delivery_loop() {
    while (!delivery_stop.load()) {
      rd_kafka_poll(producer.get(), 20);
      produce_due();
      reply_overdue();
    }
  }

  void produce_due() {
    std::vector<Outgoing*> due;
    {
      std::lock_guard lock(retry_mu);
      auto end = retry_due.upper_bound(Clock::now());
      for (auto it = retry_due.begin(); it != end; ++it) due.push_back(it->second);
      retry_due.erase(retry_due.begin(), end);
    }
    for (Outgoing* o : due) produce(o);
  }

  // After the delivery thread stopped: nothing will produce these again.
  void abandon_retries() {
    std::multimap<Clock::time_point, Outgoing*> left;
    {
      std::lock_guard lock(retry_mu);
      left.swap(retry_due);
    }
    for (auto& [when, o] : left) delivered(o, RD_KAFKA_RESP_ERR__DESTROY);
  }

  Outgoing* make_reply(InFlight* req, Code code, const std::string& body) {
    const bool ok = code == Code::kOk;
    auto* o = new Outgoing;
    o->req = req;
    o->is_reply = true;
    o->topic = req->headers.reply_to;
    if (req->headers.reply_partition >= 0) o->partition = req->headers.reply_partition;
    o->key = req->headers.request_id;
    o->value = ok ? body : internal::error_body(code, body);
    o->headers = {{std::string(protocol::kHeaderRequestId), req->headers.request_id},
                  {std::string(protocol::kHeaderStatus), ok ? "ok" : "error"}};
    if (!ok) o->headers.emplace_back(protocol::kHeaderErrorCode, code_name(code));
    o->headers.emplace_back(protocol::kHeaderWorker, worker_id);
    o->headers.emplace_back(protocol::kHeaderPartition, std::to_string(req->msg->partition));
    o->headers.emplace_back(protocol::kHeaderOffset, std::to_string(req->msg->offset));
    return o;
  }

  // The request as it came (key, value, headers) plus where it came from and
  // why it failed, so it can be inspected and replayed.
  Outgoing* make_dead_letter(InFlight* req) {
    auto* o = new Outgoing;
    o->req = req;
    o->topic = protocol::dlq_topic(svc.name);
    const rd_kafka_message_t* m = req->msg.get();
    if (m->key) o->key.assign(static_cast<const char*>(m->key), m->key_len);
    o->value.assign(payload_of(m));
    rd_kafka_headers_t* hdrs = nullptr;
    if (rd_kafka_message_headers(m, &hdrs) == RD_KAFKA_RESP_ERR_NO_ERROR) {
      const char* name;
      const void* value;
      size_t size;
      for (size_t i = 0; rd_kafka_header_get_all(hdrs, i, &name, &value, &size) == RD_KAFKA_RESP_ERR_NO_ERROR; ++i)
        o->headers.emplace_back(name, value ? std::string(static_cast<const char*>(value), size) : std::string());
    }
    o->headers.emplace_back(protocol::kHeaderDlqTopic, topic);
    o->headers.emplace_back(protocol::kHeaderDlqPartition, std::to_string(m->partition));
    o->headers.emplace_back(protocol::kHeaderDlqOffset, std::to_string(m->offset));
    o->headers.emplace_back(protocol::kHeaderDlqErrorClass,
                            req->error_class.empty() ? std::string(code_name(req->code)) : req->error_class);
    o->headers.emplace_back(protocol::kHeaderDlqErrorMessage, req->body);
    o->headers.emplace_back(protocol::kHeaderDlqAttempts, std::to_string(req->attempts));
    o->headers.emplace_back(protocol::kHeaderDlqWorker, worker_id);
    return o;
  }

  void produce(Outgoing* o) {
    auto err = kafka::produce_when_room(producer.get(), kQueueFullPatience, [&] {
      rd_kafka_headers_t* hdrs = rd_kafka_headers_new(o->headers.size());
      for (const auto& [name, value] : o->headers)
        rd_kafka_header_add(hdrs, name.data(), static_cast<ssize_t>(name.size()), value.data(),
                            static_cast<ssize_t>(value.size()));
      auto e = rd_kafka_producev(
          producer.get(), RD_KAFKA_V_TOPIC(o->topic.c_str()), RD_KAFKA_V_PARTITION(o->partition),
          RD_KAFKA_V_KEY(o->key.data(), o->key.size()), RD_KAFKA_V_VALUE(o->value.data(), o->value.size()),
          RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_HEADERS(hdrs), RD_KAFKA_V_OPAQUE(o),
          RD_KAFKA_V_END);
      if (e != RD_KAFKA_RESP_ERR_NO_ERROR) rd_kafka_headers_destroy(hdrs);  // not taken
      return e;
    });
    if (err != RD_KAFKA_RESP_ERR_NO_ERROR) delivered(o, err);  // else on_delivery owns o now
  }

  // Settles one outgoing record: acknowledged, scheduled again, or given up on.
  void delivered(Outgoing* o, rd_kafka_resp_err_t err) {
    InFlight* req = o->req;
    if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
      if (o->is_reply && reply_never_deliverable(err)) {
        // The request was served; running it again would end the same way,
        // so it is committed and the loss counted.
        ++counters.lost_replies;
        spdlog::error("reply of {} undeliverable to {}[{}]: {}; dropped", req->headers.request_id, o->topic,
                      o->partition, rd_kafka_err2str(err));
      } else if (delivery_stop.load() || !tracker.live(req->ticket)) {
        // The offset never passed this request, so whoever holds its
        // partition next runs it again: at-least-once without this worker.
        spdlog::warn("{} of {} to {} not delivered ({}) and its partition left this worker; "
                     "it is redelivered from the last commit",
                     o->kind(), req->headers.request_id, o->topic, rd_kafka_err2str(err));
      } else {
        produce_later(o, err);
        return;
      }
    } else if (!o->is_reply) {
      ++counters.dead_letters;
    }
    delete o;
    release(req);
  }

  // Until the record is delivered its request stays unfinished, so the
  // partition commits up to it and no further; the others are unaffected.
  void produce_later(Outgoing* o, rd_kafka_resp_err_t err) {
    ++counters.delivery_retries;
    const int failures = ++o->failures;
    const auto wait = std::min<std::chrono::milliseconds>(kRedeliveryFirst * (1 << std::min(failures - 1, 6)),
                                                          kRedeliveryMax);
    // First failure, then every tenth: a long outage must not flood the log.
    if (failures == 1 || failures % 10 == 0)
      spdlog::warn("{} of {} to {} failed ({}, {} time(s)); producing it again in {} ms, partition {} commits "
                   "no further until it is delivered",
                   o->kind(), o->req->headers.request_id, o->topic,
                   rd_kafka_err2str(err), failures, wait.count(), o->req->msg->partition);
    std::lock_guard lock(retry_mu);
    retry_due.emplace(Clock::now() + wait, o);
  }

  void release(InFlight* req) {
    if (--req->holders > 0) return;
    tracker.complete(req->ticket);
    delete req;
  }

  // ---- librdkafka callbacks -------------------------------------------------
  // Producer's delivery thread.
  static void on_delivery(rd_kafka_t*, const rd_kafka_message_t* m, void* opaque) {
    auto* self = static_cast<Impl*>(opaque);
    auto* o = static_cast<Outgoing*>(m->_private);
    if (o == nullptr) {  // a status record: registration or heartbeat
      if (m->err) spdlog::warn("status record to {} failed: {}", rd_kafka_topic_name(m->rkt), rd_kafka_err2str(m->err));
      return;
    }
    self->delivered(o, m->err);
  }

  // Poll thread (inside rd_kafka_consumer_poll).
  static void on_rebalance(rd_kafka_t* rk, rd_kafka_resp_err_t err,
                           rd_kafka_topic_partition_list_t* parts, void* opaque) {
    auto* self = static_cast<Impl*>(opaque);
    const bool cooperative = std::strcmp(rd_kafka_rebalance_protocol(rk), "COOPERATIVE") == 0;
    std::vector<int32_t> ps;
    for (int i = 0; i < parts->cnt; ++i) ps.push_back(parts->elems[i].partition);
    if (err == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS) {
      for (int32_t p : ps) self->tracker.assign(p);
      if (cooperative) rd_kafka_incremental_assign(rk, parts);
      else rd_kafka_assign(rk, parts);
      {
        std::lock_guard lock(self->state_mu);
        self->assigned.insert(ps.begin(), ps.end());
      }
      self->state_cv.notify_all();
      ++self->counters.rebalances;
      if (!ps.empty() && !self->first_assignment.exchange(true)) {
        self->metrics.add_phase("group join + first assignment", Clock::now() - self->serving_since,
                                fmt::format("{} partitions", ps.size()));
        self->log_cold_start();
      }
      spdlog::info("worker {} assigned partitions {}", self->worker_id, fmt::join(ps, ","));
      if (self->warmer && !ps.empty()) self->warmer->submit([self, ps] { self->warm(ps); });
    } else if (err == RD_KAFKA_RESP_ERR__REVOKE_PARTITIONS) {
      ++self->counters.rebalances;
      self->revoke(ps, rd_kafka_assignment_lost(rk) != 0);
      if (cooperative) rd_kafka_incremental_unassign(rk, parts);
      else rd_kafka_assign(rk, nullptr);
    } else {
      spdlog::error("rebalance failed: {}", rd_kafka_err2str(err));
      self->revoke(ps, true);
      rd_kafka_assign(rk, nullptr);
    }
  }

  // Warm-up thread: the service's on_assign, off the poll thread so a slow
  // warm-up never delays heartbeats, fetches or rebalances.
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

  void revoke(const std::vector<int32_t>& ps, bool lost) {
    pending.erase(ps);
    for (int32_t p : ps) {
      paused.erase(p);
      metrics.resumed(p);
    }
    if (!lost && !drained) {
      // Let in-flight work of these partitions finish, then commit it, so the
      // next owner starts exactly after what this worker answered. This runs
      // inside the rebalance callback, whose time counts against
      // max.poll.interval.ms, hence revoke_grace. Meanwhile waiting requests
      // of the partitions kept get the slots that free up.
      const auto deadline = Clock::now() + revoke_grace;
      if (size_t running_now = tracker.unfinished(ps))
        spdlog::info("worker {} revoking partitions {}: waiting up to {} ms for {} unfinished request(s)", worker_id,
                     fmt::join(ps, ","), revoke_grace.count(), running_now);
      while (!tracker.wait_finished(ps, std::min(deadline, Clock::now() + std::chrono::milliseconds(50))) &&
             Clock::now() < deadline)
        admit_waiting();
      if (size_t left = tracker.unfinished(ps))
        spdlog::warn("worker {}: {} request(s) of revoked partitions unfinished after {} ms; their next owner "
                     "runs them again",
                     worker_id, left, revoke_grace.count());
      commit_now(tracker.take_commits(ps));
    }
    for (int32_t p : ps) tracker.drop(p);
    {
      std::lock_guard lock(state_mu);
      for (int32_t p : ps) assigned.erase(p);
    }
    spdlog::info("worker {} {} partitions {}", worker_id, lost ? "lost" : "released", fmt::join(ps, ","));
  }

  kafka::PartitionList offset_list(const std::vector<OffsetTracker::Commit>& commits) const {
    kafka::PartitionList list(rd_kafka_topic_partition_list_new(static_cast<int>(commits.size())));
    for (const auto& c : commits)
      rd_kafka_topic_partition_list_add(list.get(), topic.c_str(), c.partition)->offset = c.offset;
    return list;
  }

  // Offsets for the commit timer. A partition revoked meanwhile is refused
  // by librdkafka (its next owner resumes from the last commit), which is
  // what at-least-once wants.
  void store(const std::vector<OffsetTracker::Commit>& commits) {
    if (commits.empty()) return;
    auto list = offset_list(commits);
    rd_kafka_offsets_store(consumer.get(), list.get());
  }

  // A commit sent now and waited for: on revoke (the generation was just
  // renewed, so it cannot be stale) and at shutdown.
  void commit_now(const std::vector<OffsetTracker::Commit>& commits) {
    if (commits.empty()) return;
    store(commits);
    auto list = offset_list(commits);
    auto err = rd_kafka_commit(consumer.get(), list.get(), 0);
    if (err && err != RD_KAFKA_RESP_ERR__NO_OFFSET) spdlog::warn("commit failed: {}", rd_kafka_err2str(err));
  }

  // Poll thread, for the timer's commits and ours.
  static void on_commit(rd_kafka_t*, rd_kafka_resp_err_t err, rd_kafka_topic_partition_list_t*, void* opaque) {
    auto* self = static_cast<Impl*>(opaque);
    if (err == RD_KAFKA_RESP_ERR_NO_ERROR) ++self->counters.commits;
    else if (err != RD_KAFKA_RESP_ERR__NO_OFFSET) spdlog::warn("commit failed: {}", rd_kafka_err2str(err));
  }
};

Worker::Worker(MemoryService service, WorkerOptions options)
    : impl_(std::make_unique<Impl>(std::move(service), std::move(options))) {}

Worker::~Worker() {
  stop();
  // Handlers that ignored cancellation still run on detached threads and use
  // this state; freeing it would pull memory from under them.
  if (impl_->handlers_abandoned) (void)impl_.release();
}

void Worker::start() {
  std::lock_guard lock(impl_->lifecycle_mu);
  if (impl_->started) throw Error(Code::kInvalidArgument, "worker already started");
  impl_->started = true;
  try {
    impl_->start();
  } catch (...) {
    impl_->stopped = true;
    impl_->stop_requested = true;
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
  std::unique_lock lock(impl_->state_mu);
  return impl_->state_cv.wait_for(lock, timeout, [&] { return !impl_->assigned.empty(); });
}

const std::string& Worker::worker_id() const noexcept { return impl_->worker_id; }
const MemoryService& Worker::service() const noexcept { return impl_->svc; }
SharedWorkerContext& Worker::context() noexcept { return impl_->ctx; }
const SharedWorkerContext& Worker::context() const noexcept { return impl_->ctx; }

bool Worker::ready() const noexcept {
  return impl_->initialised && impl_->first_assignment && !impl_->stop_requested;
}

std::vector<StartupPhase> Worker::startup_phases() const { return impl_->metrics.phases(); }

WorkerStats Worker::stats() const {
  WorkerStats s;
  const auto& c = impl_->counters;
  s.received = c.received;
  s.succeeded = c.succeeded;
  s.failed = c.failed;
  s.in_flight = static_cast<uint64_t>(std::max(0, impl_->running.load()));
  s.max_in_flight = c.max_in_flight;
  s.paused_times = c.paused_times;
  s.commits = c.commits;
  s.retries = c.retries;
  s.dead_letters = c.dead_letters;
  s.duplicates = c.duplicates;
  s.rebalances = c.rebalances;
  s.delivery_retries = c.delivery_retries;
  s.lost_replies = c.lost_replies;
  impl_->metrics.fill(s);
  std::vector<int32_t> assigned;
  {
    std::lock_guard lock(impl_->state_mu);
    assigned.assign(impl_->assigned.begin(), impl_->assigned.end());
  }
  s.assigned_partitions = static_cast<uint32_t>(assigned.size());
  if (assigned.empty() || !impl_->consumer) return s;
  // Positions and watermarks are librdkafka's cached values: no broker round trip.
  kafka::PartitionList parts(rd_kafka_topic_partition_list_new(static_cast<int>(assigned.size())));
  for (int32_t p : assigned) rd_kafka_topic_partition_list_add(parts.get(), impl_->topic.c_str(), p);
  rd_kafka_position(impl_->consumer.get(), parts.get());
  for (int i = 0; i < parts->cnt; ++i) {
    PartitionStatus ps;
    ps.partition = parts->elems[i].partition;
    ps.position = parts->elems[i].offset >= 0 ? parts->elems[i].offset : -1;
    int64_t low = -1, high = -1;
    if (rd_kafka_get_watermark_offsets(impl_->consumer.get(), impl_->topic.c_str(), ps.partition, &low, &high) ==
            RD_KAFKA_RESP_ERR_NO_ERROR &&
        high >= 0)
      ps.high_watermark = high;
    if (ps.high_watermark >= 0) ps.lag = std::max<int64_t>(0, ps.high_watermark - std::max<int64_t>(0, ps.position));
    s.partitions.push_back(ps);
  }
  return s;
}

}  // namespace memrun
