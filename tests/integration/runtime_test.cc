// The worker runtime through a real memrun-host: retries, the dead-letter
// topic, duplicate suppression, heartbeats (draining on SIGTERM: delivery_test.cc).
#include <memrun/protocol.hpp>
#include <memrun/routing.hpp>

#include "support/host_process.hpp"
#include "support/kafka_probe.hpp"

#include <gtest/gtest.h>

#include <set>
#include <nlohmann/json.hpp>

#include <fstream>

using namespace std::chrono_literals;
using memrun::test::expect_clean_stop;
using memrun::test::HostProcess;
using memrun::test::KafkaProbe;
using memrun::test::start_host;
using memrun::test::kTestPartitions;

namespace {

const std::string kTopic = memrun::protocol::request_topic("faulty");

std::string config_file(const std::string& name, const std::string& json) {
  std::string path = testing::TempDir() + "/" + name;
  std::ofstream(path) << json;
  return path;
}

TEST(Runtime, RetriesCureTransientFailuresAndExhaustedOnesReachTheDeadLetterTopic) {
  auto config = config_file("retry.json", R"({"service": {"max_attempts": 3, "retry_backoff_ms": 20}})");
  HostProcess h = start_host(FAULTY_PLUGIN, {"--config", config});
  KafkaProbe probe(h.bootstrap);
  const std::string throw_payload = R"({"k":"a","op":"throw"})";
  const int32_t throw_partition = probe.send(kTopic, "a", throw_payload, "r-throw");
  probe.send(kTopic, "b", R"({"k":"b","op":"flaky","id":"f1","fails":2})", "r-flaky");
  auto replies = probe.collect({"r-throw", "r-flaky"}, 60s);
  ASSERT_EQ(replies.size(), 2u) << h.proc->output();
  EXPECT_EQ(replies["r-flaky"].status, "ok");
  EXPECT_EQ(nlohmann::json::parse(replies["r-flaky"].value)["attempts"], 3);  // 2 failures, then success
  EXPECT_EQ(replies["r-throw"].status, "error");
  EXPECT_EQ(replies["r-throw"].error_code, "internal");
  EXPECT_NE(replies["r-throw"].value.find("boom"), std::string::npos);

  auto dead = probe.read_topic(memrun::protocol::dlq_topic("faulty"), memrun::test::kTestPartitions, 1, 30s);
  ASSERT_EQ(dead.size(), 1u) << "only the request that never succeeded is a dead letter\n" << h.proc->output();
  const auto& d = dead[0];
  EXPECT_EQ(d.key, "a");
  EXPECT_EQ(d.value, throw_payload);  // the request as it came, to inspect or replay
  EXPECT_EQ(d.headers.at("memrun-request-id"), "r-throw");
  EXPECT_EQ(d.headers.at("memrun-dlq-original-topic"), kTopic);
  EXPECT_EQ(d.headers.at("memrun-dlq-original-partition"), std::to_string(throw_partition));
  EXPECT_EQ(d.headers.at("memrun-dlq-original-offset"), "0");
  EXPECT_EQ(d.headers.at("memrun-dlq-error-class"), "internal");
  EXPECT_NE(d.headers.at("memrun-dlq-error-message").find("boom"), std::string::npos);
  EXPECT_EQ(d.headers.at("memrun-dlq-attempts"), "3");
  EXPECT_EQ(d.headers.at("memrun-dlq-worker"), "w1");
  // Both were committed past: nothing blocks the partitions.
  EXPECT_TRUE(probe.wait_committed("memrun-faulty", kTopic, memrun::test::kTestPartitions, 30s));
  expect_clean_stop(h);
}

TEST(Runtime, BadInputWithoutReplyAddressGoesToTheDeadLetterTopic) {
  HostProcess h = start_host(FAULTY_PLUGIN);
  KafkaProbe probe(h.bootstrap);
  // Produced by a client that wants no reply: the failure must still surface.
  probe.send_without_reply(kTopic, "z", "not json at all");
  auto dead = probe.read_topic(memrun::protocol::dlq_topic("faulty"), memrun::test::kTestPartitions, 1, 30s);
  ASSERT_EQ(dead.size(), 1u) << h.proc->output();
  EXPECT_EQ(dead[0].value, "not json at all");
  EXPECT_EQ(dead[0].headers.at("memrun-dlq-error-class"), "invalid_argument");
  EXPECT_EQ(dead[0].headers.at("memrun-dlq-attempts"), "0");  // never reached the handler
  expect_clean_stop(h);
}

TEST(Runtime, RedeliveredRequestIdGetsTheStoredReplyWithoutRunningAgain) {
  HostProcess h = start_host(FAULTY_PLUGIN);
  KafkaProbe probe(h.bootstrap);
  const std::string payload = R"({"k":"c","op":"count","id":"x"})";
  probe.send(kTopic, "c", payload, "dup-1");
  auto first = probe.collect({"dup-1"}, 60s);
  ASSERT_EQ(first.size(), 1u) << h.proc->output();
  probe.send(kTopic, "c", payload, "dup-1");  // what a redelivery looks like
  auto second = probe.collect({"dup-1"}, 60s);
  ASSERT_EQ(second.size(), 1u) << h.proc->output();
  EXPECT_EQ(nlohmann::json::parse(first["dup-1"].value)["runs"], 1);
  EXPECT_EQ(nlohmann::json::parse(second["dup-1"].value)["runs"], 1);  // handler did not run twice
  probe.send(kTopic, "c", payload, "dup-2");  // a new id runs
  auto third = probe.collect({"dup-2"}, 60s);
  EXPECT_EQ(nlohmann::json::parse(third["dup-2"].value)["runs"], 2);
  EXPECT_TRUE(h.proc->wait_for("was answered before", 5s).has_value());
  expect_clean_stop(h);
}

// Requests of one partition finish out of order; the committed offset must
// never pass one that is still running, however many after it are done.
TEST(Runtime, NoCommitPassesARequestStillRunning) {
  HostProcess h = start_host(FAULTY_PLUGIN, {"--concurrency", "8"});
  ASSERT_TRUE(memrun::test::wait_assigned(h)) << h.proc->output();
  KafkaProbe probe(h.bootstrap);
  const std::string group = memrun::protocol::consumer_group("faulty");
  const int partition = probe.send(kTopic, "same", R"({"k":"same","op":"sleep","ms":4000})", "slow");
  std::set<std::string> fast;
  for (int i = 0; i < 20; ++i) {
    fast.insert("fast-" + std::to_string(i));
    EXPECT_EQ(probe.send(kTopic, "same", R"({"k":"same","op":"count"})", "fast-" + std::to_string(i)), partition);
  }
  // The twenty after it are answered while the first still sleeps...
  auto replies = probe.collect(fast, 3s);
  EXPECT_EQ(replies.size(), 20u);
  // ...and for as long as it sleeps, the commit stays at its offset (0).
  int64_t highest_while_running = -1;
  for (int i = 0; i < 5; ++i) {
    highest_while_running = std::max(highest_while_running, probe.committed(group, kTopic, kTestPartitions)[partition]);
    std::this_thread::sleep_for(100ms);
  }
  EXPECT_LE(highest_while_running, 0) << "committed past the running request at offset 0";
  auto slow = probe.collect({"slow"}, 10s);
  ASSERT_EQ(slow.size(), 1u);
  EXPECT_TRUE(probe.wait_committed(group, kTopic, kTestPartitions, 10s)) << "all 21 done: commit reaches 21";
  EXPECT_EQ(probe.committed(group, kTopic, kTestPartitions)[partition], 21);
  memrun::test::expect_clean_stop(h);
}

TEST(Runtime, HeartbeatsPublishWorkerStatus) {
  HostProcess h = start_host(FAULTY_PLUGIN, {"--heartbeat-interval", "0.5"});
  ASSERT_TRUE(memrun::test::wait_assigned(h)) << h.proc->output();
  KafkaProbe probe(h.bootstrap);
  // Beats start before the group is joined; 12 at 0.5 s cover the join (~3 s).
  auto beats = probe.read_topic(std::string(memrun::protocol::kHeartbeatsTopic), 1, 12, 30s);
  ASSERT_GE(beats.size(), 1u) << h.proc->output();
  ASSERT_GE(beats.size(), 12u) << h.proc->output();
  bool saw_assignment = false;
  for (const auto& b : beats) {
    EXPECT_EQ(b.key, "w1");
    auto status = nlohmann::json::parse(b.value);
    EXPECT_EQ(status["service"], "faulty");
    for (const char* counter : {"handled", "errors", "retries", "dead_letters", "duplicates", "delivery_retries",
                                "lost_replies"})
      EXPECT_TRUE(status.contains(counter)) << counter << " missing in " << b.value;
    saw_assignment |= status["partitions"].size() == static_cast<size_t>(memrun::test::kTestPartitions);
  }
  EXPECT_TRUE(saw_assignment) << beats.back().value;
  EXPECT_TRUE(h.proc->wait_for("heartbeat w1:", 5s).has_value());
  expect_clean_stop(h);
}

}  // namespace
