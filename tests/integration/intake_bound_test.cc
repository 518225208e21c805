// A Kafka that keeps refusing a worker's replies must not make the worker
// hold them in RAM without bound: at WorkerOptions::max_unacked_records it
// starts no request (the rest wait in Kafka), and once Kafka acknowledges
// again every request is answered, once, and committed. The worker runs in
// this process, beside the cluster, so its stats() are read directly and
// faults are injected into the cluster.
#include <memrun/embedded_kafka.hpp>
#include <memrun/protocol.hpp>
#include <memrun/worker.hpp>

#include "support/in_process_worker.hpp"
#include "support/kafka_probe.hpp"
#include "support/mock_faults.hpp"
#include "support/wait.hpp"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <chrono>
#include <condition_variable>
#include <map>
#include <mutex>
#include <set>
#include <string>

using namespace std::chrono_literals;

namespace {

constexpr int kProduceApi = 0;
// INVALID_RECORD: librdkafka does not retry it itself, so every refusal
// reaches the worker's delivery report at once.
constexpr int kInvalidRecord = 87;
constexpr int kPartitions = 4;

// A handler the test holds: "hold" requests say they entered and wait until
// released (or cancelled); the others return at once.
struct Gate {
  std::mutex mu;
  std::condition_variable cv;
  int entered = 0;
  bool released = false;

  memrun::Reply handle(memrun::RequestContext& rq) {
    if (!rq.json().value("hold", false)) return nlohmann::json{{"k", rq.json().at("k")}};
    std::unique_lock lock(mu);
    ++entered;
    cv.notify_all();
    cv.wait_for(lock, 60s, [&] { return released || rq.cancelled(); });
    return nlohmann::json{{"k", rq.json().at("k")}, {"held", true}};
  }
  bool wait_entered() {
    std::unique_lock lock(mu);
    return cv.wait_for(lock, 30s, [&] { return entered > 0; });
  }
  void release() {
    {
      std::lock_guard lock(mu);
      released = true;
    }
    cv.notify_all();
  }
};

TEST(IntakeBound, RefusedRepliesStopTheIntakeAtTheBoundAndNothingIsLost) {
  memrun::EmbeddedKafka kafka(1);
  kafka.create_service_topics("bounded", kPartitions);
  const std::string topic = memrun::protocol::request_topic("bounded");
  const std::string group = memrun::protocol::consumer_group("bounded");
  memrun::test::KafkaProbe probe(kafka.bootstrap_servers());

  Gate gate;
  memrun::MemoryService svc;
  svc.name = "bounded";
  svc.sticky_key = "k";
  svc.partitions = kPartitions;
  svc.concurrency = 1;
  svc.handle = [&](memrun::RequestContext& rq) { return gate.handle(rq); };
  memrun::WorkerOptions opts = memrun::test::in_process_options(kafka, "bounded-w1");
  opts.max_unacked_records = 2;
  memrun::Worker worker(std::move(svc), std::move(opts));
  worker.start();
  ASSERT_TRUE(worker.wait_for_assignment(60s));

  // One held request, three behind it: every request is in Kafka before
  // Kafka starts refusing the worker's replies.
  probe.send(topic, "a", R"({"k":"a","hold":true})", "a");
  ASSERT_TRUE(gate.wait_entered());
  const std::set<std::string> ids = {"a", "b", "c", "d"};
  for (const char* id : {"b", "c", "d"}) probe.send(topic, id, nlohmann::json{{"k", id}}.dump(), id);
  memrun::test::fail_requests(kafka, kProduceApi, 100000, kInvalidRecord);
  gate.release();

  // a's reply is refused and held; b runs and its reply is refused too: two
  // unacknowledged, the bound. Each refused twice or more shows the worker
  // stayed at the bound while its delivery thread kept trying.
  memrun::WorkerStats s;
  ASSERT_TRUE(memrun::test::wait_until(
      [&] {
        s = worker.stats();
        return s.intake_held && s.delivery_retries >= 4;
      },
      60s))
      << "intake_held " << s.intake_held << ", unacknowledged " << s.unacked_records << ", handled "
      << s.succeeded << ", delivery retries " << s.delivery_retries;
  EXPECT_EQ(s.unacked_records, 2u);
  EXPECT_EQ(s.succeeded, 2u) << "a request started while the bound was reached";
  EXPECT_EQ(s.in_flight, 0u);
  EXPECT_GE(s.intake_holds, 1u);

  memrun::test::clear_request_failures(kafka, kProduceApi);
  auto replies = probe.collect(ids, 60s);
  ASSERT_EQ(replies.size(), ids.size());
  for (const auto& [id, r] : replies) EXPECT_EQ(r.status, "ok") << id << ": " << r.value;
  EXPECT_TRUE(probe.wait_committed(group, topic, kPartitions, 30s)) << "not committed";
  std::map<std::string, int> per_id;
  const std::string replies_topic(memrun::protocol::kReplyTopic);
  for (const auto& r : probe.read_topic(replies_topic, memrun::protocol::kReplyPartitions,
                                        probe.count(replies_topic, memrun::protocol::kReplyPartitions), 10s))
    ++per_id[r.headers.count("memrun-request-id") ? r.headers.at("memrun-request-id") : r.key];
  for (const auto& id : ids) EXPECT_EQ(per_id[id], 1) << id;
  ASSERT_TRUE(memrun::test::wait_until([&] { return !worker.stats().intake_held; }, 10s));
  s = worker.stats();
  EXPECT_EQ(s.unacked_records, 0u);
  EXPECT_EQ(s.succeeded, 4u);
  worker.stop();
}

}  // namespace
