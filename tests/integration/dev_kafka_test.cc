// `memrun dev-kafka`: the mock cluster as a process of its own, which outlives
// the workers on it. A worker killed with SIGKILL takes nothing with it: the
// cluster, its topics and the group stay, and the next worker serves.
#include <memrun/client.hpp>

#include "support/host_process.hpp"
#include "support/subprocess.hpp"
#include "support/temp_dir.hpp"
#include "support/wait.hpp"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <csignal>
#include <filesystem>
#include <fstream>

using namespace std::chrono_literals;

namespace {

constexpr int kExitUsage = 2;

class DevKafka : public testing::Test {
 protected:
  // Starts `memrun dev-kafka` and waits for the bootstrap file it writes.
  std::string start(const std::vector<std::string>& extra) {
    std::vector<std::string> argv{MEMRUN_CLI, "dev-kafka", "--bootstrap-file", bootstrap_file_};
    argv.insert(argv.end(), extra.begin(), extra.end());
    cluster_ = std::make_unique<memrun::test::Subprocess>(argv);
    const bool up = memrun::test::wait_until([&] { return std::filesystem::exists(bootstrap_file_); }, 30s);
    if (!up) throw std::runtime_error("dev-kafka wrote no bootstrap file:\n" + cluster_->output());
    std::string bootstrap;
    std::getline(std::ifstream(bootstrap_file_), bootstrap);
    return bootstrap;
  }

  memrun::test::TempDir dir_{"memrun-dev-kafka"};
  std::string bootstrap_file_ = dir_.path + "/bootstrap";
  std::unique_ptr<memrun::test::Subprocess> cluster_;
};

memrun::Response call(const std::string& bootstrap, const std::string& key) {
  memrun::ClientOptions options = memrun::test::client_options(bootstrap);
  memrun::Client client(options);
  return client.submit("echo", nlohmann::json{{"user_id", key}}).get();
}

TEST_F(DevKafka, OutlivesAWorkerKilledWithSigkill) {
  const std::string bootstrap = start({"--brokers", "1", "--service", "echo:16"});
  ASSERT_NE(bootstrap.find("127.0.0.1:"), std::string::npos) << bootstrap;
  // The same address is the first line on stdout, for a shell to read.
  EXPECT_EQ(cluster_->wait_for("127.0.0.1:", 5s).value_or(""), bootstrap.substr(bootstrap.find(':') + 1));

  const std::vector<std::string> unsupervised{"--no-supervise", "--metrics-address", "off", "--heartbeat-interval",
                                              "0"};
  auto first = memrun::test::start_worker(ECHO_PLUGIN, bootstrap, "w1", unsupervised);
  auto r1 = call(bootstrap, "a");
  ASSERT_TRUE(r1.ok()) << r1.error << "\n" << first.proc->output();

  first.proc->signal(SIGKILL);
  ASSERT_TRUE(first.proc->wait(30s).has_value());

  // The topics the worker checked at start are still there for the next one,
  // which would otherwise refuse to start (the mock creates no topics).
  auto second = memrun::test::start_worker(ECHO_PLUGIN, bootstrap, "w2", unsupervised);
  ASSERT_TRUE(memrun::test::wait_assigned(second)) << second.proc->output();
  auto r2 = call(bootstrap, "a");
  ASSERT_TRUE(r2.ok()) << r2.error << "\n" << second.proc->output();
  EXPECT_EQ(r2.worker_id, "w2");
  memrun::test::expect_clean_stop(second);

  cluster_->signal(SIGTERM);
  EXPECT_EQ(cluster_->wait(30s), 0) << cluster_->output();
  EXPECT_FALSE(std::filesystem::exists(bootstrap_file_)) << "a stale address was left behind";
}

// A worker whose cluster died still stops when told: its commit and its
// leaving the group wait a bounded time for a coordinator that is gone
// (librdkafka's own close would wait forever).
TEST_F(DevKafka, AWorkerWhoseClusterIsGoneStillStops) {
  const std::string bootstrap = start({"--brokers", "1", "--service", "echo:4"});
  auto w = memrun::test::start_worker(ECHO_PLUGIN, bootstrap, "w1",
                                      {"--no-supervise", "--metrics-address", "off", "--heartbeat-interval", "0",
                                       "--partitions", "4"});
  ASSERT_TRUE(memrun::test::wait_assigned(w)) << w.proc->output();
  auto r = call(bootstrap, "a");  // something to commit at the stop
  ASSERT_TRUE(r.ok()) << r.error << "\n" << w.proc->output();

  // The cluster goes while the worker starts leaving the group (as when both
  // are stopped at once): the leave was sent and is never answered.
  w.proc->signal(SIGTERM);
  cluster_->signal(SIGKILL);
  ASSERT_TRUE(cluster_->wait(30s).has_value());
  // Bounded by the drain timeout (10 s) for the commit and again for leaving.
  const auto code = w.proc->wait(90s);
  ASSERT_TRUE(code.has_value()) << "the worker hangs without its cluster:\n" << w.proc->output();
  EXPECT_EQ(*code, 0) << w.proc->output();
}

TEST_F(DevKafka, AMalformedServiceIsAUsageError) {
  for (const char* spec : {"echo", "echo:0", ":4", "echo:many"}) {
    auto [code, out] = memrun::test::run({MEMRUN_CLI, "dev-kafka", "--service", spec}, 30s);
    EXPECT_EQ(code, kExitUsage) << spec << "\n" << out;
    EXPECT_NE(out.find("NAME:PARTITIONS"), std::string::npos) << out;
  }
}

}  // namespace
