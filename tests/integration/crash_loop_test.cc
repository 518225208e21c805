// A plugin that segfaults on one payload must not crash its service forever:
// the crash journal counts the deaths a request was running for, runs it
// alone after the first, and dead-letters it at max_crashes (default 2).
// The cluster lives in this test process so that workers can die.
#include <memrun/client.hpp>
#include <memrun/embedded_kafka.hpp>
#include <memrun/protocol.hpp>

#include "support/host_process.hpp"
#include "support/kafka_probe.hpp"

#include "support/temp_dir.hpp"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <cstdlib>
#include <filesystem>
#include <future>
#include <vector>

using namespace std::chrono_literals;
using memrun::test::TempDir;

namespace {

TEST(CrashLoop, ARequestThatKillsTheWorkerIsDeadLetteredAfterTwoDeathsAndTheRestAreAnswered) {
  memrun::EmbeddedKafka kafka(3);
  kafka.create_service_topics("crashy", memrun::test::kTestPartitions);
  memrun::test::KafkaProbe probe(kafka.bootstrap_servers());
  TempDir cache("memrun-crash");
  const std::vector<std::string> flags{"--cache-root", cache.path, "--heartbeat-interval", "0"};

  auto worker = memrun::test::start_worker(CRASHY_PLUGIN, kafka.bootstrap_servers(), "w0", flags);
  memrun::ClientOptions options = memrun::test::client_options(kafka.bootstrap_servers());
  options.timeout = 150s;
  memrun::Client client(options);
  std::vector<std::future<memrun::Response>> normal;
  for (int i = 0; i < 30; ++i) normal.push_back(client.submit("crashy", {{"k", "user-" + std::to_string(i)}, {"i", i}}));
  auto poison = client.submit("crashy", {{"k", "user-x"}, {"poison", true}});

  int deaths = 0;
  for (int run = 1; run <= 4; ++run) {
    bool died = false;
    while (poison.wait_for(100ms) != std::future_status::ready) {
      if (auto code = worker.proc->wait(0ms)) {
        died = true;
        break;
      }
    }
    if (!died) break;
    ++deaths;
    worker = memrun::test::start_worker(CRASHY_PLUGIN, kafka.bootstrap_servers(), "w" + std::to_string(run), flags);
  }
  EXPECT_EQ(deaths, 2);

  auto r = poison.get();
  EXPECT_FALSE(r.ok);
  EXPECT_EQ(r.code, memrun::Code::kInternal);
  EXPECT_NE(r.error.find("died 2 times"), std::string::npos) << r.error;
  int ok = 0;
  for (auto& f : normal) {
    auto n = f.get();
    EXPECT_TRUE(n.ok) << memrun::code_name(n.code) << ": " << n.error;
    ok += n.ok;
  }
  EXPECT_EQ(ok, 30);

  auto dead = probe.read_topic(memrun::protocol::dlq_topic("crashy"), memrun::test::kTestPartitions, 1, 30s);
  ASSERT_EQ(dead.size(), 1u);
  EXPECT_EQ(dead[0].headers.at("memrun-dlq-error-class"), "crash_loop");
  EXPECT_EQ(dead[0].headers.at("memrun-dlq-attempts"), "2");
  EXPECT_NE(dead[0].value.find("poison"), std::string::npos);
  std::printf("crash loop: %d worker deaths, poison request dead-lettered, %d of 30 others answered\n", deaths, ok);
  memrun::test::expect_clean_stop(worker);
}

}  // namespace
