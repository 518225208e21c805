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
  // spdlog's registry is made on first use. Made here, on the thread that
  // will start librdkafka's threads, it exists before any of them logs; made
  // by a log line of rd_kafka_new() while they already run, its publication
  // is ordered only by the function-static guard inside libspdlog, which
  // ThreadSanitizer cannot see (a data race on the logger's level in
  // Client.RefusesPayloadWithoutStickyFieldNamingIt under scripts/sanitize tsan all).
  (void)spdlog::default_logger_raw();
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

std::optional<std::string_view> header_view(const rd_kafka_message_t* msg, std::string_view name) {
  rd_kafka_headers_t* hdrs = nullptr;
  if (rd_kafka_message_headers(msg, &hdrs) != RD_KAFKA_RESP_ERR_NO_ERROR) return std::nullopt;
  const void* value = nullptr;
  size_t size = 0;
  // librdkafka wants a C string; header names are short, so one on the stack.
  char small[64];
  std::string large;
  const char* n = small;
  if (name.size() < sizeof small) {
    std::memcpy(small, name.data(), name.size());
    small[name.size()] = '\0';
  } else {
    large.assign(name);
    n = large.c_str();
  }
  if (rd_kafka_header_get_last(hdrs, n, &value, &size) != RD_KAFKA_RESP_ERR_NO_ERROR) return std::nullopt;
  return value ? std::string_view(static_cast<const char*>(value), size) : std::string_view();
}

void drop_parsed_headers(rd_kafka_message_t* msg) {
  rd_kafka_headers_t* hdrs = nullptr;
  if (rd_kafka_message_detach_headers(msg, &hdrs) == RD_KAFKA_RESP_ERR_NO_ERROR && hdrs != nullptr)
    rd_kafka_headers_destroy(hdrs);
}

std::optional<std::string> header(const rd_kafka_message_t* msg, std::string_view name) {
  auto v = header_view(msg, name);
  return v ? std::optional<std::string>(std::in_place, *v) : std::nullopt;
}

Error error_from(rd_kafka_resp_err_t err, const std::string& what) {
  return Error(Code::kUnavailable, what + ": " + rd_kafka_err2str(err));
}

std::pair<int64_t, int64_t> watermarks(rd_kafka_t* rk, const std::string& topic, int32_t partition, int timeout_ms) {
  int64_t low = 0, high = 0;
  auto err = rd_kafka_query_watermark_offsets(rk, topic.c_str(), partition, &low, &high, timeout_ms);
  if (err) throw error_from(err, "watermarks of " + topic + "[" + std::to_string(partition) + "]");
  return {low, high};
}

int64_t high_watermark(rd_kafka_t* rk, const std::string& topic, int32_t partition, int timeout_ms) {
  return watermarks(rk, topic, partition, timeout_ms).second;
}

std::map<std::string, int> list_topics(rd_kafka_t* rk, int timeout_ms) {
  const rd_kafka_metadata_t* raw = nullptr;
  if (auto err = rd_kafka_metadata(rk, 1, nullptr, &raw, timeout_ms))
    throw Error(Code::kUnavailable, rd_kafka_err2str(err));
  Metadata md(raw);
  std::map<std::string, int> out;
  for (int i = 0; i < md->topic_cnt; ++i)
    if (md->topics[i].err == RD_KAFKA_RESP_ERR_NO_ERROR) out[md->topics[i].topic] = md->topics[i].partition_cnt;
  return out;
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

std::map<std::string, std::string> reader_defaults(const std::string& group_id) {
  return {
      {"group.id", group_id},  // librdkafka wants one for assign()
      {"enable.auto.commit", "false"},
      {"auto.offset.reset", "earliest"},  // a start lost to retention moves forward
      // The reader stops at a known offset, so a fetch that waits for more
      // records only delays its last partition.
      {"fetch.wait.max.ms", "10"},
  };
}

bool read_ranges(rd_kafka_t* consumer, const std::string& topic, const std::vector<OffsetRange>& ranges,
                 std::chrono::steady_clock::time_point deadline,
                 const std::function<void(const rd_kafka_message_t&)>& on_record) {
  std::map<int32_t, int64_t> end_of;  // partitions still being read
  PartitionList list(rd_kafka_topic_partition_list_new(static_cast<int>(ranges.size())));
  for (const auto& r : ranges) {
    if (r.start >= r.end) continue;
    rd_kafka_topic_partition_list_add(list.get(), topic.c_str(), r.partition)->offset = r.start;
    end_of[r.partition] = r.end;
  }
  if (end_of.empty()) return true;
  if (auto err = rd_kafka_assign(consumer, list.get())) throw error_from(err, "assign " + topic);
  while (!end_of.empty() && std::chrono::steady_clock::now() < deadline) {
    rd_kafka_message_t* raw = rd_kafka_consumer_poll(consumer, 100);
    if (raw == nullptr) continue;
    Message m(raw);
    if (m->err) continue;
    auto it = end_of.find(m->partition);
    if (it == end_of.end() || m->offset >= it->second) continue;
    on_record(*m);
    // Compaction leaves gaps, but never removes a partition's last record.
    if (m->offset + 1 >= it->second) end_of.erase(it);
  }
  rd_kafka_assign(consumer, nullptr);
  return end_of.empty();
}

rd_kafka_resp_err_t produce_when_room(rd_kafka_t* producer, std::chrono::milliseconds patience,
                                      const std::function<rd_kafka_resp_err_t()>& produce) {
  const auto give_up = std::chrono::steady_clock::now() + patience;
  while (true) {
    const rd_kafka_resp_err_t err = produce();
    if (err != RD_KAFKA_RESP_ERR__QUEUE_FULL || std::chrono::steady_clock::now() >= give_up) return err;
    rd_kafka_poll(producer, 5);
  }
}

rd_kafka_resp_err_t produce(rd_kafka_t* producer, const Record& record, std::chrono::milliseconds patience) {
  return produce_when_room(producer, patience, [&] {
    rd_kafka_headers_t* hdrs = nullptr;
    if (!record.headers.empty()) {
      hdrs = rd_kafka_headers_new(record.headers.size());
      for (const auto& [name, value] : record.headers)
        rd_kafka_header_add(hdrs, name.data(), static_cast<ssize_t>(name.size()), value.data(),
                            static_cast<ssize_t>(value.size()));
    }
    const auto err = rd_kafka_producev(
        producer, RD_KAFKA_V_TOPIC(record.topic), RD_KAFKA_V_PARTITION(record.partition),
        RD_KAFKA_V_KEY(record.key.data(), record.key.size()),
        RD_KAFKA_V_VALUE(const_cast<char*>(record.value.data()), record.value.size()),
        RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_HEADERS(hdrs), RD_KAFKA_V_OPAQUE(record.opaque),
        RD_KAFKA_V_END);
    if (err != RD_KAFKA_RESP_ERR_NO_ERROR && hdrs != nullptr) rd_kafka_headers_destroy(hdrs);  // not taken
    return err;
  });
}

int64_t now_unix_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

}  // namespace memrun::kafka
