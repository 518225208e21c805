// A complete program that links libmemrun and declares its own MemoryService,
// no plugin involved: it starts an embedded Kafka cluster, runs a worker of
// the "series" service, and calls it through memrun::Client.
//
// The service keeps decoded time series warm: the init handler builds them
// once per worker; every request slices one of them without touching storage.
#include <memrun/memrun.hpp>

#include <nlohmann/json.hpp>

#include <cmath>
#include <cstdio>
#include <numeric>
#include <vector>

namespace {

using Series = std::vector<double>;

memrun::MemoryService series_service() {
  memrun::MemoryService svc;
  svc.name = "series";
  svc.memory = "256Mi";
  svc.concurrency = 4;
  svc.timeout_seconds = 10;
  svc.sticky_key = "dataset";
  svc.partitions = 8;
  svc.init = [](memrun::SharedWorkerContext& ctx) {
    for (int d = 0; d < 4; ++d) {
      auto s = std::make_shared<Series>(100000);
      for (size_t i = 0; i < s->size(); ++i) (*s)[i] = std::sin(0.001 * static_cast<double>(i) * (d + 1));
      ctx.set_object("series/ds" + std::to_string(d), s, s->size() * sizeof(double));
    }
  };
  svc.handle = [](memrun::RequestContext& rq) -> memrun::Reply {
    const auto& q = rq.json();
    auto series = rq.worker().get_object<Series>("series/" + q.at("dataset").get<std::string>());
    size_t from = q.value("from", size_t{0});
    size_t to = std::min(q.value("to", series->size()), series->size());
    if (from >= to) throw memrun::Error(memrun::Code::kInvalidArgument, "empty range");
    double sum = std::accumulate(series->begin() + static_cast<long>(from), series->begin() + static_cast<long>(to), 0.0);
    return nlohmann::json{{"dataset", q["dataset"]}, {"count", to - from}, {"mean", sum / static_cast<double>(to - from)}};
  };
  return svc;
}

}  // namespace

int main() {
  try {
    memrun::EmbeddedKafka kafka;
    auto service = series_service();
    kafka.create_service_topics(service.name, service.partitions);

    memrun::KafkaOptions k;
    k.bootstrap_servers = kafka.bootstrap_servers();
    k.properties = memrun::EmbeddedKafka::client_properties();
    // Short group timeouts: the mock cluster waits ~session.timeout.ms per rebalance.
    k.properties.insert({{"session.timeout.ms", "6000"}, {"heartbeat.interval.ms", "500"},
                         {"max.poll.interval.ms", "8000"}});
    memrun::WorkerOptions wopts;
    wopts.kafka = k;
    wopts.worker_id = "embedded-1";
    memrun::Worker worker(std::move(service), wopts);
    worker.start();
    if (!worker.wait_for_assignment(std::chrono::seconds(30))) {
      std::fprintf(stderr, "no partitions assigned within 30 s\n");
      return 1;
    }

    memrun::ClientOptions copts;
    copts.kafka = k;
    memrun::Client client(copts);
    std::vector<std::future<memrun::Response>> replies;
    for (int i = 0; i < 8; ++i)
      replies.push_back(client.submit("series", {{"dataset", "ds" + std::to_string(i % 4)}, {"from", 0}, {"to", 1000 * (i + 1)}}));
    int failures = 0;
    for (auto& f : replies) {
      auto r = f.get();
      std::printf("%-6s partition=%d worker=%s %s\n", r.ok() ? "ok" : "error", r.partition, r.worker_id.c_str(),
                  r.ok() ? r.body.c_str() : r.error.c_str());
      failures += r.ok() ? 0 : 1;
    }
    // A request naming a dataset that is not loaded comes back as an error.
    auto missing = client.submit("series", {{"dataset", "nope"}}).get();
    std::printf("missing dataset -> %s: %s\n", std::string(memrun::code_name(missing.code)).c_str(), missing.error.c_str());
    worker.stop();
    return failures == 0 && !missing.ok() && missing.code == memrun::Code::kNotFound ? 0 : 1;
  } catch (const memrun::Error& e) {
    std::fprintf(stderr, "embedded example: %s\n", e.what());
    return 1;
  }
}
