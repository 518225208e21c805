// memrun-host as a real process on an embedded (mock) Kafka cluster over TCP,
// called through memrun::Client.
#include <memrun/client.hpp>
#include <memrun/protocol.hpp>
#include <memrun/routing.hpp>

#include "support/host_process.hpp"
#include "support/kafka_probe.hpp"
#include "support/subprocess.hpp"

#include <gtest/gtest.h>

#include <filesystem>
#include <nlohmann/json.hpp>

#include <csignal>
#include <fstream>
#include <map>
#include <set>
#include <thread>

using namespace std::chrono_literals;

namespace {

using memrun::test::client_options;
using memrun::test::expect_clean_stop;
using memrun::test::HostProcess;
using memrun::test::start_host;
constexpr int kPartitions = memrun::test::kTestPartitions;

class EndToEnd : public testing::TestWithParam<std::pair<std::string, std::string>> {};

TEST_P(EndToEnd, TwoHundredRequestsOverFortyKeysStickToOnePartitionEach) {
  const auto& [service, plugin] = GetParam();
  HostProcess h = start_host(plugin);
  memrun::Client client(client_options(h.bootstrap));
  std::vector<std::future<memrun::Response>> futures;
  for (int i = 0; i < 200; ++i)
    futures.push_back(client.submit(service, {{"user_id", i % 40}, {"seq", i}}));
  std::map<std::string, std::set<int32_t>> partitions_of_key;
  std::set<std::string> workers;
  for (int i = 0; i < 200; ++i) {
    memrun::Response r = futures[static_cast<size_t>(i)].get();
    ASSERT_TRUE(r.ok()) << i << ": " << memrun::code_name(r.code) << " " << r.error;
    auto body = nlohmann::json::parse(r.body);
    EXPECT_EQ(body["echo"]["seq"], i);
    EXPECT_EQ(body["echo"]["user_id"], i % 40);
    EXPECT_EQ(r.key, std::to_string(i % 40));
    // The partition Kafka chose is the Java partitioner's.
    EXPECT_EQ(r.partition, memrun::kafka_partition(r.key, kPartitions));
    partitions_of_key[r.key].insert(r.partition);
    workers.insert(r.worker_id);
  }
  EXPECT_EQ(partitions_of_key.size(), 40u);
  for (const auto& [key, parts] : partitions_of_key) EXPECT_EQ(parts.size(), 1u) << key;
  EXPECT_EQ(workers, std::set<std::string>{"w1"});
  expect_clean_stop(h);
}

INSTANTIATE_TEST_SUITE_P(Plugins, EndToEnd,
                         testing::Values(std::make_pair(std::string("echo"), std::string(ECHO_PLUGIN)),
                                         std::make_pair(std::string("c_echo"), std::string(C_ECHO_PLUGIN))),
                         [](const auto& info) { return info.param.first; });

TEST(BadInput, ErrorsAreRepliedCommittedAndTheWorkerKeepsServing) {
  std::string config = testing::TempDir() + "/bad_input_config.json";
  { std::ofstream(config) << R"({"service": {"max_payload_bytes": 1024}})"; }
  HostProcess h = start_host(ECHO_PLUGIN, {"--config", config});
  memrun::test::KafkaProbe probe(h.bootstrap);
  const std::string topic = memrun::protocol::request_topic("echo");
  probe.send(topic, "1", "this is not json", "r-notjson");
  probe.send(topic, "2", R"({"no_user_id": true})", "r-nokey");
  probe.send(topic, "3", R"({"user_id": 3, "pad": ")" + std::string(2000, 'x') + "\"}", "r-big");
  probe.send(topic, "4", R"([1, 2, 3])", "r-array");
  probe.send(topic, "5", R"({"user_id": 5, "fail": "please"})", "r-handler");
  probe.send(topic, "6", R"({"user_id": 6})", "r-expired", /*deadline_ms=*/1);
  // Malformed deadlines are refused, not ignored (docs/protocol.md, Deadlines).
  probe.send_with_deadline(topic, "8", R"({"user_id": 8})", "r-deadline-negative", "-5");
  probe.send_with_deadline(topic, "9", R"({"user_id": 9})", "r-deadline-word", "soon");
  probe.send(topic, "7", R"({"user_id": 7})", "r-good");
  auto replies = probe.collect({"r-notjson", "r-nokey", "r-big", "r-array", "r-handler", "r-expired",
                                "r-deadline-negative", "r-deadline-word", "r-good"},
                               60s);
  ASSERT_EQ(replies.size(), 9u) << h.proc->output();
  auto expect_error = [&](const std::string& id, const std::string& code, const std::string& fragment) {
    const auto& r = replies.at(id);
    EXPECT_EQ(r.status, "error") << id;
    EXPECT_EQ(r.error_code, code) << id << " " << r.value;
    EXPECT_NE(r.value.find(fragment), std::string::npos) << id << " " << r.value;
  };
  expect_error("r-notjson", "invalid_argument", "not valid JSON");
  expect_error("r-nokey", "invalid_argument", "'user_id'");
  expect_error("r-big", "invalid_argument", "max_payload_bytes");
  expect_error("r-array", "invalid_argument", "JSON object");
  expect_error("r-handler", "invalid_argument", "asked to fail");
  expect_error("r-expired", "deadline_exceeded", "expired");
  expect_error("r-deadline-negative", "invalid_argument", "memrun-deadline-ms '-5'");
  expect_error("r-deadline-word", "invalid_argument", "memrun-deadline-ms 'soon'");
  EXPECT_EQ(replies.at("r-good").status, "ok");

  // Everything above was committed past: the group's offsets reach the end.
  // A fresh request still goes through after the bad ones.
  memrun::Client client(client_options(h.bootstrap));
  auto r = client.submit("echo", {{"user_id", 99}}).get();
  EXPECT_TRUE(r.ok()) << r.error;
  EXPECT_TRUE(probe.wait_committed("memrun-echo", topic, kPartitions, 30s)) << h.proc->output();
  expect_clean_stop(h);
}

// The worker calls a plugin's on_assign (ABI 1.1) with what it was given,
// off the poll thread; the SDK test plugin keeps the list for the "assigned" op.
TEST(OnAssign, PluginHearsOfItsPartitions) {
  HostProcess h = start_host(SDK_PLUGIN);
  ASSERT_TRUE(memrun::test::wait_assigned(h)) << h.proc->output();
  memrun::Client client(client_options(h.bootstrap));
  memrun::Response r;
  for (int i = 0; i < 50; ++i) {  // the hook may still be running: not_found until it stored the list
    r = client.submit("sdk_test", {{"k", "a"}, {"op", "assigned"}}).get();
    if (r.ok()) break;
    std::this_thread::sleep_for(100ms);
  }
  ASSERT_TRUE(r.ok()) << r.error;
  EXPECT_EQ(nlohmann::json::parse(r.body)["partitions"].size(), static_cast<size_t>(memrun::test::kTestPartitions));
  EXPECT_NE(h.proc->output().find("on_assign for partitions"), std::string::npos) << h.proc->output();
  expect_clean_stop(h);
}

TEST(Client, RefusesPayloadWithoutStickyFieldNamingIt) {
  HostProcess h = start_host(ECHO_PLUGIN);
  memrun::Client client(client_options(h.bootstrap));
  try {
    client.submit("echo", {{"dataset", 1}});
    FAIL();
  } catch (const memrun::Error& e) {
    EXPECT_EQ(e.code(), memrun::Code::kInvalidArgument);
    EXPECT_NE(std::string(e.what()).find("'user_id'"), std::string::npos) << e.what();
  }
  // Unknown services are a clear error, not a hang.
  try {
    client.submit("nosuchservice", {{"a", 1}});
    FAIL();
  } catch (const memrun::Error& e) {
    EXPECT_EQ(e.code(), memrun::Code::kNotFound);
  }
  expect_clean_stop(h);
}

TEST(Cli, InvokeFromTheShell) {
  HostProcess h = start_host(ECHO_PLUGIN);
  auto [code, out] = memrun::test::run({MEMRUN_CLI, "invoke", "echo", R"({"user_id": "u-1", "q": 1})", "-b",
                                        h.bootstrap, "--route"},
                                       60s);
  EXPECT_EQ(code, 0) << out;
  EXPECT_NE(out.find(R"("q":1)"), std::string::npos) << out;
  EXPECT_NE(out.find("partition=" + std::to_string(memrun::kafka_partition("u-1", kPartitions))), std::string::npos)
      << out;
  auto [bad_code, bad_out] =
      memrun::test::run({MEMRUN_CLI, "invoke", "echo", R"({"nokey": 1})", "-b", h.bootstrap}, 60s);
  EXPECT_EQ(bad_code, 2) << bad_out;
  EXPECT_NE(bad_out.find("'user_id'"), std::string::npos) << bad_out;
  auto [err_code, err_out] = memrun::test::run(
      {MEMRUN_CLI, "invoke", "echo", R"({"user_id": 1, "fail": 1})", "-b", h.bootstrap}, 60s);
  EXPECT_EQ(err_code, 1) << err_out;
  EXPECT_NE(err_out.find("invalid_argument"), std::string::npos) << err_out;
  expect_clean_stop(h);
}

TEST(HostExit, LoaderFailuresExitNonZeroWithMessage) {
  struct Case {
    std::string plugin;
    int code;
    std::string fragment;
  };
  for (const auto& c : std::vector<Case>{{"/nonexistent/plugin.so", 3, "plugin file not found"},
                                         {BROKEN_NO_ENTRY, 3, "memrun_plugin_entry"},
                                         {BROKEN_ABI_MAJOR, 3, "ABI 99.3"},
                                         {BROKEN_TOO_SMALL, 3, "at least"},
                                         {BROKEN_INIT_FAILS, 1, "database unreachable"}}) {
    // The init handler runs once the topics are checked: its case needs a cluster.
    const bool needs_kafka = std::string(c.plugin) == BROKEN_INIT_FAILS;
    auto [code, out] = memrun::test::run(
        {MEMRUN_HOST, "--plugin", c.plugin, needs_kafka ? "--embedded-kafka" : "-b", needs_kafka ? "--brokers=1" : "127.0.0.1:9"},
        30s);
    EXPECT_EQ(code, c.code) << c.plugin << "\n" << out;
    EXPECT_NE(out.find(c.fragment), std::string::npos) << c.plugin << "\n" << out;
  }
  auto [code, out] = memrun::test::run({MEMRUN_HOST}, 30s);
  EXPECT_EQ(code, 2) << out;
  EXPECT_NE(out.find("--plugin"), std::string::npos) << out;
}

// A config file is checked before anything starts: S3 secrets only in a
// file nobody else can read, and no half-given credentials.
TEST(HostExit, ConfigFileS3SettingsAreChecked) {
  const std::string dir = testing::TempDir() + "/memrun_s3_config";
  std::filesystem::create_directories(dir);
  struct Case {
    std::string json;
    std::filesystem::perms mode;
    std::string fragment;
  };
  using P = std::filesystem::perms;
  for (const auto& c : std::vector<Case>{
           {R"({"s3": {"access_key_id": "AKIDEXAMPLE", "secret_access_key": "wJalrXUtnFEMI"}})",
            P::owner_read | P::owner_write | P::group_read | P::others_read, "chmod 600"},
           {R"({"s3": {"access_key_id": "AKIDEXAMPLE"}})", P::owner_read | P::owner_write, "go together"},
           {R"({"s3": {"bucket": "x"}})", P::owner_read | P::owner_write, "unknown key 's3.bucket'"},
       }) {
    const std::string config = dir + "/host.json";
    { std::ofstream(config) << c.json; }
    std::filesystem::permissions(config, c.mode);
    auto [code, out] = memrun::test::run({MEMRUN_HOST, "--plugin", ECHO_PLUGIN, "--config", config, "-b", "127.0.0.1:9"}, 30s);
    EXPECT_EQ(code, 2) << c.json << "\n" << out;
    EXPECT_NE(out.find(c.fragment), std::string::npos) << c.json << "\n" << out;
    EXPECT_EQ(out.find("wJalrXUtnFEMI"), std::string::npos) << "the secret was printed:\n" << out;
  }
  std::filesystem::remove_all(dir);
}

}  // namespace
