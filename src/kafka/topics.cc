// ensure_service_topics: list what exists, check the request topic's partition
// count, create what is missing with one CreateTopics call. Runs on the
// caller's thread with a private admin handle of its own.
#include <memrun/protocol.hpp>
#include <memrun/status.hpp>
#include <memrun/topics.hpp>

#include "kafka/kafka.hpp"

#include <fmt/core.h>

#include <memory>
#include <thread>

namespace memrun {
namespace {

struct Wanted {
  std::string name;
  int partitions = 1;
  std::map<std::string, std::string> configs;
};

int ms(std::chrono::milliseconds d) { return static_cast<int>(d.count()); }

std::map<std::string, int> list_topics(rd_kafka_t* rk, const KafkaOptions& kafka, std::chrono::milliseconds timeout) {
  try {
    return kafka::list_topics(rk, ms(timeout));
  } catch (const Error& e) {
    throw Error(Code::kUnavailable, fmt::format("cannot reach Kafka at {} within {} ms: {}", kafka.bootstrap_servers,
                                                timeout.count(), e.what()));
  }
}

void create(rd_kafka_t* rk, const std::vector<Wanted>& missing, const TopicOptions& options) {
  char err[512];
  std::vector<kafka::NewTopic> owned;
  std::vector<rd_kafka_NewTopic_t*> topics;
  for (const auto& w : missing) {
    rd_kafka_NewTopic_t* t = rd_kafka_NewTopic_new(w.name.c_str(), w.partitions, options.replication_factor, err,
                                                   sizeof err);
    if (t == nullptr) throw Error(Code::kInvalidArgument, fmt::format("topic {}: {}", w.name, err));
    owned.emplace_back(t);
    topics.push_back(t);
    auto configs = options.configs;
    for (const auto& [k, v] : w.configs) configs.insert_or_assign(k, v);
    for (const auto& [k, v] : configs)
      if (rd_kafka_NewTopic_set_config(t, k.c_str(), v.c_str()))
        throw Error(Code::kInvalidArgument, fmt::format("topic {}: bad config {}={}", w.name, k, v));
  }
  kafka::AdminOptions admin(rd_kafka_AdminOptions_new(rk, RD_KAFKA_ADMIN_OP_CREATETOPICS));
  rd_kafka_AdminOptions_set_request_timeout(admin.get(), ms(options.timeout), err, sizeof err);
  rd_kafka_AdminOptions_set_operation_timeout(admin.get(), ms(options.timeout), err, sizeof err);
  kafka::Queue queue(rd_kafka_queue_new(rk));
  rd_kafka_CreateTopics(rk, topics.data(), topics.size(), admin.get(), queue.get());
  // The request's own timeout ends it; the poll bound is only a backstop.
  kafka::Event ev(rd_kafka_queue_poll(queue.get(), ms(options.timeout * 2 + std::chrono::seconds(5))));
  const std::string names = [&] {
    std::string s;
    for (const auto& w : missing) s += (s.empty() ? "" : ", ") + w.name;
    return s;
  }();
  if (!ev)
    throw Error(Code::kUnavailable, fmt::format("creating topics {}: no answer from Kafka", names));
  if (rd_kafka_event_error(ev.get()))
    throw Error(Code::kUnavailable,
                fmt::format("creating topics {}: {} (a cluster that answers no Admin request, such as librdkafka's "
                            "mock, needs its topics made beforehand)",
                            names, rd_kafka_event_error_string(ev.get())));
  size_t n = 0;
  const rd_kafka_topic_result_t** results =
      rd_kafka_CreateTopics_result_topics(rd_kafka_event_CreateTopics_result(ev.get()), &n);
  for (size_t i = 0; i < n; ++i) {
    const auto e = rd_kafka_topic_result_error(results[i]);
    // Another worker made it first: its partition count is checked below.
    if (e == RD_KAFKA_RESP_ERR_NO_ERROR || e == RD_KAFKA_RESP_ERR_TOPIC_ALREADY_EXISTS) continue;
    const char* why = rd_kafka_topic_result_error_string(results[i]);
    throw Error(Code::kUnavailable, fmt::format("Kafka refused to create topic {}: {}", rd_kafka_topic_result_name(results[i]),
                                                why && *why ? why : rd_kafka_err2str(e)));
  }
}

void check_request_topic(const std::string& topic, int have, int want, const std::string& service) {
  if (have == want) return;
  throw Error(Code::kInvalidArgument,
              fmt::format("topic {} has {} partitions but service '{}' is configured for {}: keys would land on "
                          "other partitions than clients compute. Run with --partitions {} (or set partitions {} in "
                          "the service), or give the service a new name; never change the count of a live service",
                          topic, have, service, want, have, have));
}

}  // namespace

TopicsReport ensure_service_topics(const KafkaOptions& kafka, const std::string& service, int partitions,
                                   const TopicOptions& options) {
  if (partitions < 1) throw Error(Code::kInvalidArgument, "partitions must be at least 1");
  if (options.replication_factor == 0 || options.replication_factor < -1)
    throw Error(Code::kInvalidArgument, "replication factor must be -1 (the broker's default) or at least 1");
  if (options.timeout.count() <= 0) throw Error(Code::kInvalidArgument, "topic timeout must be positive");
  const std::vector<Wanted> wanted = {
      {protocol::request_topic(service), partitions, {}},
      {protocol::dlq_topic(service), partitions, {}},
      {protocol::suspects_topic(service), 1, {{"cleanup.policy", "compact"}}},
      {std::string(protocol::kReplyTopic), protocol::kReplyPartitions, {}},
      {std::string(protocol::kHeartbeatsTopic), 1, {}},
      {std::string(protocol::kServicesTopic), 1, {{"cleanup.policy", "compact"}}},
  };
  // A producer handle: the Admin API needs one of any kind, and it joins no group.
  kafka::Handle rk = kafka::make_handle(RD_KAFKA_PRODUCER, kafka::make_conf(kafka, {}));
  auto have = list_topics(rk.get(), kafka, options.timeout);
  TopicsReport report;
  std::vector<Wanted> missing;
  for (const auto& w : wanted) {
    if (have.count(w.name)) report.existing.push_back(w.name);
    else missing.push_back(w);
  }
  // Before creating anything: a mismatch is refused with nothing changed.
  const std::string& request = wanted.front().name;
  if (have.count(request)) check_request_topic(request, have[request], partitions, service);
  if (missing.empty()) return report;
  create(rk.get(), missing, options);
  // A new topic reaches every broker's metadata a moment after CreateTopics
  // returns.
  const auto deadline = std::chrono::steady_clock::now() + options.timeout;
  auto all_listed = [&] {
    for (const auto& w : missing)
      if (!have.count(w.name)) return false;
    return true;
  };
  while (have = list_topics(rk.get(), kafka, options.timeout), !all_listed()) {
    if (std::chrono::steady_clock::now() >= deadline)
      throw Error(Code::kUnavailable, "topics were created but are not listed within the timeout");
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
  for (const auto& w : missing) report.created.push_back(w.name);
  check_request_topic(request, have[request], partitions, service);
  return report;
}

}  // namespace memrun
