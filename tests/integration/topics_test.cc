// Topics on a cluster the worker did not start: memrun-host checks them
// before it joins, and refuses a request topic whose partition count differs
// from the service's. librdkafka 2.0.2's mock cluster answers no Admin
// request, so what is proven here is the check and the errors; the creation
// path (CreateTopics) is proven only against a real broker (docs/deploying.md).
#include <memrun/embedded_kafka.hpp>
#include <memrun/protocol.hpp>
#include <memrun/topics.hpp>

#include "support/host_process.hpp"
#include "support/subprocess.hpp"
#include "support/temp_dir.hpp"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

using namespace std::chrono_literals;

namespace {

constexpr int kExitRuntime = 1;
constexpr int kExitUsage = 2;

class Topics : public testing::Test {
 protected:
  // memrun-host as a worker of `kafka_` (or of `bootstrap`), run to its exit.
  // Unsupervised: the exit code is the worker's own, not the supervisor's
  // after its restarts (a runtime failure is restarted with backoff).
  std::pair<int, std::string> run_host(const std::string& bootstrap, std::vector<std::string> extra = {}) {
    std::vector<std::string> argv{MEMRUN_HOST, "--plugin", ECHO_PLUGIN, "-b", bootstrap, "--worker-id", "t1",
                                  "--metrics-address", "off", "--cache-root", dir_.path, "--config", config_,
                                  "--no-supervise"};
    for (auto& f : memrun::test::fast_group_flags()) argv.push_back(f);
    argv.insert(argv.end(), extra.begin(), extra.end());
    return memrun::test::run(argv, 60s);
  }

  memrun::test::TempDir dir_{"memrun-topics"};
  // Short answers from a cluster that cannot create topics.
  std::string config_ = [this] {
    const std::string path = dir_.path + "/host.json";
    std::ofstream(path) << R"({"topics": {"timeout_ms": 2000}})";
    return path;
  }();
  memrun::EmbeddedKafka kafka_{1};
};

TEST_F(Topics, ARequestTopicWithAnotherPartitionCountIsAStartupError) {
  kafka_.create_service_topics("echo", 4);  // as a broker's auto-creation did
  auto [code, out] = run_host(kafka_.bootstrap_servers(), {"--partitions", "16"});
  EXPECT_EQ(code, kExitUsage) << out;
  for (const char* words : {"memrun.requests.echo has 4 partitions", "configured for 16", "--partitions 4",
                            "new name"})
    EXPECT_NE(out.find(words), std::string::npos) << words << "\n" << out;
  EXPECT_EQ(out.find("memrun-host: ready"), std::string::npos) << "it served anyway:\n" << out;
}

TEST_F(Topics, MatchingTopicsAreCheckedAndTheWorkerServes) {
  kafka_.create_service_topics("echo", 16);
  auto report = memrun::ensure_service_topics({kafka_.bootstrap_servers(), {}}, "echo", 16);
  EXPECT_TRUE(report.created.empty());
  EXPECT_EQ(report.existing.size(), 6u);
  memrun::test::HostProcess h = memrun::test::start_worker(ECHO_PLUGIN, kafka_.bootstrap_servers(), "t1",
                                                           {"--metrics-address", "off", "--cache-root", dir_.path,
                                                            // static membership configured (the mock ignores it)
                                                            "--instance-id", "t1-0"});
  memrun::test::expect_clean_stop(h);
}

TEST_F(Topics, ACheckFailsBeforeCreatingAnything) {
  kafka_.create_topic(memrun::protocol::request_topic("echo"), 4);  // the DLQ and others are missing
  try {
    memrun::TopicOptions quick;
    quick.timeout = 2000ms;
    memrun::ensure_service_topics({kafka_.bootstrap_servers(), {}}, "echo", 8, quick);
    FAIL() << "a mismatch was accepted";
  } catch (const memrun::Error& e) {
    EXPECT_EQ(e.code(), memrun::Code::kInvalidArgument) << e.what();
  }
}

// The mock has no controller, so CreateTopics times out: the error names the
// topics and says what to do, and the host exits as for any runtime failure.
TEST_F(Topics, MissingTopicsOnAClusterThatCannotCreateThemAreAClearError) {
  auto [code, out] = run_host(kafka_.bootstrap_servers(), {"--service", "fresh"});
  EXPECT_EQ(code, kExitRuntime) << out;
  EXPECT_NE(out.find("creating topics memrun.requests.fresh, memrun.dlq.fresh"), std::string::npos) << out;
  EXPECT_NE(out.find("made beforehand"), std::string::npos) << out;
}

TEST_F(Topics, AnUnreachableClusterIsARuntimeFailureNamingIt) {
  const std::string nobody = "127.0.0.1:1";  // nothing listens on port 1 here
  auto [code, out] = run_host(nobody);
  EXPECT_EQ(code, kExitRuntime) << out;
  EXPECT_NE(out.find("cannot reach Kafka at 127.0.0.1:1"), std::string::npos) << out;
}

TEST_F(Topics, BadOptionsAreRefusedBeforeAnyRequest) {
  EXPECT_THROW(memrun::ensure_service_topics({kafka_.bootstrap_servers(), {}}, "echo", 0), memrun::Error);
  memrun::TopicOptions no_replicas;
  no_replicas.replication_factor = 0;
  EXPECT_THROW(memrun::ensure_service_topics({kafka_.bootstrap_servers(), {}}, "echo", 4, no_replicas), memrun::Error);
  std::ofstream(config_) << R"({"topics": {"replication_factor": 0}})";
  auto [code, out] = run_host(kafka_.bootstrap_servers());
  EXPECT_EQ(code, kExitUsage) << out;
  EXPECT_NE(out.find("topics.replication_factor"), std::string::npos) << out;
}

// `memrun deploy -b` checks (or makes) the service's topics before it uploads:
// a partition count the workers would refuse is found before any runs.
class DeployTopics : public Topics {
 protected:
  // A package of the echo plugin named `service` with `partitions`.
  std::string package(const std::string& service, int partitions) {
    const std::string path = dir_.path + "/" + service + ".tar.zst";
    auto [code, out] = memrun::test::run({MEMRUN_CLI, "package", "--plugin", ECHO_PLUGIN, "--name", service,
                                          "--partitions", std::to_string(partitions), "-o", path},
                                         60s);
    EXPECT_EQ(code, 0) << out;
    return path;
  }
  // Runs in a directory of its own (env -C), which must stay empty: deploy
  // without --emit-kubernetes writes nothing where it runs.
  std::pair<int, std::string> deploy(const std::string& pkg, const std::string& bootstrap) {
    std::filesystem::create_directories(cwd_);
    auto result = memrun::test::run({"/usr/bin/env", "-C", cwd_, MEMRUN_CLI, "deploy", pkg, "--to",
                                     "file://" + store_ + "/", "-b", bootstrap, "--topics-timeout", "2"},
                                    60s);
    EXPECT_TRUE(std::filesystem::is_empty(cwd_)) << "deploy wrote into its working directory";
    return result;
  }
  bool uploaded() const { return std::filesystem::exists(store_) && !std::filesystem::is_empty(store_); }

  std::string store_ = dir_.path + "/store";
  std::string cwd_ = dir_.path + "/cwd";
};

TEST_F(DeployTopics, AMismatchRefusesTheDeployAndUploadsNothing) {
  kafka_.create_service_topics("echo4", 4);
  auto [code, out] = deploy(package("echo4", 16), kafka_.bootstrap_servers());
  EXPECT_EQ(code, kExitUsage) << out;
  EXPECT_NE(out.find("memrun.requests.echo4 has 4 partitions"), std::string::npos) << out;
  EXPECT_FALSE(uploaded()) << out;
}

TEST_F(DeployTopics, MatchingTopicsAreCheckedThenThePackageIsUploaded) {
  kafka_.create_service_topics("echo16", 16);
  auto [code, out] = deploy(package("echo16", 16), kafka_.bootstrap_servers());
  EXPECT_EQ(code, 0) << out;
  EXPECT_NE(out.find("0 created, 6 checked (16 partitions)"), std::string::npos) << out;
  EXPECT_TRUE(uploaded()) << out;
}

TEST_F(DeployTopics, AnUnreachableClusterFailsTheDeployUnlessTopicsAreSkipped) {
  const std::string pkg = package("echo16", 16);
  auto [code, out] = deploy(pkg, "127.0.0.1:1");
  EXPECT_EQ(code, kExitRuntime) << out;
  EXPECT_NE(out.find("cannot reach Kafka at 127.0.0.1:1"), std::string::npos) << out;
  EXPECT_FALSE(uploaded()) << out;
  auto [skipped, sout] = memrun::test::run(
      {MEMRUN_CLI, "deploy", pkg, "--to", "file://" + store_ + "/", "-b", "127.0.0.1:1", "--skip-topics"}, 60s);
  EXPECT_EQ(skipped, 0) << sout;
  EXPECT_TRUE(uploaded()) << sout;
}

}  // namespace
