// A rolling upgrade under steady load: three workers run package v1; one by
// one each is stopped (SIGTERM: drain, commit, leave) and replaced by a
// worker on package v2 with the same cache root, while a client keeps
// sending requests over 24 datasets. Required: no request lost, every reply
// from v1 or v2, all from v2 at the end. Reported: duplicate replies, and how
// many requests the roll sent to a cold worker (their dataset fetched from
// the source again) against those served from a surviving disk cache.
//
// librdkafka's mock cluster ignores static membership, so here every stop
// and start is a rebalance and partitions visit other workers meanwhile; on a
// real broker with --instance-id the partitions wait for their worker
// (docs/deploying.md). The cold count printed here is the mock's worst case.
#include <memrun/client.hpp>
#include <memrun/embedded_kafka.hpp>
#include <memrun/plugin.h>
#include <memrun/protocol.hpp>

#include "support/host_process.hpp"
#include "support/kafka_probe.hpp"
#include "support/subprocess.hpp"
#include "support/temp_dir.hpp"
#include "support/wait.hpp"

#include <fmt/format.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <atomic>
#include <csignal>
#include <filesystem>
#include <fstream>
#include <map>
#include <regex>
#include <thread>

using namespace std::chrono_literals;

namespace {

constexpr int kWorkers = 3;
constexpr int kKeys = 24;
constexpr int kPartitions = 12;
constexpr int kClients = 6;
const std::string kService = "roll";

struct Outcome {
  bool ok = false;
  std::string error;
  std::string version;
  int tier = -1;  // MEMRUN_TIER_* of the dataset
  std::string worker;
};

class RollingUpgrade : public testing::Test {
 protected:
  void SetUp() override {
    kafka_.create_service_topics(kService, kPartitions);
    std::filesystem::create_directories(data_);
    for (int i = 0; i < kKeys; ++i)
      std::ofstream(data_ + "/ds-" + std::to_string(i) + ".bin") << std::string(64 << 10, static_cast<char>('a' + i));
    std::ofstream(config_) << nlohmann::json{{"file_roots", {data_}}}.dump();
  }

  // Packages the SDK test plugin with data/version.txt = `version` and
  // deploys it to a local store; returns the pinned URL deploy printed.
  std::string release(const std::string& version) {
    const std::string src = dir_.path + "/" + version;
    std::filesystem::create_directories(src);
    std::ofstream(src + "/version.txt") << version;
    const std::string pkg = src + "/roll.tar.zst";
    auto [pcode, pout] = memrun::test::run({MEMRUN_CLI, "package", "--plugin", SDK_PLUGIN, "--name", kService,
                                            "--partitions", std::to_string(kPartitions), "--max-workers",
                                            std::to_string(kWorkers), "--data", src + "/version.txt", "-o", pkg},
                                           60s);
    EXPECT_EQ(pcode, 0) << pout;
    auto [dcode, dout] = memrun::test::run({MEMRUN_CLI, "deploy", pkg, "--to", "file://" + dir_.path + "/store/"}, 60s);
    EXPECT_EQ(dcode, 0) << dout;
    std::smatch m;
    EXPECT_TRUE(std::regex_search(dout, m, std::regex(R"(file://\S+#sha256=[0-9a-f]{64})"))) << dout;
    return m.empty() ? std::string() : m[0].str();
  }

  memrun::test::HostProcess start(const std::string& url, const std::string& id, int slot) {
    auto h = memrun::test::start_worker_from({"--package", url}, kafka_.bootstrap_servers(), id,
                                             {"--cache-root", dir_.path + "/root-" + std::to_string(slot), "--config",
                                              config_, "--metrics-address", "off", "--heartbeat-interval", "0"},
                                             60s);
    if (!memrun::test::wait_assigned(h)) throw std::runtime_error(id + " got no partitions:\n" + h.proc->output());
    return h;
  }

  nlohmann::json payload(int key) const {
    return {{"op", "versioned_fetch"}, {"k", "ds-" + std::to_string(key)},
            {"url", "file://" + data_ + "/ds-" + std::to_string(key) + ".bin"}};
  }

  static Outcome outcome(memrun::Response r) {
    Outcome o{r.ok(), r.error, "", -1, r.worker_id};
    if (r.ok()) {
      auto j = nlohmann::json::parse(r.body);
      o.version = j.at("version").get<std::string>();
      o.tier = j.at("tier").get<int>();
    }
    return o;
  }

  // One request per dataset, all at once; every outcome.
  std::vector<Outcome> round(memrun::Client& client) {
    std::vector<std::future<memrun::Response>> pending;
    for (int k = 0; k < kKeys; ++k) pending.push_back(client.submit(kService, payload(k)));
    std::vector<Outcome> out;
    for (auto& f : pending) out.push_back(outcome(f.get()));
    return out;
  }

  memrun::test::TempDir dir_{"memrun-roll"};
  std::string data_ = dir_.path + "/data";
  std::string config_ = dir_.path + "/host.json";
  memrun::EmbeddedKafka kafka_{1};
};

TEST_F(RollingUpgrade, ReplacingEveryWorkerUnderLoadLosesNothingAndEndsOnV2) {
  const std::string v1 = release("v1"), v2 = release("v2");
  ASSERT_FALSE(v1.empty() || v2.empty());
  std::vector<memrun::test::HostProcess> workers;
  for (int i = 0; i < kWorkers; ++i) workers.push_back(start(v1, "v1-" + std::to_string(i), i));

  memrun::ClientOptions options = memrun::test::client_options(kafka_.bootstrap_servers());
  options.timeout = 150s;
  memrun::Client client(options);
  // Warm: each dataset fetched once by its worker, then served from RAM.
  for (const auto& o : round(client)) {
    ASSERT_TRUE(o.ok) << o.error;
    EXPECT_EQ(o.tier, MEMRUN_TIER_REMOTE) << "a first request found its dataset cached: cold requests would not show";
  }
  for (const auto& o : round(client)) {
    ASSERT_TRUE(o.ok) << o.error;
    EXPECT_EQ(o.version, "v1");
    EXPECT_EQ(o.tier, MEMRUN_TIER_RAM);
  }

  // Steady load through the roll: closed-loop clients, each waiting for its
  // reply before it sends the next, so a partition held up by a rebalance
  // stalls one client and not the others.
  std::atomic<bool> rolled{false};
  std::atomic<int> answered{0};
  std::vector<std::vector<Outcome>> per_client(kClients);
  std::vector<std::thread> load;
  for (int c = 0; c < kClients; ++c)
    load.emplace_back([&, c] {
      for (int i = 0; !rolled.load(); ++i) {
        per_client[c].push_back(outcome(client.submit(kService, payload((c * 7 + i) % kKeys)).get()));
        ++answered;
      }
    });
  // Each step waits until the fleet it left has answered a round's worth of
  // requests, so that every step happens under load.
  const auto served_a_round = [&] {
    const int from = answered.load();
    return memrun::test::wait_until([&] { return answered.load() >= from + kKeys; }, 120s);
  };
  EXPECT_TRUE(served_a_round()) << "the load did not start";
  for (int i = 0; i < kWorkers; ++i) {
    workers[i].proc->signal(SIGTERM);
    const auto code = workers[i].proc->wait(60s);
    EXPECT_EQ(code, 0) << workers[i].proc->output();
    workers[i] = start(v2, "v2-" + std::to_string(i), i);
    EXPECT_TRUE(served_a_round()) << "the load stalled after " << i + 1 << " replacement(s)";
  }
  rolled = true;
  for (auto& t : load) t.join();
  std::vector<Outcome> during;
  for (const auto& v : per_client) during.insert(during.end(), v.begin(), v.end());

  auto after = round(client);
  for (const auto& o : after) {
    EXPECT_TRUE(o.ok) << o.error;
    EXPECT_EQ(o.version, "v2") << "served by " << o.worker << " after the roll";
  }

  std::map<std::string, int> versions;
  std::map<int, int> tiers;
  int lost = 0;
  for (const auto& o : during) {
    lost += !o.ok;
    EXPECT_TRUE(o.ok) << o.error;
    EXPECT_TRUE(o.version == "v1" || o.version == "v2") << o.version;
    ++versions[o.version];
    ++tiers[o.tier];
  }
  EXPECT_GE(during.size(), static_cast<size_t>(kKeys)) << "no load ran during the roll";

  // Duplicates: replies on the reply topic beyond one per request id.
  memrun::test::KafkaProbe probe(kafka_.bootstrap_servers());
  const std::string replies(memrun::protocol::kReplyTopic);
  std::map<std::string, int> per_id;
  for (const auto& r : probe.read_topic(replies, memrun::protocol::kReplyPartitions,
                                        probe.count(replies, memrun::protocol::kReplyPartitions), 30s))
    ++per_id[r.headers.count("memrun-request-id") ? r.headers.at("memrun-request-id") : r.key];
  int duplicates = 0;
  for (const auto& [id, n] : per_id) duplicates += n - 1;

  const std::string figures = fmt::format(
      "rolling upgrade: {} requests during the roll, {} lost, {} duplicate replies; replies from v1 {}, v2 {}; "
      "datasets served from RAM {}, from the surviving disk cache {}, fetched again (cold) {}",
      during.size(), lost, duplicates, versions["v1"], versions["v2"], tiers[MEMRUN_TIER_RAM],
      tiers[MEMRUN_TIER_DISK], tiers[MEMRUN_TIER_REMOTE]);
  std::printf("%s\n", figures.c_str());
  RecordProperty("figures", figures);
  for (auto& w : workers) memrun::test::expect_clean_stop(w);
}

}  // namespace
