// The outbox: everything a worker produces. A request's reply and dead letter
// are produced here and kept until Kafka acknowledges them; a record Kafka
// refused is produced again later (exponential backoff) for as long as its
// request's partition stays with this worker; the deadline watch answers
// deadline_exceeded for handlers still running at their deadline; status
// records (registration, heartbeats) go out here too.
//
// A request is finished when the last of its records is settled (acknowledged
// or given up on): each record holds a RequestPtr and drops it then.
//
// @locality: send(), watch(), unwatch() and publish() from any thread (handler
// threads, the poll thread); delivery reports, redelivery and deadline replies
// on the outbox's own delivery thread; open(), stop() and close() from the
// thread that starts or stops the worker.
#pragma once

#include <memrun/kafka_options.hpp>

#include "kafka/kafka.hpp"
#include "runtime/request.hpp"
#include "runtime/worker_counters.hpp"

#include <atomic>
#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>

namespace memrun::internal {

class Outbox final : public DeadlineWatch {
 public:
  struct Identity {
    std::string service;
    std::string request_topic;  // where requests come from, for dead letters and logs
    std::string worker_id;
    double timeout_seconds = 0;  // for the deadline reply's message
  };
  // `counters` must outlive the outbox. `settled`, if given, is called on
  // the delivery thread after each batch of delivery reports it served
  // (unacked() may have fallen): keep it short.
  Outbox(Identity identity, Counters& counters, std::function<void()> settled = {});
  // REQUIRES: stop() ran, or open() never did.
  ~Outbox();
  Outbox(const Outbox&) = delete;
  Outbox& operator=(const Outbox&) = delete;

  // Creates the producer and starts the delivery thread. Throws Error.
  void open(const KafkaOptions& kafka);

  // Produces the request's reply (unless the deadline reply went out) and,
  // if req->dead_letter, its dead letter.
  void send(RequestPtr req);

  // DeadlineWatch: the handler of `req` runs from watch() to unwatch().
  void watch(const RequestPtr& req) override;
  void unwatch(const Request& req) override;

  // A status record (no request behind it); failures are logged only.
  void publish(std::string_view topic, std::string_view key, std::string_view value);
  // Replies and dead letters made and not yet settled: in librdkafka's queue,
  // or refused and waiting to be produced again. The worker stops starting
  // requests while this is at its bound, so records Kafka keeps refusing
  // cannot pile up in RAM.
  size_t unacked() const { return unacked_.load(std::memory_order_relaxed); }
  // Waits up to `bound` for every record to be acknowledged.
  bool flush(std::chrono::milliseconds bound);

  // Flushes (up to 10 s), stops the delivery thread and gives up on records
  // scheduled to be produced again (their requests stay uncommitted, so they
  // are redelivered). Idempotent.
  void stop();
  // Flushes what was produced since stop() (up to 10 s), then destroys the
  // producer. REQUIRES: stop() ran and no handler still runs.
  void close();

 private:
  struct Outgoing;
  using OutgoingPtr = std::unique_ptr<Outgoing>;
  static void on_delivery(rd_kafka_t*, const rd_kafka_message_t* m, void* opaque);
  void delivery_loop();
  // flush() for up to 10 s; what is still queued then is logged, naming `when`.
  void flush_or_warn(std::string_view when);
  void produce(OutgoingPtr o);
  void settle(OutgoingPtr o, rd_kafka_resp_err_t err);
  void produce_later(OutgoingPtr o, rd_kafka_resp_err_t err);
  void produce_due();
  void reply_overdue();
  OutgoingPtr make_reply(const RequestPtr& req, Code code, const std::string& body) const;
  OutgoingPtr make_dead_letter(const RequestPtr& req) const;

  const Identity id_;
  const std::string dlq_topic_;  // memrun.dlq.{service}
  Counters& counters_;
  const std::function<void()> settled_;
  kafka::Handle producer_;
  std::thread delivery_thread_;
  std::atomic<bool> stopping_{false};
  mutable std::atomic<size_t> unacked_{0};  // Outgoing records alive (each counts itself; made in const makers)
  bool stopped_ = false;  // stop() ran; its caller's thread only

  std::mutex retry_mu_;
  std::multimap<std::chrono::steady_clock::time_point, OutgoingPtr> retry_due_;  // GUARDED_BY(retry_mu_)
  // Requests whose handler runs, by deadline (Unix ms).
  std::mutex watch_mu_;
  std::multimap<int64_t, RequestPtr> watched_;  // GUARDED_BY(watch_mu_)
};

}  // namespace memrun::internal
