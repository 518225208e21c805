#include "support/kafka_probe.hpp"

#include <stdexcept>
#include <string_view>
#include <thread>
#include <vector>

namespace memrun::test {
namespace {

rd_kafka_t* make(rd_kafka_type_t type, const std::vector<std::pair<std::string, std::string>>& props) {
  rd_kafka_conf_t* conf = rd_kafka_conf_new();
  char err[512];
  for (const auto& [k, v] : props)
    if (rd_kafka_conf_set(conf, k.c_str(), v.c_str(), err, sizeof err) != RD_KAFKA_CONF_OK)
      throw std::runtime_error(err);
  rd_kafka_t* rk = rd_kafka_new(type, conf, err, sizeof err);
  if (!rk) throw std::runtime_error(err);
  return rk;
}

std::string header(const rd_kafka_message_t* m, const char* name) {
  rd_kafka_headers_t* h = nullptr;
  const void* v = nullptr;
  size_t n = 0;
  if (rd_kafka_message_headers(m, &h) || rd_kafka_header_get_last(h, name, &v, &n)) return {};
  return std::string(static_cast<const char*>(v), n);
}

void on_delivery(rd_kafka_t*, const rd_kafka_message_t* m, void*) {
  if (m->_private) *static_cast<int32_t*>(m->_private) = m->err ? -2 : m->partition;
}

}  // namespace

KafkaProbe::KafkaProbe(const std::string& bootstrap, int reply_partition)
    : bootstrap_(bootstrap), reply_partition_(reply_partition) {
  rd_kafka_conf_t* conf = rd_kafka_conf_new();
  char err[512];
  rd_kafka_conf_set(conf, "bootstrap.servers", bootstrap.c_str(), err, sizeof err);
  rd_kafka_conf_set(conf, "partitioner", "murmur2_random", err, sizeof err);
  rd_kafka_conf_set(conf, "linger.ms", "0", err, sizeof err);
  rd_kafka_conf_set_dr_msg_cb(conf, on_delivery);
  producer_ = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof err);
  consumer_ = make(RD_KAFKA_CONSUMER, {{"bootstrap.servers", bootstrap},
                                       {"group.id", "memrun-test-probe"},
                                       {"enable.auto.commit", "false"},
                                       {"fetch.wait.max.ms", "10"}});
  rd_kafka_poll_set_consumer(consumer_);
  int64_t low = 0, high = 0;
  if (rd_kafka_query_watermark_offsets(consumer_, "memrun.replies", reply_partition, &low, &high, 10000))
    throw std::runtime_error("no memrun.replies topic");
  auto* list = rd_kafka_topic_partition_list_new(1);
  rd_kafka_topic_partition_list_add(list, "memrun.replies", reply_partition)->offset = high;
  rd_kafka_assign(consumer_, list);
  rd_kafka_topic_partition_list_destroy(list);
}

KafkaProbe::~KafkaProbe() {
  rd_kafka_flush(producer_, 5000);
  rd_kafka_destroy(producer_);
  rd_kafka_consumer_close(consumer_);
  rd_kafka_destroy(consumer_);
}

int32_t KafkaProbe::send(const std::string& topic, const std::string& key, const std::string& value,
                         const std::string& request_id, int64_t deadline_ms) {
  return send_with_deadline(topic, key, value, request_id, deadline_ms ? std::to_string(deadline_ms) : "");
}

int32_t KafkaProbe::send_with_deadline(const std::string& topic, const std::string& key, const std::string& value,
                                       const std::string& request_id, const std::string& deadline) {
  rd_kafka_headers_t* h = rd_kafka_headers_new(4);
  std::string part = std::to_string(reply_partition_);
  rd_kafka_header_add(h, "memrun-request-id", -1, request_id.data(), static_cast<ssize_t>(request_id.size()));
  rd_kafka_header_add(h, "memrun-reply-to", -1, "memrun.replies", -1);
  rd_kafka_header_add(h, "memrun-reply-partition", -1, part.data(), static_cast<ssize_t>(part.size()));
  if (!deadline.empty())
    rd_kafka_header_add(h, "memrun-deadline-ms", -1, deadline.data(), static_cast<ssize_t>(deadline.size()));
  int32_t landed = -1;
  auto err = rd_kafka_producev(producer_, RD_KAFKA_V_TOPIC(topic.c_str()), RD_KAFKA_V_KEY(key.data(), key.size()),
                               RD_KAFKA_V_VALUE(const_cast<char*>(value.data()), value.size()),
                               RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_HEADERS(h),
                               RD_KAFKA_V_OPAQUE(&landed), RD_KAFKA_V_END);
  if (err) throw std::runtime_error(rd_kafka_err2str(err));
  while (landed == -1) rd_kafka_poll(producer_, 50);
  if (landed < 0) throw std::runtime_error("probe record not delivered");
  return landed;
}

void KafkaProbe::send_without_reply(const std::string& topic, const std::string& key, const std::string& value) {
  int32_t landed = -1;
  auto err = rd_kafka_producev(producer_, RD_KAFKA_V_TOPIC(topic.c_str()), RD_KAFKA_V_KEY(key.data(), key.size()),
                               RD_KAFKA_V_VALUE(const_cast<char*>(value.data()), value.size()),
                               RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_OPAQUE(&landed), RD_KAFKA_V_END);
  if (err) throw std::runtime_error(rd_kafka_err2str(err));
  while (landed == -1) rd_kafka_poll(producer_, 50);
  if (landed < 0) throw std::runtime_error("probe record not delivered");
}

std::map<std::string, RawReply> KafkaProbe::collect(const std::set<std::string>& ids,
                                                    std::chrono::milliseconds timeout) {
  std::map<std::string, RawReply> out;
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (out.size() < ids.size() && std::chrono::steady_clock::now() < deadline) {
    rd_kafka_message_t* m = rd_kafka_consumer_poll(consumer_, 100);
    if (!m) continue;
    if (!m->err) {
      std::string id = header(m, "memrun-request-id");
      if (ids.count(id))
        out[id] = {header(m, "memrun-status"), header(m, "memrun-error-code"), header(m, "memrun-worker"),
                   std::string(static_cast<const char*>(m->payload), m->len)};
    }
    rd_kafka_message_destroy(m);
  }
  return out;
}

std::vector<RawRecord> KafkaProbe::read_topic(const std::string& topic, int partitions, size_t min_count,
                                              std::chrono::milliseconds timeout) {
  rd_kafka_t* reader = make(RD_KAFKA_CONSUMER, {{"bootstrap.servers", bootstrap_},
                                                {"group.id", "memrun-test-reader"},
                                                {"enable.auto.commit", "false"},
                                                {"fetch.wait.max.ms", "10"}});
  rd_kafka_poll_set_consumer(reader);
  auto* list = rd_kafka_topic_partition_list_new(partitions);
  for (int p = 0; p < partitions; ++p)
    rd_kafka_topic_partition_list_add(list, topic.c_str(), p)->offset = RD_KAFKA_OFFSET_BEGINNING;
  rd_kafka_assign(reader, list);
  rd_kafka_topic_partition_list_destroy(list);
  std::vector<RawRecord> out;
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (out.size() < min_count && std::chrono::steady_clock::now() < deadline) {
    rd_kafka_message_t* m = rd_kafka_consumer_poll(reader, 100);
    if (!m) continue;
    if (!m->err) {
      RawRecord r;
      r.partition = m->partition;
      r.offset = m->offset;
      if (m->key) r.key.assign(static_cast<const char*>(m->key), m->key_len);
      r.value.assign(static_cast<const char*>(m->payload), m->len);
      rd_kafka_headers_t* h = nullptr;
      if (rd_kafka_message_headers(m, &h) == RD_KAFKA_RESP_ERR_NO_ERROR) {
        const char* name;
        const void* value;
        size_t size;
        for (size_t i = 0; rd_kafka_header_get_all(h, i, &name, &value, &size) == RD_KAFKA_RESP_ERR_NO_ERROR; ++i)
          r.headers[name] = value ? std::string(static_cast<const char*>(value), size) : std::string();
      }
      out.push_back(std::move(r));
    }
    rd_kafka_message_destroy(m);
  }
  rd_kafka_consumer_close(reader);
  rd_kafka_destroy(reader);
  return out;
}

size_t KafkaProbe::count(const std::string& topic, int partitions) {
  size_t n = 0;
  for (int p = 0; p < partitions; ++p) {
    auto [low, high] = watermarks(topic, p);
    n += static_cast<size_t>(high - low);
  }
  return n;
}

std::vector<int64_t> KafkaProbe::committed(const std::string& group, const std::string& topic, int partitions) {
  rd_kafka_t* reader = make(RD_KAFKA_CONSUMER, {{"bootstrap.servers", bootstrap_}, {"group.id", group},
                                                {"enable.auto.commit", "false"}});
  auto* list = rd_kafka_topic_partition_list_new(partitions);
  for (int p = 0; p < partitions; ++p) rd_kafka_topic_partition_list_add(list, topic.c_str(), p);
  std::vector<int64_t> out(static_cast<size_t>(partitions), -1);
  if (rd_kafka_committed(reader, list, 5000) == RD_KAFKA_RESP_ERR_NO_ERROR)
    for (int p = 0; p < partitions; ++p) out[static_cast<size_t>(p)] = list->elems[p].offset;
  rd_kafka_topic_partition_list_destroy(list);
  rd_kafka_destroy(reader);
  return out;
}

std::pair<int64_t, int64_t> KafkaProbe::watermarks(const std::string& topic, int partition) {
  int64_t low = 0, high = 0;
  if (rd_kafka_query_watermark_offsets(consumer_, topic.c_str(), partition, &low, &high, 5000)) return {0, 0};
  return {low, high};
}

int64_t KafkaProbe::lag(const std::string& group, const std::string& topic, int partitions) {
  int64_t total = 0;
  auto offsets = committed(group, topic, partitions);
  for (int p = 0; p < partitions; ++p) {
    auto [low, high] = watermarks(topic, p);
    total += high - (offsets[static_cast<size_t>(p)] < 0 ? low : offsets[static_cast<size_t>(p)]);
  }
  return total;
}

bool KafkaProbe::wait_committed(const std::string& group, const std::string& topic, int partitions,
                                std::chrono::milliseconds timeout) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    auto offsets = committed(group, topic, partitions);
    bool done = true;
    for (int p = 0; done && p < partitions; ++p) {
      int64_t high = watermarks(topic, p).second;
      if (high > 0 && offsets[static_cast<size_t>(p)] != high) done = false;
    }
    if (done) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
  return false;
}

}  // namespace memrun::test
