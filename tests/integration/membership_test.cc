// Static membership's one hard failure: a broker fences a worker whose
// group.instance.id another worker took over (FENCED_INSTANCE_ID, fatal for
// the consumer). The worker must not linger as a member that serves nothing:
// it drains, and memrun-host exits 2 (a configuration error, which its
// supervisor does not restart) naming the id and the fix. The mock ignores
// instance ids, so the broker's answer is injected on its Heartbeat API.
#include <memrun/embedded_kafka.hpp>

#include "support/host_process.hpp"
#include "support/mock_faults.hpp"
#include "support/temp_dir.hpp"

#include <gtest/gtest.h>

using namespace std::chrono_literals;

namespace {

constexpr int kExitUsage = 2;
constexpr int kHeartbeatApi = 12;
constexpr int kFencedInstanceId = 82;

TEST(StaticMembership, AFencedWorkerExitsNamingItsInstanceId) {
  memrun::EmbeddedKafka kafka(1);
  kafka.create_service_topics("echo", 4);
  memrun::test::TempDir dir("memrun-fenced");
  // Supervised, as deployed: the exit code below is the supervisor's too.
  auto h = memrun::test::start_worker(ECHO_PLUGIN, kafka.bootstrap_servers(), "f1",
                                      {"--instance-id", "pod-0", "--partitions", "4", "--metrics-address", "off",
                                       "--cache-root", dir.path});
  ASSERT_TRUE(memrun::test::wait_assigned(h)) << h.proc->output();
  memrun::test::fail_requests(kafka, kHeartbeatApi, 3, kFencedInstanceId);
  const auto code = h.proc->wait(60s);
  ASSERT_TRUE(code.has_value()) << "a fenced worker kept running:\n" << h.proc->output();
  EXPECT_EQ(*code, kExitUsage) << h.proc->output();
  const std::string out = h.proc->output();
  EXPECT_NE(out.find("instance id 'pod-0' is in use by another worker of group memrun-echo"), std::string::npos)
      << out;
  EXPECT_NE(out.find("give every worker its own --instance-id"), std::string::npos) << out;
  EXPECT_EQ(out.find("restarting in"), std::string::npos) << "the supervisor restarted a fenced worker:\n" << out;
}

}  // namespace
