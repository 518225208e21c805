// `memrun status` against real workers: the shell command an operator runs,
// reading the heartbeats of a two-worker service on an embedded cluster.
#include <memrun/protocol.hpp>

#include "support/host_process.hpp"
#include "support/kafka_probe.hpp"

#include <gtest/gtest.h>

#include <map>
#include <set>
#include <sstream>
#include <thread>

using namespace std::chrono_literals;
using memrun::test::HostProcess;
using memrun::test::kTestPartitions;

namespace {

const std::vector<std::string> kBeatFast{"--heartbeat-interval", "0.5"};

struct Row {
  std::string state;  // only with --all
  std::set<int> partitions;
};

// "0-3,8" → {0,1,2,3,8}; "-" → {}.
std::set<int> expand(const std::string& ranges) {
  std::set<int> out;
  if (ranges == "-") return out;
  std::istringstream in(ranges);
  for (std::string part; std::getline(in, part, ',');) {
    auto dash = part.find('-');
    int first = std::stoi(part.substr(0, dash));
    int last = dash == std::string::npos ? first : std::stoi(part.substr(dash + 1));
    for (int p = first; p <= last; ++p) out.insert(p);
  }
  return out;
}

// The rows of `memrun status` for workers named w<digit>, by worker id.
std::map<std::string, Row> parse_table(const std::string& out, bool with_state) {
  std::map<std::string, Row> rows;
  std::istringstream lines(out);
  for (std::string line; std::getline(lines, line);) {
    std::istringstream fields(line);
    std::string worker, state, partitions;
    fields >> worker;
    if (worker.size() != 2 || worker[0] != 'w') continue;
    if (with_state) fields >> state;
    fields >> partitions;
    rows[worker] = {state, expand(partitions)};
  }
  return rows;
}

std::pair<int, std::string> status(const std::string& bootstrap, std::vector<std::string> extra = {}) {
  std::vector<std::string> argv{MEMRUN_CLI, "status", "echo", "-b", bootstrap, "-X", "fetch.wait.max.ms=10"};
  argv.insert(argv.end(), extra.begin(), extra.end());
  return memrun::test::run(argv, 30s);
}

// Both workers listed, holding disjoint partitions that cover the topic.
bool split_between_both(const std::map<std::string, Row>& rows) {
  if (rows.size() != 2 || !rows.count("w1") || !rows.count("w2")) return false;
  const auto& a = rows.at("w1").partitions;
  const auto& b = rows.at("w2").partitions;
  std::set<int> all(a.begin(), a.end());
  all.insert(b.begin(), b.end());
  return !a.empty() && !b.empty() && all.size() == a.size() + b.size() &&
         all.size() == static_cast<size_t>(kTestPartitions);
}

TEST(Status, ShowsEveryLiveWorkerOfATwoWorkerService) {
  HostProcess w1 = memrun::test::start_host(ECHO_PLUGIN, kBeatFast);
  ASSERT_TRUE(memrun::test::wait_assigned(w1)) << w1.proc->output();
  HostProcess w2 = memrun::test::start_worker(ECHO_PLUGIN, w1.bootstrap, "w2", kBeatFast);
  ASSERT_TRUE(memrun::test::wait_assigned(w2)) << w2.proc->output() << "\n--- w1:\n" << w1.proc->output();

  // Records that are no worker's status, or another service's, are passed over.
  memrun::test::KafkaProbe probe(w1.bootstrap);
  const std::string topic(memrun::protocol::kHeartbeatsTopic);
  probe.send_without_reply(topic, "junk", "not json");
  probe.send_without_reply(topic, "junk", R"({"worker_id": 5, "service": "echo"})");
  probe.send_without_reply(topic, "w9", R"({"worker_id": "w9", "service": "other", "time_ms": 1})");

  // The group rebalances once w2 joins (about session.timeout.ms on the mock).
  std::pair<int, std::string> last;
  std::map<std::string, Row> rows;
  const auto deadline = std::chrono::steady_clock::now() + 60s;
  while (std::chrono::steady_clock::now() < deadline) {
    last = status(w1.bootstrap);
    rows = parse_table(last.second, false);
    if (last.first == 0 && split_between_both(rows)) break;
    std::this_thread::sleep_for(500ms);
  }
  EXPECT_EQ(last.first, 0) << last.second;
  EXPECT_TRUE(split_between_both(rows)) << last.second;
  EXPECT_NE(last.second.find("WORKER"), std::string::npos) << last.second;
  EXPECT_EQ(last.second.find("w9"), std::string::npos) << last.second;
  std::printf("%s", last.second.c_str());

  // w2's last record says it stopped: it drops out at once, not when stale.
  memrun::test::expect_clean_stop(w2);
  auto [code, out] = status(w1.bootstrap);
  EXPECT_EQ(code, 0) << out;
  rows = parse_table(out, false);
  EXPECT_EQ(rows.size(), 1u) << out;
  EXPECT_TRUE(rows.count("w1")) << out;

  auto [all_code, all_out] = status(w1.bootstrap, {"--all"});
  EXPECT_EQ(all_code, 0) << all_out;
  rows = parse_table(all_out, true);
  ASSERT_EQ(rows.size(), 2u) << all_out;
  EXPECT_EQ(rows["w1"].state, "serving") << all_out;
  EXPECT_EQ(rows["w2"].state, "stopped") << all_out;
  EXPECT_TRUE(rows["w2"].partitions.empty()) << all_out;

  auto [none_code, none_out] = memrun::test::run(
      {MEMRUN_CLI, "status", "nosuch", "-b", w1.bootstrap, "-X", "fetch.wait.max.ms=10"}, 30s);
  EXPECT_EQ(none_code, 1) << none_out;
  EXPECT_NE(none_out.find("no live worker of 'nosuch'"), std::string::npos) << none_out;
  memrun::test::expect_clean_stop(w1);
}

TEST(Cli, StatusHelpAndBadArguments) {
  auto [help_code, help] = memrun::test::run({MEMRUN_CLI, "status", "--help"}, 10s);
  EXPECT_EQ(help_code, 0) << help;
  for (const char* option : {"--bootstrap-servers", "--window", "--timeout", "--all", "--json"})
    EXPECT_NE(help.find(option), std::string::npos) << option << "\n" << help;

  struct Case {
    std::vector<std::string> args;
    int code;
    std::string message;
  };
  for (const auto& c : std::vector<Case>{
           {{"status"}, 2, "service is required"},
           {{"status", "echo", "-b", "127.0.0.1:9", "--window", "-1"}, 2, "--window: expected seconds greater than 0"},
           {{"status", "echo", "-b", "127.0.0.1:9", "--window", "soon"}, 2, "--window"},
           {{"status", "../etc", "-b", "127.0.0.1:9"}, 2, "invalid service name"},
           {{"status", "echo", "-b", ""}, 2, "no Kafka"},
           {{"status", "echo", "-b", "127.0.0.1:9", "-X", "no.such.property=1"}, 2, "no.such.property"},
           // Nothing listens on the discard port.
           {{"status", "echo", "-b", "127.0.0.1:9", "--timeout", "1"}, 1, "Kafka at 127.0.0.1:9"},
       }) {
    std::vector<std::string> argv{MEMRUN_CLI};
    argv.insert(argv.end(), c.args.begin(), c.args.end());
    auto [code, out] = memrun::test::run(argv, 30s);
    EXPECT_EQ(code, c.code) << c.args.back() << "\n" << out;
    EXPECT_NE(out.find(c.message), std::string::npos) << c.args.back() << "\n" << out;
  }
}

}  // namespace
