// What the worker does when Kafka refuses its replies or dead letters, when a
// handler overruns its deadline, and when it is told to stop while handlers
// run. The cluster lives in this test process, so faults can be injected into
// it and committed offsets read after a worker has exited.
#include <memrun/client.hpp>
#include <memrun/embedded_kafka.hpp>
#include <memrun/protocol.hpp>
#include <memrun/routing.hpp>

#include "support/host_process.hpp"
#include "support/kafka_probe.hpp"
#include "support/mock_faults.hpp"
#include "support/temp_dir.hpp"
#include "support/wait.hpp"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <csignal>
#include <fstream>
#include <map>
#include <set>
#include <thread>

using namespace std::chrono_literals;
using memrun::test::HostProcess;
using memrun::test::KafkaProbe;
using nlohmann::json;

namespace {

constexpr int kPartitions = memrun::test::kTestPartitions;
constexpr int kProduceApi = 0;
// INVALID_RECORD: librdkafka does not retry it itself, so every refusal
// reaches the worker's delivery report at once.
constexpr int kInvalidRecord = 87;
// More refusals in a row than the five attempts the worker used to make.
constexpr int kRefusals = 6;
const std::string kTopic = memrun::protocol::request_topic("faulty");
const std::string kGroup = memrun::protocol::consumer_group("faulty");

std::string config_file(const std::string& name, const std::string& json) {
  std::string path = testing::TempDir() + "/" + name;
  std::ofstream(path) << json;
  return path;
}

class Faults : public testing::Test {
 protected:
  void SetUp() override {
    kafka_.create_service_topics("faulty", kPartitions);
    probe_ = std::make_unique<KafkaProbe>(kafka_.bootstrap_servers());
  }

  HostProcess start(const std::string& id, std::vector<std::string> extra = {}) {
    // Its own cache root: a handler abandoned at stop stays in the crash
    // journal there, which must not follow the next test.
    extra.insert(extra.end(),
                 {"--heartbeat-interval", "0", "--metrics-address", "127.0.0.1:0", "--cache-root", cache_.path});
    HostProcess h = memrun::test::start_worker(FAULTY_PLUGIN, kafka_.bootstrap_servers(), id, extra);
    EXPECT_TRUE(memrun::test::wait_assigned(h)) << h.proc->output();
    return h;
  }

  // One of the worker's counters from its /metrics.
  double metric(HostProcess& h, const std::string& sample) {
    const int port = memrun::test::metrics_port(h);
    EXPECT_GT(port, 0) << h.proc->output();
    auto samples = memrun::test::scrape_metrics(port);
    EXPECT_TRUE(samples.count(sample)) << sample;
    return samples[sample];
  }

  // Files through which the faulty plugin reports handlers that began, and
  // through which the test lets held handlers go.
  std::string file(const std::string& name) const { return signals_.path + "/" + name; }

  // Waits until w1 and w2 hold every partition between them (a rebalance
  // that moved some to w2 ended without losing any).
  bool wait_split(HostProcess& w1, HostProcess& w2, std::chrono::milliseconds timeout) {
    return memrun::test::wait_until(
        [&] {
          return metric(w2, "memrun_assigned_partitions{}") + metric(w1, "memrun_assigned_partitions{}") ==
                 kPartitions;
        },
        timeout, std::chrono::milliseconds(250));
  }

  // One request per partition that ignores cancellation and runs until the
  // file "go" appears (each reports into "entered"); returns their ids.
  std::set<std::string> hold_one_per_partition() {
    std::set<std::string> ids;
    for (int p = 0, i = 0; p < kPartitions; ++i) {
      const std::string key = "slow-" + std::to_string(i);
      if (memrun::kafka_partition(key, kPartitions) != p) continue;
      const std::string id = "slow-" + std::to_string(p);
      probe_->send(kTopic, key,
                   json{{"k", key},
                        {"op", "sleep"},
                        {"ms", 60000},
                        {"stubborn", true},
                        {"entered", file("entered")},
                        {"release", file("go")}}
                       .dump(),
                   id);
      ids.insert(id);
      ++p;
    }
    return ids;
  }
  static void touch(const std::string& path) { std::ofstream{path}; }

  // Replies per request id in the reply topic (all of them, not the first).
  std::map<std::string, int> replies_per_id() {
    const std::string topic(memrun::protocol::kReplyTopic);
    std::map<std::string, int> n;
    for (const auto& r : probe_->read_topic(topic, memrun::protocol::kReplyPartitions,
                                            probe_->count(topic, memrun::protocol::kReplyPartitions), 10s))
      ++n[r.headers.count("memrun-request-id") ? r.headers.at("memrun-request-id") : r.key];
    return n;
  }

  memrun::test::TempDir cache_{"memrun-faults"};
  memrun::test::TempDir signals_{"memrun-faults-signals"};
  memrun::EmbeddedKafka kafka_{3};
  std::unique_ptr<KafkaProbe> probe_;
};

// A reply Kafka refuses more times than any fixed retry budget: it must be
// produced again until it lands, and its partition must commit past it and
// go on committing after it.
TEST_F(Faults, ARefusedReplyIsProducedAgainAndItsPartitionKeepsCommitting) {
  HostProcess w = start("w1");
  const int32_t p = probe_->send(
      kTopic, "k",
      json{{"k", "k"}, {"op", "sleep"}, {"ms", 60000}, {"entered", file("entered")}, {"release", file("go")}}.dump(),
      "first");
  // Inside the handler, held there: the next produce is its reply.
  ASSERT_TRUE(memrun::test::wait_entered(file("entered"), 1)) << w.proc->output();
  memrun::test::fail_requests(kafka_, kProduceApi, kRefusals, kInvalidRecord);
  touch(file("go"));
  auto first = probe_->collect({"first"}, 30s);
  ASSERT_EQ(first.size(), 1u) << w.proc->output();
  EXPECT_EQ(first["first"].status, "ok");
  EXPECT_GE(metric(w, "memrun_delivery_retries_total{}"), 1) << "the refused reply was not produced again";

  std::set<std::string> next;
  for (int i = 0; i < 3; ++i) {
    next.insert("next-" + std::to_string(i));
    ASSERT_EQ(probe_->send(kTopic, "k", R"({"k":"k","op":"count","id":"n"})", "next-" + std::to_string(i)), p);
  }
  EXPECT_EQ(probe_->collect(next, 30s).size(), 3u) << w.proc->output();
  EXPECT_TRUE(probe_->wait_committed(kGroup, kTopic, kPartitions, 20s)) << w.proc->output();
  EXPECT_EQ(probe_->committed(kGroup, kTopic, kPartitions)[p], 4) << "the partition stopped committing";
  EXPECT_EQ(replies_per_id()["first"], 1);
  memrun::test::expect_clean_stop(w);
}

// A poison request whose dead letter Kafka refuses: its offset is not
// committed until the dead letter is written, and the write is retried.
TEST_F(Faults, ARefusedDeadLetterIsRetriedAndItsOffsetWaitsForIt) {
  HostProcess w = start("w1", {"--config", config_file("dlq.json", R"({"service": {"max_attempts": 1}})")});
  // No reply address: the failure must reach the dead-letter topic.
  probe_->send_without_reply(
      kTopic, "k",
      json{{"k", "k"}, {"op", "throw"}, {"ms", 60000}, {"entered", file("entered")}, {"release", file("go")}}.dump());
  ASSERT_TRUE(memrun::test::wait_entered(file("entered"), 1)) << w.proc->output();
  memrun::test::fail_requests(kafka_, kProduceApi, kRefusals, kInvalidRecord);
  touch(file("go"));
  // Until the dead letter is in its topic, nothing may be committed: each
  // look reads the commits first, then the topic, so an empty topic proves
  // the commits were read before the dead letter was written.
  const std::string dlq = memrun::protocol::dlq_topic("faulty");
  int looks = 0;
  ASSERT_TRUE(memrun::test::wait_until(
      [&] {
        int64_t highest = -1;
        for (int64_t c : probe_->committed(kGroup, kTopic, kPartitions)) highest = std::max(highest, c);
        if (probe_->count(dlq, kPartitions) > 0) return true;
        ++looks;
        EXPECT_LE(highest, 0) << "committed past a request whose dead letter is not written";
        return false;
      },
      30s))
      << w.proc->output();
  EXPECT_GE(metric(w, "memrun_delivery_retries_total{}"), 1) << "the refused dead letter was not produced again";
  std::printf("refused dead letter: %d looks at the commits before it was written\n", looks);
  auto dead = probe_->read_topic(dlq, kPartitions, 1, 30s);
  ASSERT_EQ(dead.size(), 1u) << w.proc->output();
  EXPECT_EQ(dead[0].headers.at("memrun-dlq-error-class"), "internal");
  EXPECT_TRUE(probe_->wait_committed(kGroup, kTopic, kPartitions, 20s)) << w.proc->output();
  memrun::test::expect_clean_stop(w);
}

// timeout_seconds 1: a handler still running at its deadline is answered
// deadline_exceeded then, not when the caller gives up; one that returns
// late gets the same answer, once. The offset waits for the handler itself.
TEST_F(Faults, AHandlerPastItsDeadlineIsAnsweredDeadlineExceeded) {
  HostProcess w = start("w1", {"--config", config_file("deadline.json", R"({"service": {"timeout_seconds": 1}})")});
  const auto sent = std::chrono::steady_clock::now();
  // The stubborn handler is held until the test lets it go, so both replies
  // arriving proves they were sent at the deadline, not when it returned.
  const int32_t p = probe_->send(
      kTopic, "s", json{{"k", "s"}, {"op", "sleep"}, {"ms", 120000}, {"stubborn", true}, {"release", file("go")}}.dump(),
      "stubborn");
  probe_->send(kTopic, "c", R"({"k":"c","op":"sleep","ms":120000})", "polite");
  auto replies = probe_->collect({"stubborn", "polite"}, 60s);
  const double waited = std::chrono::duration<double>(std::chrono::steady_clock::now() - sent).count();
  ASSERT_EQ(replies.size(), 2u) << w.proc->output();
  for (const auto& [id, r] : replies) {
    EXPECT_EQ(r.status, "error") << id;
    EXPECT_EQ(r.error_code, "deadline_exceeded") << id << ": " << r.value;
  }
  std::printf("deadline: both answered deadline_exceeded %.2f s after sending (timeout_seconds 1)\n", waited);
  EXPECT_LE(probe_->committed(kGroup, kTopic, kPartitions)[p], 0) << "committed while the handler still ran";
  touch(file("go"));
  EXPECT_TRUE(probe_->wait_committed(kGroup, kTopic, kPartitions, 20s)) << w.proc->output();
  auto per_id = replies_per_id();
  EXPECT_EQ(per_id["stubborn"], 1);
  EXPECT_EQ(per_id["polite"], 1);
  memrun::test::expect_clean_stop(w);
}

// SIGTERM while four handlers run: they see cancelled() at once, finish,
// are answered once and committed, and a worker started afterwards finds
// nothing to run again.
TEST_F(Faults, SigtermDrainFinishesRunningRequestsAndCommitsThemOnce) {
  HostProcess w = start("w1");
  std::set<std::string> ids;
  for (int i = 0; i < 4; ++i) {
    ids.insert("run-" + std::to_string(i));
    probe_->send(kTopic, "key" + std::to_string(i),
                 json{{"k", "key" + std::to_string(i)}, {"op", "sleep"}, {"ms", 120000}, {"entered", file("entered")}}
                     .dump(),
                 "run-" + std::to_string(i));
  }
  ASSERT_TRUE(memrun::test::wait_entered(file("entered"), 4)) << w.proc->output();
  const auto term = std::chrono::steady_clock::now();
  w.proc->signal(SIGTERM);
  // Handlers that sleep 120 s answer within the wait only if they saw cancelled().
  auto replies = probe_->collect(ids, 60s);
  const double answered = std::chrono::duration<double>(std::chrono::steady_clock::now() - term).count();
  ASSERT_EQ(replies.size(), 4u) << w.proc->output();
  for (const auto& [id, r] : replies) {
    EXPECT_EQ(r.status, "ok") << id << ": " << r.value;
    EXPECT_TRUE(json::parse(r.value)["cancelled"].get<bool>()) << id;
  }
  std::printf("drain: 4 handlers answered %.2f s after SIGTERM\n", answered);
  auto code = w.proc->wait(30s);
  ASSERT_TRUE(code.has_value()) << w.proc->output();
  EXPECT_EQ(*code, 0) << w.proc->output();
  EXPECT_TRUE(probe_->wait_committed(kGroup, kTopic, kPartitions, 5s)) << "drained work was not committed";
  for (const auto& [id, n] : replies_per_id()) EXPECT_EQ(n, 1) << id;

  // The next worker takes records from each of those partitions in order: a
  // redelivered request would be taken before the marker behind it.
  HostProcess next = start("w2");
  std::set<std::string> markers;
  for (int i = 0; i < 4; ++i) {
    const std::string key = "key" + std::to_string(i);
    markers.insert("marker-" + std::to_string(i));
    probe_->send(kTopic, key, json{{"k", key}, {"op", "count"}, {"id", key}}.dump(), "marker-" + std::to_string(i));
  }
  ASSERT_EQ(probe_->collect(markers, 30s).size(), 4u) << next.proc->output();
  EXPECT_EQ(metric(next, "memrun_requests_received_total{}"), 4) << "redelivered:\n" << next.proc->output();
  memrun::test::expect_clean_stop(next);
}

// A handler that ignores cancellation must not keep the worker from
// stopping: stop() gives up on it after drain_timeout (10 s by default).
TEST_F(Faults, StopIsBoundedWhenAHandlerIgnoresCancellation) {
  HostProcess w = start("w1");
  const int32_t p = probe_->send(
      kTopic, "h", json{{"k", "h"}, {"op", "sleep"}, {"ms", 120000}, {"stubborn", true}, {"entered", file("entered")}}.dump(),
      "hang");
  ASSERT_TRUE(memrun::test::wait_entered(file("entered"), 1)) << w.proc->output();
  const auto term = std::chrono::steady_clock::now();
  w.proc->signal(SIGTERM);
  auto code = w.proc->wait(40s);
  ASSERT_TRUE(code.has_value()) << "stop() waited for a handler that never returns\n" << w.proc->output();
  const double took = std::chrono::duration<double>(std::chrono::steady_clock::now() - term).count();
  EXPECT_EQ(*code, 0) << w.proc->output();  // while its handler had 2 minutes left to run
  EXPECT_LE(probe_->committed(kGroup, kTopic, kPartitions)[p], 0) << "committed an unfinished request";
  std::printf("stop with a handler ignoring cancellation: exited after %.1f s\n", took);
}

// A rebalance that takes partitions with requests still running: the wait
// for them runs inside the rebalance callback, which librdkafka counts
// against max.poll.interval.ms (8 s in these tests). It must give up at half
// of that (4 s) rather than wait drain_timeout (10 s) and get the worker
// thrown out of the group. Read from the worker's /metrics.
TEST_F(Faults, ARevokeWaitsLessThanMaxPollIntervalForRunningRequests) {
  HostProcess w1 = start("w1", {"--concurrency", "16"});
  // One request that ignores cancellation on every partition, so whichever
  // partitions move, their revoke finds work running.
  hold_one_per_partition();
  ASSERT_TRUE(memrun::test::wait_entered(file("entered"), kPartitions)) << w1.proc->output();
  EXPECT_EQ(metric(w1, "memrun_revoke_wait_limit_milliseconds{}"), 4000)
      << "not the lesser of drain_timeout (10 s) and half of max.poll.interval.ms (8 s)";
  HostProcess w2 = start("w2", {"--concurrency", "16"});
  const int port = memrun::test::metrics_port(w1);
  std::map<std::string, double> m;
  ASSERT_TRUE(memrun::test::wait_until(
      [&] {
        m = memrun::test::scrape_metrics(port);
        return m["memrun_revoke_waits_total{}"] >= 1;
      },
      60s, 250ms))
      << w1.proc->output();
  const double waits = m["memrun_revoke_waits_total{}"];
  std::printf("revoke with requests running: %.0f wait(s), %.0f ms in all, %.0f request(s) left running "
              "(limit %.0f ms, max.poll.interval.ms 8000)\n",
              waits, m["memrun_revoke_wait_milliseconds_total{}"], m["memrun_revoke_gave_up_total{}"],
              m["memrun_revoke_wait_limit_milliseconds{}"]);
  // Each moved partition's handler runs for a minute, so every wait ran to
  // its limit and gave up on at least one request.
  EXPECT_GE(m["memrun_revoke_gave_up_total{}"], waits) << w1.proc->output();
  EXPECT_GE(m["memrun_revoke_wait_milliseconds_total{}"], waits * 4000) << "it did not wait for them";
  // w2 was given what w1 released, and w1 kept the rest: no partition was
  // lost to an expired poll interval.
  ASSERT_TRUE(memrun::test::wait_assigned(w2)) << w2.proc->output();
  ASSERT_TRUE(wait_split(w1, w2, 30s)) << w1.proc->output();
  EXPECT_GE(metric(w1, "memrun_assigned_partitions{}"), 1);
  EXPECT_EQ(metric(w1, "memrun_partitions_lost_total{}"), 0) << w1.proc->output();
  touch(file("go"));  // both stop without waiting out drain_timeout
}

// --revoke-wait-ms 0: a revoke does not wait for the requests still running
// on the partitions it takes, so librdkafka's pause of the whole assignment
// ends at once and the partitions kept go on being fetched and served while
// those requests still run here. The price, asserted too: their next owner
// runs them again.
TEST_F(Faults, ARevokeThatDoesNotWaitKeepsServingThePartitionsKept) {
  HostProcess w1 = start("w1", {"--concurrency", "32", "--revoke-wait-ms", "0"});
  const std::set<std::string> held = hold_one_per_partition();
  ASSERT_TRUE(memrun::test::wait_entered(file("entered"), kPartitions)) << w1.proc->output();
  EXPECT_EQ(metric(w1, "memrun_revoke_wait_limit_milliseconds{}"), 0);

  HostProcess w2 = start("w2", {"--concurrency", "32"});
  ASSERT_TRUE(wait_split(w1, w2, 60s)) << w1.proc->output();
  const int moved = static_cast<int>(metric(w2, "memrun_assigned_partitions{}"));
  ASSERT_GE(moved, 1);
  EXPECT_GE(metric(w1, "memrun_revoke_gave_up_total{}"), moved) << "a revoked request was waited for";

  // One quick request per partition, sent while every held request still
  // runs on w1: those of the partitions w1 kept are fetched and answered by
  // w1, the others by w2.
  std::set<std::string> quick;
  for (int p = 0, i = 0; p < kPartitions; ++i) {
    const std::string key = "quick-" + std::to_string(i);
    if (memrun::kafka_partition(key, kPartitions) != p) continue;
    probe_->send(kTopic, key, json{{"k", key}, {"op", "count"}, {"id", key}}.dump(), key);
    quick.insert(key);
    ++p;
  }
  const auto sent = std::chrono::steady_clock::now();
  const auto answered = probe_->collect(quick, 60s);
  EXPECT_EQ(answered.size(), quick.size()) << w1.proc->output();
  std::printf("a revoke without a wait: %zu requests, one per partition, answered in %.1f s\n", answered.size(),
              std::chrono::duration<double>(std::chrono::steady_clock::now() - sent).count());
  EXPECT_EQ(metric(w1, "memrun_in_flight{}"), kPartitions) << "the held requests no longer all ran on w1";

  // w2 runs the held requests of the partitions it took again.
  EXPECT_TRUE(memrun::test::wait_entered(file("entered"), kPartitions + moved)) << w2.proc->output();
  touch(file("go"));
  const auto released = probe_->collect(held, 60s);
  EXPECT_EQ(released.size(), held.size()) << w1.proc->output() << w2.proc->output();
}

}  // namespace
