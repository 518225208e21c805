#include "kafka/kafka.hpp"

#include <spdlog/spdlog.h>

#include <chrono>
#include <cstring>

namespace memrun::kafka {

std::map<std::string, std::string> producer_defaults() {
  return {
      // A reply or request should leave at once when idle; under load batches
      // still form from whatever queued while a produce request was in flight.
      {"linger.ms", "0"},
      {"partitioner", "murmur2_random"},  // Kafka's Java default for keyed records
      {"enable.idempotence", "false"},
      {"acks", "all"},
      {"message.timeout.ms", "30000"},
  };
}

std::map<std::string, std::string> consumer_defaults() {
  return {
      {"enable.auto.commit", "false"},        // commits follow completed work
      {"enable.auto.offset.store", "false"},
      {"auto.offset.reset", "earliest"},      // a new group starts at the backlog
      {"partition.assignment.strategy", "cooperative-sticky"},
      // fetch.wait.max.ms stays at librdkafka's 500 ms: a real broker answers
      // a fetch as soon as records arrive, and an idle worker then makes two
      // fetches a second per broker (0% CPU measured). The mock cluster holds
      // every fetch the full time: EmbeddedKafka::client_properties().
  };
}

namespace {

// librdkafka logs through spdlog, so one sink and one level govern all output.
// Configuration chatter (a consumer property seen by a producer, brokers too
// old for a request) is debug, not a warning an operator must act on.
void on_log(const rd_kafka_t* rk, int level, const char* facility, const char* message) {
  std::string_view fac(facility);
  spdlog::level::level_enum lvl = level <= 3   ? spdlog::level::err
                                  : level == 4 ? spdlog::level::warn
                                  : level <= 6 ? spdlog::level::info
                                               : spdlog::level::debug;
  if (fac == "CONFWARN" || fac == "AUTOCREATE") lvl = spdlog::level::debug;
  spdlog::log(lvl, "librdkafka {} {}: {}", rd_kafka_name(rk), facility, message);
}

}  // namespace

Conf make_conf(const KafkaOptions& options, const std::map<std::string, std::string>& defaults) {
  Conf conf(rd_kafka_conf_new());
  rd_kafka_conf_set_log_cb(conf.get(), on_log);
  char err[512];
  auto set = [&](const std::string& k, const std::string& v) {
    if (rd_kafka_conf_set(conf.get(), k.c_str(), v.c_str(), err, sizeof err) != RD_KAFKA_CONF_OK)
      throw Error(Code::kInvalidArgument, "Kafka property " + k + ": " + err);
  };
  for (const auto& [k, v] : defaults) set(k, v);
  for (const auto& [k, v] : options.properties) set(k, v);
  if (!options.bootstrap_servers.empty()) set("bootstrap.servers", options.bootstrap_servers);
  return conf;
}

Handle make_handle(rd_kafka_type_t type, Conf conf) {
  char err[512];
  rd_kafka_t* rk = rd_kafka_new(type, conf.get(), err, sizeof err);
  if (rk == nullptr) throw Error(Code::kUnavailable, std::string("cannot create Kafka client: ") + err);
  conf.release();  // owned by rk now
  return Handle(rk);
}

std::optional<std::string> header(const rd_kafka_message_t* msg, std::string_view name) {
  rd_kafka_headers_t* hdrs = nullptr;
  if (rd_kafka_message_headers(msg, &hdrs) != RD_KAFKA_RESP_ERR_NO_ERROR) return std::nullopt;
  const void* value = nullptr;
  size_t size = 0;
  std::string n(name);
  if (rd_kafka_header_get_last(hdrs, n.c_str(), &value, &size) != RD_KAFKA_RESP_ERR_NO_ERROR)
    return std::nullopt;
  return value ? std::string(static_cast<const char*>(value), size) : std::string();
}

Error error_from(rd_kafka_resp_err_t err, const std::string& what) {
  return Error(Code::kUnavailable, what + ": " + rd_kafka_err2str(err));
}

int64_t high_watermark(rd_kafka_t* rk, const std::string& topic, int32_t partition, int timeout_ms) {
  int64_t low = 0, high = 0;
  auto err = rd_kafka_query_watermark_offsets(rk, topic.c_str(), partition, &low, &high, timeout_ms);
  if (err) throw error_from(err, "watermarks of " + topic + "[" + std::to_string(partition) + "]");
  return high;
}

std::optional<int> partition_count(rd_kafka_t* rk, const std::string& topic, int timeout_ms) {
  rd_kafka_topic_t* t = rd_kafka_topic_new(rk, topic.c_str(), nullptr);
  const rd_kafka_metadata_t* md = nullptr;
  auto err = rd_kafka_metadata(rk, 0, t, &md, timeout_ms);
  rd_kafka_topic_destroy(t);
  if (err) throw error_from(err, "metadata of " + topic);
  std::optional<int> count;
  if (md->topic_cnt == 1 && md->topics[0].err == RD_KAFKA_RESP_ERR_NO_ERROR)
    count = md->topics[0].partition_cnt;
  rd_kafka_metadata_destroy(md);
  return count;
}

int64_t now_unix_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

}  // namespace memrun::kafka
