#include "support/host_process.hpp"

#include <memrun/embedded_kafka.hpp>

#include "support/temp_dir.hpp"

#include <gtest/gtest.h>
#include <httplib.h>

#include <csignal>
#include <fstream>
#include <sstream>
#include <stdexcept>

namespace memrun::test {

using namespace std::chrono_literals;

HostProcess start_host(const std::string& plugin, const std::vector<std::string>& extra) {
  return start_host_from({"--plugin", plugin}, extra);
}

HostProcess start_host_from(const std::vector<std::string>& source, const std::vector<std::string>& extra) {
  std::vector<std::string> argv{MEMRUN_HOST, "--embedded-kafka", "--partitions", std::to_string(kTestPartitions),
                                "--worker-id", "w1"};
  argv.insert(argv.end(), source.begin(), source.end());
  for (auto& f : fast_group_flags()) argv.push_back(f);
  for (auto& e : extra) argv.push_back(e);
  HostProcess h;
  h.proc = std::make_unique<Subprocess>(argv);
  auto bootstrap = h.proc->wait_for("embedded Kafka bootstrap=", 30s);
  if (!bootstrap) throw std::runtime_error("host did not start:\n" + h.proc->output());
  h.bootstrap = *bootstrap;
  if (!h.proc->wait_for("memrun-host: ready", 30s)) throw std::runtime_error("host not ready:\n" + h.proc->output());
  return h;
}

HostProcess start_worker(const std::string& plugin, const std::string& bootstrap, const std::string& worker_id,
                         const std::vector<std::string>& extra) {
  return start_worker_from({"--plugin", plugin}, bootstrap, worker_id, extra);
}

HostProcess start_worker_from(const std::vector<std::string>& source, const std::string& bootstrap,
                              const std::string& worker_id, const std::vector<std::string>& extra,
                              std::chrono::milliseconds ready_within) {
  std::vector<std::string> argv{MEMRUN_HOST};
  argv.insert(argv.end(), source.begin(), source.end());
  argv.insert(argv.end(), {"-b", bootstrap, "--worker-id", worker_id});
  for (auto& f : fast_group_flags()) argv.push_back(f);
  for (auto& e : extra) argv.push_back(e);
  HostProcess h;
  h.bootstrap = bootstrap;
  h.proc = std::make_unique<Subprocess>(argv);
  if (!h.proc->wait_for("memrun-host: ready", ready_within))
    throw std::runtime_error(worker_id + " not ready:\n" + h.proc->output());
  return h;
}

// Generous: a rebalance on the mock waits about session.timeout.ms - 1 s per
// round, and a busy 2-core machine stretches each round.
bool wait_assigned(HostProcess& host) { return host.proc->wait_for("assigned partitions", 90s).has_value(); }

int metrics_port(HostProcess& host) {
  auto url = host.proc->wait_for("memrun-host: metrics http://127.0.0.1:", 1s);
  return url ? std::stoi(*url) : -1;
}

ClientOptions client_options(const std::string& bootstrap) {
  ClientOptions o;
  o.kafka.bootstrap_servers = bootstrap;
  o.kafka.properties = EmbeddedKafka::client_properties();
  o.timeout = 60s;
  return o;
}

std::pair<int, std::string> http_get(int port, const std::string& path) {
  httplib::Client c("127.0.0.1", port);
  c.set_connection_timeout(5);
  c.set_read_timeout(10);
  auto res = c.Get(path.c_str());
  if (!res) return {-1, ""};
  return {res->status, res->body};
}

std::map<std::string, double> scrape_metrics(int port) {
  auto [status, body] = http_get(port, "/metrics");
  EXPECT_EQ(status, 200);
  TempDir dir("memrun-metrics");
  const std::string path = dir.path + "/metrics.txt";
  std::ofstream(path) << body;
  auto [code, parsed] = run({"/usr/bin/python3", PARSE_METRICS, path}, 30s);
  EXPECT_EQ(code, 0) << "the Prometheus parser refused /metrics:\n" << parsed << "\n---\n" << body;
  std::map<std::string, double> samples;
  std::istringstream lines(parsed);
  for (std::string line; std::getline(lines, line);) {
    const auto space = line.rfind(' ');
    samples[line.substr(0, space)] = std::stod(line.substr(space + 1));
  }
  return samples;
}

void expect_clean_stop(HostProcess& host) {
  host.proc->signal(SIGTERM);
  auto code = host.proc->wait(30s);
  ASSERT_TRUE(code.has_value()) << "host did not stop on SIGTERM\n" << host.proc->output();
  EXPECT_EQ(*code, 0) << host.proc->output();
}

}  // namespace memrun::test
