// Misrouted requests on a real worker: a record keyed unlike its payload's
// sticky key (a hand-written producer's mistake) is counted on /metrics and
// served, or refused with invalid_argument under strict_routing.
#include <memrun/embedded_kafka.hpp>
#include <memrun/protocol.hpp>

#include "support/host_process.hpp"
#include "support/kafka_probe.hpp"
#include "support/temp_dir.hpp"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <fstream>

using namespace std::chrono_literals;

namespace {

constexpr int kPartitions = 8;
const std::string kTopic = memrun::protocol::request_topic("faulty");

class Routing : public testing::Test {
 protected:
  void SetUp() override { kafka_.create_service_topics("faulty", kPartitions); }

  // A worker of the faulty plugin (sticky key "k") with `service` overrides.
  memrun::test::HostProcess start(const nlohmann::json& service) {
    const std::string config = dir_.path + "/host.json";
    std::ofstream(config) << nlohmann::json{{"service", service}}.dump();
    auto h = memrun::test::start_worker(FAULTY_PLUGIN, kafka_.bootstrap_servers(), "r1",
                                        {"--config", config, "--partitions", std::to_string(kPartitions),
                                         "--heartbeat-interval", "0", "--metrics-address", "127.0.0.1:0",
                                         "--cache-root", dir_.path + "/cache"});
    EXPECT_TRUE(memrun::test::wait_assigned(h)) << h.proc->output();
    return h;
  }

  double misrouted(memrun::test::HostProcess& h) {
    return memrun::test::scrape_metrics(memrun::test::metrics_port(h))["memrun_misrouted_requests_total{}"];
  }

  memrun::test::TempDir dir_{"memrun-routing"};
  memrun::EmbeddedKafka kafka_{1};
  memrun::test::KafkaProbe probe_{kafka_.bootstrap_servers()};
};

TEST_F(Routing, AMisroutedRequestIsCountedAndServed) {
  auto w = start(nlohmann::json::object());
  probe_.send(kTopic, "u1", R"({"k":"u1","op":"count","id":"a"})", "keyed");
  probe_.send(kTopic, "someone-else", R"({"k":"u1","op":"count","id":"b"})", "misrouted");
  auto replies = probe_.collect({"keyed", "misrouted"}, 60s);
  ASSERT_EQ(replies.size(), 2u) << w.proc->output();
  EXPECT_EQ(replies["keyed"].status, "ok");
  EXPECT_EQ(replies["misrouted"].status, "ok") << replies["misrouted"].value;
  EXPECT_EQ(misrouted(w), 1) << w.proc->output();
  memrun::test::expect_clean_stop(w);
}

TEST_F(Routing, StrictRoutingRefusesAMisroutedRequest) {
  auto w = start(nlohmann::json{{"strict_routing", true}});
  probe_.send(kTopic, "someone-else", R"({"k":"u1","op":"count","id":"b"})", "misrouted");
  probe_.send(kTopic, "u1", R"({"k":"u1","op":"count","id":"a"})", "keyed");
  auto replies = probe_.collect({"keyed", "misrouted"}, 60s);
  ASSERT_EQ(replies.size(), 2u) << w.proc->output();
  EXPECT_EQ(replies["misrouted"].status, "error");
  EXPECT_EQ(replies["misrouted"].error_code, "invalid_argument");
  EXPECT_NE(replies["misrouted"].value.find("sticky key 'u1'"), std::string::npos) << replies["misrouted"].value;
  EXPECT_EQ(replies["keyed"].status, "ok") << replies["keyed"].value;
  EXPECT_EQ(misrouted(w), 1) << w.proc->output();
  memrun::test::expect_clean_stop(w);
}

}  // namespace
