#include "runtime/outbox.hpp"

#include <memrun/protocol.hpp>

#include "core/backoff.hpp"
#include "core/thread_name.hpp"
#include "runtime/handler_runner.hpp"

#include <spdlog/spdlog.h>

#include <utility>
#include <vector>

namespace memrun::internal {
namespace {

using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

// A reply or dead letter Kafka refused is produced again after this, doubling
// up to kRedeliveryMax, for as long as its partition stays with this worker.
constexpr milliseconds kRedeliveryFirst{100};
constexpr milliseconds kRedeliveryMax{2000};
// How long a produce waits for room in librdkafka's queue before the record
// counts as failed (and is retried like any other failure).
constexpr milliseconds kQueueFullPatience{10000};
constexpr milliseconds kStopFlush{10000};

// Delivery errors after which a reply could never arrive, however often it is
// produced again: the caller named an address that does not exist, or the
// reply is larger than Kafka takes.
bool reply_never_deliverable(rd_kafka_resp_err_t err) {
  return err == RD_KAFKA_RESP_ERR__UNKNOWN_TOPIC || err == RD_KAFKA_RESP_ERR__UNKNOWN_PARTITION ||
         err == RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART || err == RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE ||
         err == RD_KAFKA_RESP_ERR_INVALID_MSG_SIZE;
}

}  // namespace

// One outgoing record, kept whole so a failed delivery can be produced again.
// Counted in `unacked` from its making until it is settled (destroyed). The
// record's views point into the request (its reply body, its Kafka message,
// its headers), the outbox's identity and the few strings held here: a reply
// copies no byte of its body before librdkafka does.
struct Outbox::Outgoing {
  explicit Outgoing(std::atomic<size_t>& unacked) : held(unacked) { held.fetch_add(1, std::memory_order_relaxed); }
  ~Outgoing() { held.fetch_sub(1, std::memory_order_relaxed); }
  Outgoing(const Outgoing&) = delete;
  Outgoing& operator=(const Outgoing&) = delete;

  std::atomic<size_t>& held;
  RequestPtr req;  // the request stays unfinished while this record is unsettled
  kafka::Record record;
  const char* topic = nullptr;  // record.topic: the reply address, or the outbox's dead-letter topic
  std::string value;            // an error reply's body; empty otherwise
  std::string partition_text, offset_text, attempts_text;  // header values
  bool is_reply = false;
  int failures = 0;
  const char* kind() const { return is_reply ? "reply" : "dead letter"; }
};

Outbox::Outbox(Identity identity, Counters& counters, std::function<void()> settled)
    : id_(std::move(identity)),
      dlq_topic_(protocol::dlq_topic(id_.service)),
      counters_(counters),
      settled_(std::move(settled)) {}

Outbox::~Outbox() { stop(); }

void Outbox::open(const KafkaOptions& kafka) {
  auto conf = kafka::make_conf(kafka, kafka::producer_defaults());
  rd_kafka_conf_set_opaque(conf.get(), this);
  rd_kafka_conf_set_dr_msg_cb(conf.get(), &Outbox::on_delivery);
  producer_ = kafka::make_handle(RD_KAFKA_PRODUCER, std::move(conf));
  delivery_thread_ = std::thread([this] {
    name_this_thread("memrun-outbox");
    delivery_loop();
  });
}

void Outbox::send(RequestPtr req) {
  std::vector<OutgoingPtr> out;
  if (!req->headers.reply_to.empty() && !req->replied.exchange(true))
    out.push_back(make_reply(req, req->code, req->body));
  if (req->dead_letter) out.push_back(make_dead_letter(req));
  req.reset();  // the handler's hold: the records hold it now, if any
  for (auto& o : out) produce(std::move(o));
}

void Outbox::watch(const RequestPtr& req) {
  std::lock_guard lock(watch_mu_);
  watched_.emplace(req->deadline_ms, req);
}

void Outbox::unwatch(const Request& req) {
  std::lock_guard lock(watch_mu_);
  auto [first, last] = watched_.equal_range(req.deadline_ms);
  for (auto it = first; it != last; ++it) {
    if (it->second.get() == &req) {
      watched_.erase(it);
      return;
    }
  }
}

void Outbox::publish(std::string_view topic, std::string_view key, std::string_view value) {
  const std::string t(topic);
  kafka::Record record;
  record.topic = t.c_str();
  record.key = key;
  record.value = value;
  if (auto err = kafka::produce(producer_.get(), record))
    spdlog::warn("status record to {} not sent: {}", topic, rd_kafka_err2str(err));
}

bool Outbox::flush(milliseconds bound) {
  return rd_kafka_flush(producer_.get(), static_cast<int>(bound.count())) == RD_KAFKA_RESP_ERR_NO_ERROR;
}

void Outbox::stop() {
  if (stopped_ || !producer_) return;
  stopped_ = true;
  flush_or_warn("shutdown");
  stopping_ = true;
  if (delivery_thread_.joinable()) delivery_thread_.join();
  // Nothing will produce these again.
  std::multimap<Clock::time_point, OutgoingPtr> left;
  {
    std::lock_guard lock(retry_mu_);
    left.swap(retry_due_);
  }
  for (auto& [when, o] : left) settle(std::move(o), RD_KAFKA_RESP_ERR__DESTROY);
}

// Replies of handlers abandoned at stop() are produced after stop()'s flush,
// so they get one of their own (it returns at once after a normal stop()).
void Outbox::close() {
  if (producer_) flush_or_warn("close");
  producer_.reset();
}

void Outbox::flush_or_warn(std::string_view when) {
  if (!flush(kStopFlush))
    spdlog::warn("{} replies still undelivered at {}", rd_kafka_outq_len(producer_.get()), when);
}

// Delivery thread: delivery reports, records due to be produced again, and
// deadline replies.
void Outbox::delivery_loop() {
  while (!stopping_.load()) {
    if (rd_kafka_poll(producer_.get(), 20) > 0 && settled_) settled_();
    produce_due();
    reply_overdue();
  }
}

// Delivery thread (inside rd_kafka_poll), or the thread flushing.
void Outbox::on_delivery(rd_kafka_t*, const rd_kafka_message_t* m, void* opaque) {
  OutgoingPtr o(static_cast<Outgoing*>(m->_private));  // ours again from here
  if (o == nullptr) {  // a status record: registration or heartbeat
    if (m->err) spdlog::warn("status record to {} failed: {}", rd_kafka_topic_name(m->rkt), rd_kafka_err2str(m->err));
    return;
  }
  static_cast<Outbox*>(opaque)->settle(std::move(o), m->err);
}

void Outbox::produce(OutgoingPtr o) {
  o->record.opaque = o.get();
  if (auto err = kafka::produce(producer_.get(), o->record, kQueueFullPatience)) {
    settle(std::move(o), err);
    return;
  }
  (void)o.release();  // on_delivery owns it now
}

// Settles one outgoing record: acknowledged, scheduled again, or given up on.
// Dropping `o` drops its hold on the request.
void Outbox::settle(OutgoingPtr o, rd_kafka_resp_err_t err) {
  const Request& req = *o->req;
  if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
    if (o->is_reply && reply_never_deliverable(err)) {
      // The request was served; running it again would end the same way, so
      // it is committed and the loss counted.
      counters_.add(&WorkerCounters::lost_replies);
      spdlog::error("reply of {} undeliverable to {}[{}]: {}; dropped", req.headers.request_id, o->topic,
                    o->record.partition, rd_kafka_err2str(err));
    } else if (stopping_.load() || !req.completion.live()) {
      // The offset never passed this request, so whoever holds its partition
      // next runs it again: at-least-once without this worker.
      spdlog::warn("{} of {} to {} not delivered ({}) and its partition left this worker; "
                   "it is redelivered from the last commit",
                   o->kind(), req.headers.request_id, o->topic, rd_kafka_err2str(err));
    } else {
      produce_later(std::move(o), err);
    }
    return;
  }
  if (!o->is_reply) counters_.add(&WorkerCounters::dead_letters);
}

// Until the record is delivered its request stays unfinished, so the
// partition commits up to it and no further; the others are unaffected.
void Outbox::produce_later(OutgoingPtr o, rd_kafka_resp_err_t err) {
  counters_.add(&WorkerCounters::delivery_retries);
  const int failures = ++o->failures;
  const auto wait = exponential_backoff(kRedeliveryFirst, failures, kRedeliveryMax);
  // First failure, then every tenth: a long outage must not flood the log.
  if (failures == 1 || failures % 10 == 0)
    spdlog::warn("{} of {} to {} failed ({}, {} time(s)); producing it again in {} ms, partition {} commits "
                 "no further until it is delivered",
                 o->kind(), o->req->headers.request_id, o->topic, rd_kafka_err2str(err), failures, wait.count(),
                 o->req->partition);
  std::lock_guard lock(retry_mu_);
  retry_due_.emplace(Clock::now() + wait, std::move(o));
}

void Outbox::produce_due() {
  std::vector<OutgoingPtr> due;
  {
    std::lock_guard lock(retry_mu_);
    auto end = retry_due_.upper_bound(Clock::now());
    for (auto it = retry_due_.begin(); it != end; ++it) due.push_back(std::move(it->second));
    retry_due_.erase(retry_due_.begin(), end);
  }
  for (auto& o : due) produce(std::move(o));
}

// Answers deadline_exceeded for handlers still running at their deadline, so
// the caller hears at once rather than at its own timeout. The handler keeps
// its slot and the offset until it returns.
void Outbox::reply_overdue() {
  const int64_t now = kafka::now_unix_ms();
  std::vector<OutgoingPtr> out;
  {
    std::lock_guard lock(watch_mu_);
    while (!watched_.empty() && watched_.begin()->first < now) {
      RequestPtr req = std::move(watched_.begin()->second);
      watched_.erase(watched_.begin());
      if (req->headers.reply_to.empty() || req->replied.exchange(true)) continue;
      out.push_back(make_reply(req, Code::kDeadlineExceeded, overdue_message(*req, now, id_.timeout_seconds)));
      spdlog::warn("request {} at {}[{}]@{} still running at its deadline: answered deadline_exceeded",
                   req->headers.request_id, id_.request_topic, req->partition, req->offset);
    }
  }
  for (auto& o : out) produce(std::move(o));
}

// `body` is req->body for an ok reply (sent after the handler returned, so
// it no longer changes); an error reply's body is made here.
Outbox::OutgoingPtr Outbox::make_reply(const RequestPtr& req, Code code, const std::string& body) const {
  const bool ok = code == Code::kOk;
  auto o = std::make_unique<Outgoing>(unacked_);
  o->req = req;
  o->is_reply = true;
  o->topic = req->headers.reply_to.c_str();
  if (req->headers.reply_partition >= 0) o->record.partition = req->headers.reply_partition;
  if (!ok) o->value = internal::error_body(code, body);
  o->partition_text = std::to_string(req->partition);
  o->offset_text = std::to_string(req->offset);
  auto& h = o->record.headers;
  h.reserve(6);
  h.emplace_back(protocol::kHeaderRequestId, req->headers.request_id);
  h.emplace_back(protocol::kHeaderStatus, ok ? "ok" : "error");
  if (!ok) h.emplace_back(protocol::kHeaderErrorCode, code_name(code));
  h.emplace_back(protocol::kHeaderWorker, id_.worker_id);
  h.emplace_back(protocol::kHeaderPartition, o->partition_text);
  h.emplace_back(protocol::kHeaderOffset, o->offset_text);
  o->record.topic = o->topic;
  o->record.key = req->headers.request_id;
  o->record.value = ok ? std::string_view(body) : std::string_view(o->value);
  return o;
}

// The request as it came (key, value, headers) plus where it came from and
// why it failed, so it can be inspected and replayed.
Outbox::OutgoingPtr Outbox::make_dead_letter(const RequestPtr& req) const {
  auto o = std::make_unique<Outgoing>(unacked_);
  o->req = req;
  o->topic = dlq_topic_.c_str();
  auto& h = o->record.headers;
  // The request's key and headers are views into its Kafka message, which
  // the request (held by this record) keeps.
  if (const rd_kafka_message_t* m = req->msg.get()) {
    if (m->key) o->record.key = std::string_view(static_cast<const char*>(m->key), m->key_len);
    rd_kafka_headers_t* hdrs = nullptr;
    if (rd_kafka_message_headers(m, &hdrs) == RD_KAFKA_RESP_ERR_NO_ERROR) {
      const char* name;
      const void* value;
      size_t size;
      for (size_t i = 0; rd_kafka_header_get_all(hdrs, i, &name, &value, &size) == RD_KAFKA_RESP_ERR_NO_ERROR; ++i)
        h.emplace_back(name, value ? std::string_view(static_cast<const char*>(value), size) : std::string_view());
    }
  }
  o->partition_text = std::to_string(req->partition);
  o->offset_text = std::to_string(req->offset);
  o->attempts_text = std::to_string(req->attempts);
  h.emplace_back(protocol::kHeaderDlqTopic, id_.request_topic);
  h.emplace_back(protocol::kHeaderDlqPartition, o->partition_text);
  h.emplace_back(protocol::kHeaderDlqOffset, o->offset_text);
  h.emplace_back(protocol::kHeaderDlqErrorClass,
                 req->error_class.empty() ? code_name(req->code) : std::string_view(req->error_class));
  h.emplace_back(protocol::kHeaderDlqErrorMessage, req->body);
  h.emplace_back(protocol::kHeaderDlqAttempts, o->attempts_text);
  h.emplace_back(protocol::kHeaderDlqWorker, id_.worker_id);
  o->record.topic = o->topic;
  o->record.value = req->payload;
  return o;
}

}  // namespace memrun::internal
