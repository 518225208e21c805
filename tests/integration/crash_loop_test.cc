// A plugin that segfaults on one payload must not crash its service forever:
// the crash journal counts the deaths a request was running for, runs it
// alone after the first, and dead-letters it at max_crashes (default 2),
// counting deaths across the fleet (memrun.suspects.{service}), not per
// worker. The cluster lives in this test process so that workers can die.
#include <memrun/client.hpp>
#include <memrun/embedded_kafka.hpp>
#include <memrun/protocol.hpp>

#include "support/host_process.hpp"
#include "support/kafka_probe.hpp"

#include "support/temp_dir.hpp"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <future>
#include <vector>

using namespace std::chrono_literals;
using memrun::test::TempDir;

namespace {

class CrashLoop : public testing::Test {
 protected:
  void SetUp() override { kafka_.create_service_topics("crashy", memrun::test::kTestPartitions); }

  memrun::Client client() {
    memrun::ClientOptions options = memrun::test::client_options(kafka_.bootstrap_servers());
    options.timeout = 150s;
    return memrun::Client(options);
  }

  // 30 good requests and one poison request; every good one answered, the
  // poison dead-lettered after `deaths` deaths, and nothing else in the DLQ.
  void expect_outcome(std::vector<std::future<memrun::Response>>& normal, std::future<memrun::Response>& poison) {
    auto r = poison.get();
    EXPECT_FALSE(r.ok());
    EXPECT_EQ(r.code, memrun::Code::kInternal);
    EXPECT_NE(r.error.find("died 2 times"), std::string::npos) << r.error;
    int ok = 0;
    for (auto& f : normal) {
      auto n = f.get();
      EXPECT_TRUE(n.ok()) << memrun::code_name(n.code) << ": " << n.error;
      ok += n.ok();
    }
    EXPECT_EQ(ok, 30);
    auto dead = probe_.read_topic(memrun::protocol::dlq_topic("crashy"), memrun::test::kTestPartitions, 1, 30s);
    ASSERT_EQ(dead.size(), 1u);
    EXPECT_EQ(dead[0].headers.at("memrun-dlq-error-class"), "crash_loop");
    EXPECT_EQ(dead[0].headers.at("memrun-dlq-attempts"), "2");
    EXPECT_NE(dead[0].value.find("poison"), std::string::npos);
  }

  // A host on a machine of its own: its own cache root.
  memrun::test::HostProcess start_on(const TempDir& root, const std::string& worker_id,
                                     const std::vector<std::string>& extra = {}) {
    std::vector<std::string> flags{"--heartbeat-interval", "0", "--metrics-address", "off", "--cache-root", root.path};
    flags.insert(flags.end(), extra.begin(), extra.end());
    return memrun::test::start_worker(CRASHY_PLUGIN, kafka_.bootstrap_servers(), worker_id, flags);
  }

  // A host started with --max-restarts 0 exits 1 after its worker's first death.
  static void expect_gives_up(memrun::test::HostProcess& host) {
    auto code = host.proc->wait(150s);
    ASSERT_TRUE(code.has_value()) << "the host did not give up:\n" << host.proc->output();
    ASSERT_EQ(*code, 1) << host.proc->output();
  }

  memrun::EmbeddedKafka kafka_{3};
  memrun::test::KafkaProbe probe_{kafka_.bootstrap_servers()};
  TempDir cache_{"memrun-crash"};
  const std::vector<std::string> flags_{"--cache-root", cache_.path, "--heartbeat-interval", "0",
                                        "--metrics-address", "off"};
};

void submit(memrun::Client& c, std::vector<std::future<memrun::Response>>& normal,
            std::future<memrun::Response>& poison) {
  for (int i = 0; i < 30; ++i) normal.push_back(c.submit("crashy", {{"k", "user-" + std::to_string(i)}, {"i", i}}));
  poison = c.submit("crashy", {{"k", "user-x"}, {"poison", true}});
}

// The host restarts its own worker: no outside help, one host process.
TEST_F(CrashLoop, TheHostRestartsItsWorkerUntilThePoisonIsDeadLettered) {
  auto host = memrun::test::start_worker(CRASHY_PLUGIN, kafka_.bootstrap_servers(), "w0", flags_);
  auto c = client();
  std::vector<std::future<memrun::Response>> normal;
  std::future<memrun::Response> poison;
  const auto sent = std::chrono::steady_clock::now();
  submit(c, normal, poison);
  ASSERT_EQ(poison.wait_for(150s), std::future_status::ready) << host.proc->output();
  const double took = std::chrono::duration<double>(std::chrono::steady_clock::now() - sent).count();
  EXPECT_FALSE(host.proc->wait(0ms).has_value()) << "the host itself exited:\n" << host.proc->output();
  expect_outcome(normal, poison);
  std::printf("supervised crash loop: poison dead-lettered %.1f s after it was sent, 30 of 30 others answered\n",
              took);
  memrun::test::expect_clean_stop(host);
}

// --no-supervise: whatever runs the host (systemd, a test) restarts it.
TEST_F(CrashLoop, AnUnsupervisedWorkerRestartedFromOutsideDeadLettersThePoisonAfterTwoDeaths) {
  std::vector<std::string> flags = flags_;
  flags.push_back("--no-supervise");
  auto worker = memrun::test::start_worker(CRASHY_PLUGIN, kafka_.bootstrap_servers(), "w0", flags);
  auto c = client();
  std::vector<std::future<memrun::Response>> normal;
  std::future<memrun::Response> poison;
  submit(c, normal, poison);
  int deaths = 0;
  for (int run = 1; run <= 4; ++run) {
    bool died = false;
    while (poison.wait_for(100ms) != std::future_status::ready) {
      if (worker.proc->wait(0ms)) {
        died = true;
        break;
      }
    }
    if (!died) break;
    ++deaths;
    worker = memrun::test::start_worker(CRASHY_PLUGIN, kafka_.bootstrap_servers(), "w" + std::to_string(run), flags);
  }
  EXPECT_EQ(deaths, 2);
  expect_outcome(normal, poison);
  memrun::test::expect_clean_stop(worker);
}

// How many worker processes a host started: each announces itself ready once.
int workers_started(memrun::test::HostProcess& host) {
  const std::string out = host.proc->output();
  int n = 0;
  for (size_t at = out.find("memrun-host: ready"); at != std::string::npos; at = out.find("memrun-host: ready", at + 1))
    ++n;
  return n;
}

// Two hosts, each with its own cache root (two machines). The poison kills
// host a's worker once, and a gives up (--max-restarts 0), so the request
// moves to host b, which has never seen it: b must know of a's death from
// memrun.suspects.crashy and dead-letter it after one death of its own, 2 in
// all, not after two more deaths of its own (3 in all).
TEST_F(CrashLoop, APoisonIsDeadLetteredAfterMaxCrashesDeathsAcrossTheFleet) {
  TempDir root_a("memrun-crash-a"), root_b("memrun-crash-b");
  auto a = start_on(root_a, "a", {"--max-restarts", "0"});
  auto c = client();
  std::vector<std::future<memrun::Response>> normal;
  std::future<memrun::Response> poison;
  ASSERT_TRUE(memrun::test::wait_assigned(a)) << a.proc->output();
  submit(c, normal, poison);
  ASSERT_NO_FATAL_FAILURE(expect_gives_up(a));  // a's worker died on the poison: one death
  const auto first_death = std::chrono::steady_clock::now();
  ASSERT_EQ(workers_started(a), 1) << a.proc->output();

  auto b = start_on(root_b, "b");
  ASSERT_EQ(poison.wait_for(150s), std::future_status::ready) << b.proc->output();
  const double took = std::chrono::duration<double>(std::chrono::steady_clock::now() - first_death).count();
  std::printf("fleet crash loop: poison dead-lettered %.1f s after the first death; host b started %d worker(s)\n",
              took, workers_started(b));
  EXPECT_FALSE(b.proc->wait(0ms).has_value()) << "host b itself exited:\n" << b.proc->output();
  // b's worker died once (a restart): 2 deaths across the fleet.
  EXPECT_EQ(workers_started(b), 2) << b.proc->output();
  expect_outcome(normal, poison);
  memrun::test::expect_clean_stop(b);
}

// Without a supervisor (systemd or Kubernetes restarts the process; the cache
// root survives), the next process in the dead one's journal slot publishes
// the death before it joins the group. Worker a runs unsupervised and dies on
// the poison; a host on a's cache root then publishes that death at start,
// dies once more on the poison and gives up; host b must then know of both
// deaths and dead-letter the poison without dying at all.
TEST_F(CrashLoop, ADeathWithoutASupervisorIsPublishedByTheNextProcessInItsSlot) {
  TempDir root_a("memrun-crash-a"), root_b("memrun-crash-b");
  auto a = start_on(root_a, "a", {"--no-supervise"});
  auto c = client();
  std::vector<std::future<memrun::Response>> normal;
  std::future<memrun::Response> poison;
  ASSERT_TRUE(memrun::test::wait_assigned(a)) << a.proc->output();
  submit(c, normal, poison);
  ASSERT_TRUE(a.proc->wait(150s).has_value()) << "worker a did not die:\n" << a.proc->output();

  auto a2 = start_on(root_a, "a2", {"--max-restarts", "0"});
  ASSERT_NO_FATAL_FAILURE(expect_gives_up(a2));

  auto b = start_on(root_b, "b");
  ASSERT_EQ(poison.wait_for(150s), std::future_status::ready) << b.proc->output();
  EXPECT_EQ(workers_started(b), 1) << "b's worker died:\n" << b.proc->output();
  expect_outcome(normal, poison);
  memrun::test::expect_clean_stop(b);
}

// A worker that keeps dying: the host gives up (exit 1) so that systemd or
// Kubernetes take over, instead of restarting forever.
TEST_F(CrashLoop, TheHostGivesUpAfterMaxRestartsWithinItsWindow) {
  std::vector<std::string> flags = flags_;
  flags.insert(flags.end(), {"--max-restarts", "1", "--restart-window", "600"});
  auto host = memrun::test::start_worker(CRASHY_PLUGIN, kafka_.bootstrap_servers(), "w0", flags);
  auto c = client();
  std::vector<std::future<memrun::Response>> normal;
  std::future<memrun::Response> poison;
  submit(c, normal, poison);  // the first death is restarted, the second is one too many
  auto code = host.proc->wait(150s);
  ASSERT_TRUE(code.has_value()) << "the host kept restarting:\n" << host.proc->output();
  EXPECT_EQ(*code, 1) << host.proc->output();
}

}  // namespace
