#include "runtime/fleet_journal.hpp"

#include <memrun/protocol.hpp>
#include <memrun/worker.hpp>

#include "core/decimal.hpp"

#include <fmt/core.h>
#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>

#include <unistd.h>

#include <algorithm>

namespace memrun::internal {
namespace {

using Clock = std::chrono::steady_clock;
constexpr int kPartition = 0;  // the topic has one
constexpr std::chrono::milliseconds kReaderFetchWait{100};  // the reader's shortest fetch wait

int ms_until(Clock::time_point deadline) {
  const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count();
  return static_cast<int>(std::clamp<int64_t>(left, 1, 60000));
}

std::string hostname() {
  char host[256] = "";
  ::gethostname(host, sizeof host - 1);
  return host;
}

}  // namespace

std::string FleetJournal::record_key(const CrashJournal::Request& r, const std::string& incarnation) {
  const auto k = CrashJournal::key(r);
  return fmt::format("{}:{}:{}:{}", std::get<0>(k), std::get<1>(k), std::get<2>(k), incarnation);
}

std::string FleetJournal::record_value(const CrashJournal::Request& r, const std::string& incarnation) {
  const auto k = CrashJournal::key(r);
  return nlohmann::json{{"partition", std::get<0>(k)},
                        {"offset", std::get<1>(k)},
                        {"request_id", std::get<2>(k)},
                        {"incarnation", incarnation},
                        {"host", hostname()},
                        {"time_ms", kafka::now_unix_ms()}}
      .dump();
}

FleetJournal::FleetJournal(const KafkaOptions& kafka, const std::string& service, Counters& counters,
                           Publish publish)
    : topic_(protocol::suspects_topic(service)), counters_(counters), publish_(std::move(publish)) {
  // A group id only because librdkafka's assign() wants one: it is never
  // joined and nothing is committed. The fetch wait stays librdkafka's 500 ms
  // by default, and at least kReaderFetchWait when the worker's own is set
  // shorter for request latency: the reader idles on a topic that changes
  // only when a process dies. (At 10 ms, its idle fetches on the mock
  // cluster cost the worker about 1 us of CPU per request in
  // bench/run_request_path.sh.) Not longer than that: on the mock cluster a
  // death published during a held fetch waits for its end, and catch_up()
  // waits for that, inside a rebalance.
  KafkaOptions reader = kafka;
  if (auto it = reader.properties.find("fetch.wait.max.ms"); it != reader.properties.end()) {
    if (const auto wait_ms = parse_int(it->second); wait_ms && *wait_ms < kReaderFetchWait.count())
      it->second = std::to_string(kReaderFetchWait.count());
  }
  consumer_ = kafka::make_handle(RD_KAFKA_CONSUMER, kafka::make_conf(reader, {{"group.id", topic_ + ".reader"},
                                                                             {"enable.auto.commit", "false"},
                                                                             {"auto.offset.reset", "earliest"},
                                                                             {"enable.partition.eof", "true"}}));
  rd_kafka_poll_set_consumer(consumer_.get());
  const auto topics = kafka::list_topics(consumer_.get(), 10000);
  if (!topics.count(topic_))
    throw Error(Code::kUnavailable,
                fmt::format("topic {} is missing (memrun-host, `memrun deploy -b` and ensure_service_topics make it)",
                            topic_));
  kafka::PartitionList list(rd_kafka_topic_partition_list_new(1));
  rd_kafka_topic_partition_list_add(list.get(), topic_.c_str(), kPartition)->offset = RD_KAFKA_OFFSET_BEGINNING;
  if (auto err = rd_kafka_assign(consumer_.get(), list.get())) throw kafka::error_from(err, "assign " + topic_);
}

bool FleetJournal::catch_up(Clock::time_point deadline) {
  int64_t low = 0, high = 0;
  if (auto err = rd_kafka_query_watermark_offsets(consumer_.get(), topic_.c_str(), kPartition, &low, &high,
                                                  ms_until(deadline))) {
    spdlog::warn("{}: cannot read its end ({}); deaths on other workers published since the last read are not "
                 "counted yet",
                 topic_, rd_kafka_err2str(err));
    return false;
  }
  // Compaction leaves gaps; the end-of-partition event says where the end
  // was when no record is left to read.
  while (next_ < high) {
    if (Clock::now() >= deadline) return false;
    kafka::Message m(rd_kafka_consumer_poll(consumer_.get(), std::min(ms_until(deadline), 100)));
    if (m) apply(*m);
  }
  return true;
}

void FleetJournal::poll() {
  while (kafka::Message m{rd_kafka_consumer_poll(consumer_.get(), 0)}) apply(*m);
}

void FleetJournal::apply(const rd_kafka_message_t& m) {
  if (m.err == RD_KAFKA_RESP_ERR__PARTITION_EOF) {
    next_ = std::max(next_, m.offset);  // the offset the next record will have
    return;
  }
  if (m.err) {
    spdlog::warn("{}: {}", topic_, rd_kafka_message_errstr(&m));
    return;
  }
  next_ = std::max(next_, m.offset + 1);
  const std::string key(static_cast<const char*>(m.key), m.key_len);
  std::lock_guard lock(mu_);
  if (m.payload == nullptr) {  // a tombstone: that request is done with
    auto it = records_.find(key);
    if (it == records_.end()) return;
    auto dead = dead_.find(it->second);
    if (dead != dead_.end() && (dead->second.erase(key), dead->second.empty())) dead_.erase(dead);
    records_.erase(it);
    any_ = !dead_.empty();
    return;
  }
  const auto value = nlohmann::json::parse(static_cast<const char*>(m.payload),
                                           static_cast<const char*>(m.payload) + m.len, nullptr, false);
  CrashJournal::Key k;
  try {
    k = CrashJournal::key({value.at("partition").get<int32_t>(), value.at("offset").get<int64_t>(),
                           value.at("request_id").get<std::string>()});
  } catch (const nlohmann::json::exception&) {
    if (unreadable_++ == 0)
      spdlog::warn("{}: skipping unreadable record at offset {} (and any more)", topic_, m.offset);
    return;
  }
  if (!records_.emplace(key, k).second) return;  // the same death, published again
  auto& dead = dead_[k];
  dead.insert(key);
  any_ = true;
  counters_.add(&WorkerCounters::fleet_deaths);
  spdlog::warn("request {} at partition {} offset {} was running when a worker process died ({} death(s) "
               "across the fleet, from {})",
               std::get<2>(k), std::get<0>(k), std::get<1>(k), dead.size(), topic_);
}

int FleetJournal::deaths(const CrashJournal::Request& r) const {
  if (!any_.load(std::memory_order_acquire)) return 0;  // before making the key, which allocates
  return deaths_of(CrashJournal::key(r));
}

int FleetJournal::deaths_of(const CrashJournal::Key& k) const {
  if (!any_.load(std::memory_order_acquire)) return 0;
  std::lock_guard lock(mu_);
  auto it = dead_.find(k);
  return it == dead_.end() ? 0 : static_cast<int>(it->second.size());
}

void FleetJournal::finished(const CrashJournal::Request& r) {
  std::set<std::string> keys;
  {
    std::lock_guard lock(mu_);
    auto it = dead_.find(CrashJournal::key(r));
    if (it == dead_.end()) return;
    keys = std::move(it->second);
    dead_.erase(it);
    for (const auto& key : keys) records_.erase(key);
    any_ = !dead_.empty();
  }
  for (const auto& key : keys) publish_(key, std::string_view{});
}

}  // namespace memrun::internal

namespace memrun {
namespace {

// Counts the records Kafka refused (the delivery report's opaque).
void count_refused(rd_kafka_t*, const rd_kafka_message_t* m, void* opaque) {
  if (m->err) ++*static_cast<size_t*>(opaque);
}

}  // namespace

size_t publish_worker_deaths(const KafkaOptions& kafka, const std::string& service, const std::string& state_dir,
                             std::chrono::milliseconds timeout) {
  using internal::CrashJournal;
  using internal::FleetJournal;
  const std::string topic = protocol::suspects_topic(service);
  const int wait_ms = static_cast<int>(std::max<int64_t>(1, timeout.count()));
  size_t refused = 0;
  kafka::Handle producer;  // made only when a slot records a death
  return CrashJournal::publish_dead_slots(state_dir, [&](const CrashJournal::Death& death) {
    if (!producer) {
      auto conf = kafka::make_conf(kafka, kafka::producer_defaults());
      rd_kafka_conf_set_opaque(conf.get(), &refused);
      rd_kafka_conf_set_dr_msg_cb(conf.get(), &count_refused);
      producer = kafka::make_handle(RD_KAFKA_PRODUCER, std::move(conf));
      // Producing to a missing topic would wait for message.timeout.ms, or
      // have a broker auto-create it uncompacted.
      if (!kafka::list_topics(producer.get(), wait_ms).count(topic))
        throw Error(Code::kUnavailable, "topic " + topic + " is missing");
    }
    for (const auto& r : death.requests) {
      const std::string key = FleetJournal::record_key(r, death.incarnation);
      const std::string value = FleetJournal::record_value(r, death.incarnation);
      kafka::Record record;
      record.topic = topic.c_str();
      record.key = key;
      record.value = value;
      if (auto err = kafka::produce(producer.get(), record, timeout)) throw kafka::error_from(err, "produce to " + topic);
    }
    if (rd_kafka_flush(producer.get(), wait_ms) != RD_KAFKA_RESP_ERR_NO_ERROR || refused > 0)
      throw Error(Code::kUnavailable, fmt::format("{}: {} record(s) not acknowledged within {} ms", topic,
                                                  refused + static_cast<size_t>(rd_kafka_outq_len(producer.get())),
                                                  timeout.count()));
    return true;
  });
}

}  // namespace memrun
