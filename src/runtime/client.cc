#include <memrun/client.hpp>
#include <memrun/protocol.hpp>
#include <memrun/routing.hpp>

#include "core/thread_name.hpp"
#include "kafka/kafka.hpp"
#include "runtime/wire.hpp"

#include <nlohmann/json.hpp>

#include <atomic>
#include <map>
#include <mutex>
#include <random>
#include <thread>
#include <unordered_map>
#include <vector>

namespace memrun {
namespace {

using Clock = std::chrono::steady_clock;
constexpr int kMetadataTimeoutMs = 10000;

}  // namespace

struct Client::Impl {
  // Request ids by deadline: expiring looks only at what is due, so the
  // reader's work per reply stays O(log n) however many requests wait (a
  // scan of every pending request per loop made a 20 000-request burst
  // quadratic, and a reader that falls behind its reply partition loses
  // replies to retention).
  using Deadlines = std::multimap<Clock::time_point, std::string>;
  struct Pending {
    std::promise<Response> promise;
    Clock::time_point sent;
    Deadlines::iterator due;
    std::string key;
  };

  ClientOptions opts;
  kafka::Handle producer;
  kafka::Handle consumer;
  int32_t reply_partition = -1;
  std::vector<std::string> reply_to;    // the reply partitions, as header values
  std::atomic<uint64_t> next_reply{0};  // which one the next request names
  std::thread reader;
  std::atomic<bool> stopping{false};

  std::mutex mu;
  std::unordered_map<std::string, Pending> pending;          // GUARDED_BY(mu)
  Deadlines deadlines;                                       // GUARDED_BY(mu): one per pending
  std::unordered_map<std::string, std::string> sticky_keys;  // GUARDED_BY(mu)

  explicit Impl(ClientOptions o) : opts(std::move(o)) {
    auto pconf = kafka::make_conf(opts.kafka, kafka::producer_defaults());
    rd_kafka_conf_set_opaque(pconf.get(), this);
    rd_kafka_conf_set_dr_msg_cb(pconf.get(), &Impl::on_delivery);
    producer = kafka::make_handle(RD_KAFKA_PRODUCER, std::move(pconf));

    // No group: the client reads its reply partitions by manual assignment,
    // from their end, and keeps only replies to its own request ids.
    auto cdefaults = kafka::consumer_defaults();
    cdefaults.erase("partition.assignment.strategy");
    // librdkafka wants a group for assign(); it is never joined or committed.
    cdefaults["group.id"] = "memrun-client-" + internal::new_request_id();
    auto cconf = kafka::make_conf(opts.kafka, cdefaults);
    consumer = kafka::make_handle(RD_KAFKA_CONSUMER, std::move(cconf));
    rd_kafka_poll_set_consumer(consumer.get());

    const std::string reply_topic(protocol::kReplyTopic);
    auto partitions = kafka::partition_count(consumer.get(), reply_topic, kMetadataTimeoutMs);
    if (!partitions || *partitions < 1)
      throw Error(Code::kNotFound, "reply topic " + reply_topic + " does not exist on " +
                                       opts.kafka.bootstrap_servers +
                                       " (memrun-host creates it with --embedded-kafka; "
                                       "create it on a real cluster)");
    reply_partition = opts.reply_partition;
    if (reply_partition < 0) {
      std::random_device rd;
      reply_partition = static_cast<int32_t>(rd() % static_cast<unsigned>(*partitions));
    } else if (reply_partition >= *partitions) {
      throw Error(Code::kInvalidArgument, "reply partition " + std::to_string(reply_partition) +
                                              " does not exist (" + std::to_string(*partitions) + ")");
    }
    if (opts.reply_partitions < 1 || opts.reply_partitions > *partitions)
      throw Error(Code::kInvalidArgument, "reply_partitions " + std::to_string(opts.reply_partitions) +
                                              " is not between 1 and " + reply_topic + "'s " +
                                              std::to_string(*partitions) + " partitions");
    // Start at the current ends, resolved now: a reply produced after this
    // point is never missed, whatever the consumer's fetch timing.
    kafka::PartitionList list(rd_kafka_topic_partition_list_new(opts.reply_partitions));
    for (int i = 0; i < opts.reply_partitions; ++i) {
      const int32_t p = (reply_partition + i) % *partitions;
      const int64_t start = kafka::high_watermark(consumer.get(), reply_topic, p, kMetadataTimeoutMs);
      rd_kafka_topic_partition_list_add(list.get(), reply_topic.c_str(), p)->offset = start;
      reply_to.push_back(std::to_string(p));
    }
    if (auto err = rd_kafka_assign(consumer.get(), list.get()))
      throw kafka::error_from(err, "assign " + reply_topic);
    reader = std::thread([this] {
      internal::name_this_thread("memrun-replies");
      read_loop();
    });
  }

  ~Impl() {
    stopping = true;
    if (reader.joinable()) reader.join();
    rd_kafka_flush(producer.get(), 2000);
    std::lock_guard lock(mu);
    for (auto& [id, p] : pending) {
      Response r;
      r.request_id = id;
      r.code = Code::kCancelled;
      r.error = "client closed before the reply arrived";
      p.promise.set_value(std::move(r));
    }
    pending.clear();
    deadlines.clear();
  }

  // Takes every reply that has arrived (up to a bound, so expiry and delivery
  // reports are never starved) before it looks at deadlines again.
  void read_loop() {
    constexpr int kRepliesPerRound = 1024;
    while (!stopping.load()) {
      rd_kafka_poll(producer.get(), 0);  // delivery reports
      int timeout_ms = 20;
      for (int n = 0; n < kRepliesPerRound; ++n, timeout_ms = 0) {
        rd_kafka_message_t* raw = rd_kafka_consumer_poll(consumer.get(), timeout_ms);
        if (raw == nullptr) break;
        kafka::Message m(raw);
        if (!m->err) on_reply(m.get());
      }
      expire();
    }
  }

  void on_reply(const rd_kafka_message_t* m) {
    auto id = kafka::header(m, protocol::kHeaderRequestId);
    if (!id) return;
    std::unique_lock lock(mu);
    auto it = pending.find(*id);
    if (it == pending.end()) return;  // another client's reply, or a duplicate
    Pending p = std::move(it->second);
    deadlines.erase(p.due);
    pending.erase(it);
    lock.unlock();

    Response r;
    r.request_id = *id;
    r.key = std::move(p.key);
    r.latency = std::chrono::duration_cast<std::chrono::microseconds>(Clock::now() - p.sent);
    r.worker_id = kafka::header(m, protocol::kHeaderWorker).value_or("");
    r.partition = static_cast<int32_t>(internal::header_int(m, protocol::kHeaderPartition).value_or(-1));
    r.offset = internal::header_int(m, protocol::kHeaderOffset).value_or(-1);
    std::string_view body(static_cast<const char*>(m->payload), m->len);
    if (kafka::header(m, protocol::kHeaderStatus).value_or("ok") == "ok") {
      r.code = Code::kOk;
      r.body.assign(body);
    } else {
      auto code = code_from_name(kafka::header(m, protocol::kHeaderErrorCode).value_or("internal"));
      // An error reply naming "ok" as its code is still an error.
      r.code = code && *code != Code::kOk ? *code : Code::kInternal;
      r.error = internal::error_message_of(body);
      r.body.assign(body);
    }
    p.promise.set_value(std::move(r));
  }

  void expire() {
    auto now = Clock::now();
    std::lock_guard lock(mu);
    while (!deadlines.empty() && deadlines.begin()->first <= now) {
      auto it = pending.find(deadlines.begin()->second);
      deadlines.erase(deadlines.begin());
      if (it == pending.end()) continue;
      Response r;
      r.request_id = it->first;
      r.key = it->second.key;
      r.code = Code::kDeadlineExceeded;
      r.error = "no reply within the request's timeout";
      r.latency = std::chrono::duration_cast<std::chrono::microseconds>(now - it->second.sent);
      it->second.promise.set_value(std::move(r));
      pending.erase(it);
    }
  }

  void fail(const std::string& id, Code code, const std::string& message) {
    std::lock_guard lock(mu);
    auto it = pending.find(id);
    if (it == pending.end()) return;
    Response r;
    r.request_id = id;
    r.key = it->second.key;
    r.code = code;
    r.error = message;
    it->second.promise.set_value(std::move(r));
    deadlines.erase(it->second.due);
    pending.erase(it);
  }

  static void on_delivery(rd_kafka_t*, const rd_kafka_message_t* m, void* opaque) {
    std::unique_ptr<std::string> id(static_cast<std::string*>(m->_private));
    if (!id || m->err == RD_KAFKA_RESP_ERR_NO_ERROR) return;
    static_cast<Impl*>(opaque)->fail(*id, Code::kUnavailable,
                                     std::string("request not delivered to Kafka: ") + rd_kafka_err2str(m->err));
  }

  std::string lookup_sticky_key(const std::string& service) {
    // The registry is small: read it whole from the beginning to its end.
    const std::string topic(protocol::kServicesTopic);
    auto conf = kafka::make_conf(opts.kafka, kafka::reader_defaults("memrun-registry-" + internal::new_request_id()));
    auto reader = kafka::make_handle(RD_KAFKA_CONSUMER, std::move(conf));
    rd_kafka_poll_set_consumer(reader.get());
    auto partitions = kafka::partition_count(reader.get(), topic, kMetadataTimeoutMs);
    if (!partitions) throw Error(Code::kNotFound, "service registry " + topic + " does not exist");
    std::vector<kafka::OffsetRange> ranges;
    for (int32_t p = 0; p < *partitions; ++p) {
      auto [low, high] = kafka::watermarks(reader.get(), topic, p, kMetadataTimeoutMs);
      ranges.push_back({p, low, high});
    }
    std::optional<std::string> found;
    kafka::read_ranges(reader.get(), topic, ranges, Clock::now() + std::chrono::milliseconds(kMetadataTimeoutMs),
                       [&](const rd_kafka_message_t& m) {
                         std::string_view key(static_cast<const char*>(m.key), m.key_len);
                         if (key != service) return;
                         auto fields = nlohmann::json::parse(
                             std::string_view(static_cast<const char*>(m.payload), m.len), nullptr, false);
                         if (fields.is_object() && fields.contains("sticky_key") && fields["sticky_key"].is_string())
                           found = fields["sticky_key"].get<std::string>();
                       });
    rd_kafka_consumer_close(reader.get());
    if (!found)
      throw Error(Code::kNotFound, "service '" + service + "' is not registered in " + topic +
                                       " (no worker of it has started); give its sticky key explicitly");
    return *found;
  }
};

Client::Client(ClientOptions options) : impl_(std::make_unique<Impl>(std::move(options))) {}
Client::~Client() = default;

int32_t Client::reply_partition() const noexcept { return impl_->reply_partition; }
int Client::reply_partitions() const noexcept { return static_cast<int>(impl_->reply_to.size()); }

void Client::set_sticky_key(const std::string& service, const std::string& sticky_key) {
  StickyKey check(sticky_key);  // throws on a malformed spec
  std::lock_guard lock(impl_->mu);
  impl_->sticky_keys[service] = sticky_key;
}

std::string Client::sticky_key_of(const std::string& service) {
  {
    std::lock_guard lock(impl_->mu);
    auto it = impl_->sticky_keys.find(service);
    if (it != impl_->sticky_keys.end()) return it->second;
  }
  std::string spec = impl_->lookup_sticky_key(service);
  std::lock_guard lock(impl_->mu);
  return impl_->sticky_keys.emplace(service, spec).first->second;
}

std::future<Response> Client::submit(const std::string& service, const nlohmann::json& payload,
                                     std::optional<std::chrono::milliseconds> timeout) {
  if (!protocol::valid_service_name(service))
    throw Error(Code::kInvalidArgument, "invalid service name '" + service + "'");
  const std::string key = StickyKey(sticky_key_of(service)).extract(payload);
  const std::string body = payload.dump();
  const std::string id = internal::new_request_id();
  const auto wait = timeout.value_or(impl_->opts.timeout);
  const std::string deadline = std::to_string(kafka::now_unix_ms() + wait.count());
  const std::string& reply_partition = impl_->reply_to[impl_->next_reply++ % impl_->reply_to.size()];
  const std::string topic = protocol::request_topic(service);

  std::future<Response> future;
  {
    std::lock_guard lock(impl_->mu);
    auto& p = impl_->pending[id];
    p.sent = Clock::now();
    p.due = impl_->deadlines.emplace(p.sent + wait, id);
    p.key = key;
    future = p.promise.get_future();
  }
  kafka::Record record{.topic = topic.c_str(),
                       .key = key,
                       .value = body,
                       .headers = {{protocol::kHeaderRequestId, id},
                                   {protocol::kHeaderReplyTo, protocol::kReplyTopic},
                                   {protocol::kHeaderReplyPartition, reply_partition},
                                   {protocol::kHeaderDeadline, deadline}}};
  auto opaque = std::make_unique<std::string>(id);  // the delivery report's, once produced
  record.opaque = opaque.get();
  // Waiting for room is bounded by the request's own timeout: past it the
  // caller gets its answer (unavailable) instead of a blocked submit().
  // Partition left unassigned: the murmur2_random partitioner picks it from
  // the key, exactly as a Java producer would.
  if (auto err = kafka::produce(impl_->producer.get(), record, wait)) {
    impl_->fail(id, Code::kUnavailable, std::string("cannot produce to ") + topic + ": " + rd_kafka_err2str(err));
    return future;
  }
  (void)opaque.release();  // owned by the delivery report now
  return future;
}

}  // namespace memrun
