// Request path: memrun (Client → worker with a no-op handler → reply) against
// raw librdkafka produce→consume round trips, on the same embedded mock
// cluster in the same run. Prints latency percentiles and throughput, and
// memrun's figures as ratios of the raw baseline.
//
//   build/bench/memrun_bench_request_path [round_trips=2000] [burst=5000] [fetch_wait_ms=10]
//
// fetch_wait_ms sets fetch.wait.max.ms for both sides (10 is what clients of the mock cluster use).
#include <memrun/memrun.hpp>

#include <librdkafka/rdkafka.h>
#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

namespace {

using Clock = std::chrono::steady_clock;

struct Figures {
  double p50_us, p99_us, per_second;
};

double percentile(std::vector<double> v, double q) {
  std::sort(v.begin(), v.end());
  return v[static_cast<size_t>(q * static_cast<double>(v.size() - 1))];
}

rd_kafka_t* make(rd_kafka_type_t type, std::vector<std::pair<std::string, std::string>> props) {
  rd_kafka_conf_t* conf = rd_kafka_conf_new();
  char err[512];
  for (auto& [k, v] : props) rd_kafka_conf_set(conf, k.c_str(), v.c_str(), err, sizeof err);
  return rd_kafka_new(type, conf, err, sizeof err);
}

// Raw baseline with the same client settings memrun uses (linger.ms=0,
// fetch.wait.max.ms=10): produce one 1 KiB record, consume it, repeat; then a
// burst produced and consumed concurrently.
Figures raw_librdkafka(const std::string& bootstrap, const std::string& fetch_wait, int round_trips, int burst) {
  rd_kafka_t* p = make(RD_KAFKA_PRODUCER, {{"bootstrap.servers", bootstrap}, {"linger.ms", "0"}});
  rd_kafka_t* c = make(RD_KAFKA_CONSUMER, {{"bootstrap.servers", bootstrap}, {"group.id", "raw-bench"},
                                           {"fetch.wait.max.ms", fetch_wait}, {"enable.auto.commit", "false"}});
  rd_kafka_poll_set_consumer(c);
  // An explicit start offset: with OFFSET_END the consumer may resolve "end"
  // only after the first record was produced, skip it and wait forever.
  int64_t low = 0, high = 0;
  rd_kafka_query_watermark_offsets(c, "raw.bench", 0, &low, &high, 10000);
  auto* list = rd_kafka_topic_partition_list_new(1);
  rd_kafka_topic_partition_list_add(list, "raw.bench", 0)->offset = high;
  rd_kafka_assign(c, list);
  rd_kafka_topic_partition_list_destroy(list);
  std::string payload(1024, 'x');
  auto produce = [&] {
    rd_kafka_producev(p, RD_KAFKA_V_TOPIC("raw.bench"), RD_KAFKA_V_PARTITION(0),
                      RD_KAFKA_V_VALUE(payload.data(), payload.size()), RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
                      RD_KAFKA_V_END);
    rd_kafka_poll(p, 0);
  };
  auto consume_one = [&] {
    while (true) {
      rd_kafka_message_t* m = rd_kafka_consumer_poll(c, 1000);
      if (!m) continue;
      bool ok = !m->err;
      rd_kafka_message_destroy(m);
      if (ok) return;
    }
  };
  produce();  // warm-up: resolves the END offset and connections
  consume_one();
  std::vector<double> lat;
  for (int i = 0; i < round_trips; ++i) {
    auto t0 = Clock::now();
    produce();
    consume_one();
    lat.push_back(std::chrono::duration<double, std::micro>(Clock::now() - t0).count());
  }
  auto t0 = Clock::now();
  for (int i = 0; i < burst; ++i) produce();
  for (int i = 0; i < burst; ++i) consume_one();
  double secs = std::chrono::duration<double>(Clock::now() - t0).count();
  rd_kafka_flush(p, 5000);
  rd_kafka_destroy(p);
  rd_kafka_consumer_close(c);
  rd_kafka_destroy(c);
  return {percentile(lat, 0.5), percentile(lat, 0.99), burst / secs};
}

Figures memrun_path(const memrun::KafkaOptions& kafka, int round_trips, int burst) {
  memrun::MemoryService svc;
  svc.name = "noop";
  svc.sticky_key = "k";
  svc.partitions = 16;
  svc.handle = [](memrun::RequestContext&) { return memrun::Reply::raw("{}"); };
  memrun::WorkerOptions wopts;
  wopts.kafka = kafka;
  wopts.worker_id = "bench";
  memrun::Worker worker(std::move(svc), wopts);
  worker.start();
  worker.wait_for_assignment(std::chrono::seconds(60));
  memrun::ClientOptions copts;
  copts.kafka = kafka;
  memrun::Client client(copts);
  std::string pad(1000, 'x');
  auto request = [&](int i) { return nlohmann::json{{"k", i % 64}, {"pad", pad}}; };
  for (int i = 0; i < 20; ++i) client.submit("noop", request(i)).get();  // warm-up
  std::vector<double> lat;
  for (int i = 0; i < round_trips; ++i) {
    auto r = client.submit("noop", request(i)).get();
    if (!r.ok()) std::fprintf(stderr, "error: %s\n", r.error.c_str());
    lat.push_back(static_cast<double>(r.latency.count()));
  }
  auto t0 = Clock::now();
  std::vector<std::future<memrun::Response>> fs;
  fs.reserve(static_cast<size_t>(burst));
  for (int i = 0; i < burst; ++i) fs.push_back(client.submit("noop", request(i)));
  int failed = 0;
  for (auto& f : fs) failed += f.get().ok() ? 0 : 1;
  double secs = std::chrono::duration<double>(Clock::now() - t0).count();
  if (failed) std::fprintf(stderr, "%d burst requests failed\n", failed);
  worker.stop();
  return {percentile(lat, 0.5), percentile(lat, 0.99), burst / secs};
}

}  // namespace

int main(int argc, char** argv) {
  const int round_trips = argc > 1 ? std::atoi(argv[1]) : 2000;
  const int burst = argc > 2 ? std::atoi(argv[2]) : 5000;
  const std::string fetch_wait = argc > 3 ? argv[3] : "10";
  spdlog::set_level(spdlog::level::warn);
  memrun::EmbeddedKafka cluster(1);
  cluster.create_topic("raw.bench", 1);
  cluster.create_service_topics("noop", 16);
  memrun::KafkaOptions kafka;
  kafka.bootstrap_servers = cluster.bootstrap_servers();
  kafka.properties = {{"session.timeout.ms", "6000"}, {"heartbeat.interval.ms", "500"},
                      {"fetch.wait.max.ms", fetch_wait}};

  Figures raw = raw_librdkafka(kafka.bootstrap_servers, fetch_wait, round_trips, burst);
  Figures mr = memrun_path(kafka, round_trips, burst);
  std::printf("request path on librdkafka %s mock cluster (1 broker), 1 KiB payloads, %d round trips, burst %d, fetch.wait.max.ms=%s\n",
              rd_kafka_version_str(), round_trips, burst, fetch_wait.c_str());
  std::printf("%-34s %10s %10s %12s\n", "", "p50 us", "p99 us", "per second");
  std::printf("%-34s %10.0f %10.0f %12.0f\n", "raw produce->consume (1 hop)", raw.p50_us, raw.p99_us, raw.per_second);
  std::printf("%-34s %10.0f %10.0f %12.0f\n", "memrun request->reply (2 hops)", mr.p50_us, mr.p99_us, mr.per_second);
  std::printf("ratios: p50 %.2fx raw (added %.0f us), throughput %.2f of raw\n", mr.p50_us / raw.p50_us,
              mr.p50_us - raw.p50_us, mr.per_second / raw.per_second);
  return 0;
}
