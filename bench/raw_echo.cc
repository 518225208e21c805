// The raw two-hop baseline's echo: a plain librdkafka consumer-producer with
// no memrun worker in it. It reads a service's request topic in the
// service's consumer group and answers each request on the reply partition
// its headers name, with the request's bytes as the reply and the headers a
// memrun Client matches replies by (docs/protocol.md). bench/request_path.cc
// drives it and a memrun worker through the same Client, so the difference
// between them is the worker.
//
//   build/bench/memrun_bench_raw_echo BOOTSTRAP SERVICE [fetch_wait_ms=10]
//
// One thread: poll one record, produce its reply (linger.ms=0, as memrun's
// producer), serve delivery reports without waiting. Offsets are stored after
// the reply is queued and committed in the background (auto commit), the
// least a consumer-producer does to move its group forward. Runs until
// SIGTERM or SIGINT.
#include <librdkafka/rdkafka.h>

#include <csignal>
#include <cstdio>
#include <cstring>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace {

volatile std::sig_atomic_t g_stop = 0;
void on_signal(int) { g_stop = 1; }

rd_kafka_t* make(rd_kafka_type_t type, const std::vector<std::pair<std::string, std::string>>& props) {
  rd_kafka_conf_t* conf = rd_kafka_conf_new();
  char err[512];
  for (const auto& [k, v] : props) {
    if (rd_kafka_conf_set(conf, k.c_str(), v.c_str(), err, sizeof err) != RD_KAFKA_CONF_OK) {
      std::fprintf(stderr, "raw_echo: %s=%s: %s\n", k.c_str(), v.c_str(), err);
      return nullptr;
    }
  }
  rd_kafka_t* rk = rd_kafka_new(type, conf, err, sizeof err);
  if (rk == nullptr) std::fprintf(stderr, "raw_echo: %s\n", err);
  return rk;
}

std::string_view header(rd_kafka_headers_t* hdrs, const char* name) {
  const void* value = nullptr;
  size_t size = 0;
  if (hdrs == nullptr || rd_kafka_header_get_last(hdrs, name, &value, &size) != RD_KAFKA_RESP_ERR_NO_ERROR)
    return {};
  return {static_cast<const char*>(value), size};
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 3) {
    std::fprintf(stderr, "usage: %s BOOTSTRAP SERVICE [fetch_wait_ms]\n", argv[0]);
    return 2;
  }
  const std::string bootstrap = argv[1];
  const std::string service = argv[2];
  const std::string fetch_wait = argc > 3 ? argv[3] : "10";
  const std::string topic = "memrun.requests." + service;
  std::signal(SIGTERM, on_signal);
  std::signal(SIGINT, on_signal);

  rd_kafka_t* producer = make(RD_KAFKA_PRODUCER, {{"bootstrap.servers", bootstrap}, {"linger.ms", "0"},
                                                  {"acks", "all"}, {"enable.idempotence", "false"}});
  rd_kafka_t* consumer = make(RD_KAFKA_CONSUMER, {{"bootstrap.servers", bootstrap},
                                                  {"group.id", "memrun.workers." + service},
                                                  {"fetch.wait.max.ms", fetch_wait},
                                                  {"session.timeout.ms", "6000"},
                                                  {"auto.offset.reset", "latest"},
                                                  {"enable.auto.offset.store", "false"},
                                                  {"partition.assignment.strategy", "cooperative-sticky"}});
  if (producer == nullptr || consumer == nullptr) return 1;
  rd_kafka_poll_set_consumer(consumer);
  rd_kafka_topic_partition_list_t* topics = rd_kafka_topic_partition_list_new(1);
  rd_kafka_topic_partition_list_add(topics, topic.c_str(), RD_KAFKA_PARTITION_UA);
  if (auto err = rd_kafka_subscribe(consumer, topics)) {
    std::fprintf(stderr, "raw_echo: subscribe %s: %s\n", topic.c_str(), rd_kafka_err2str(err));
    return 1;
  }
  rd_kafka_topic_partition_list_destroy(topics);

  rd_kafka_topic_partition_list_t* stored = rd_kafka_topic_partition_list_new(1);  // reused per record
  rd_kafka_topic_partition_list_add(stored, topic.c_str(), 0);
  bool announced = false;
  while (!g_stop) {
    rd_kafka_poll(producer, 0);
    rd_kafka_message_t* m = rd_kafka_consumer_poll(consumer, 100);
    if (!announced) {
      rd_kafka_topic_partition_list_t* assigned = nullptr;
      if (rd_kafka_assignment(consumer, &assigned) == RD_KAFKA_RESP_ERR_NO_ERROR && assigned->cnt > 0) {
        // The run script waits for this line, as for a worker's.
        std::printf("raw_echo: assigned partitions (%d)\n", assigned->cnt);
        std::fflush(stdout);
        announced = true;
      }
      if (assigned) rd_kafka_topic_partition_list_destroy(assigned);
    }
    if (m == nullptr) continue;
    if (m->err) {
      rd_kafka_message_destroy(m);
      continue;
    }
    rd_kafka_headers_t* hdrs = nullptr;
    rd_kafka_message_headers(m, &hdrs);
    const std::string_view id = header(hdrs, "memrun-request-id");
    const std::string reply_to(header(hdrs, "memrun-reply-to"));
    const std::string_view part = header(hdrs, "memrun-reply-partition");
    int32_t partition = RD_KAFKA_PARTITION_UA;
    if (!part.empty()) partition = static_cast<int32_t>(std::stol(std::string(part)));
    if (!reply_to.empty()) {
      rd_kafka_producev(producer, RD_KAFKA_V_TOPIC(reply_to.c_str()), RD_KAFKA_V_PARTITION(partition),
                        RD_KAFKA_V_VALUE(m->payload, m->len), RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
                        RD_KAFKA_V_HEADER("memrun-request-id", id.data(), static_cast<ssize_t>(id.size())),
                        RD_KAFKA_V_HEADER("memrun-status", "ok", 2), RD_KAFKA_V_END);
    }
    stored->elems[0].partition = m->partition;
    stored->elems[0].offset = m->offset + 1;
    rd_kafka_offsets_store(consumer, stored);
    rd_kafka_message_destroy(m);
  }
  rd_kafka_topic_partition_list_destroy(stored);
  rd_kafka_consumer_close(consumer);
  rd_kafka_destroy(consumer);
  rd_kafka_flush(producer, 5000);
  rd_kafka_destroy(producer);
  return 0;
}
