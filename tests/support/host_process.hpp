// memrun-host as a test fixture: started with --embedded-kafka, its bootstrap
// address read from its output, stopped (and checked) when the test says so.
#pragma once

#include <memrun/client.hpp>

#include "support/subprocess.hpp"

#include <chrono>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

namespace memrun::test {

inline constexpr int kTestPartitions = 16;

struct HostProcess {
  std::unique_ptr<Subprocess> proc;
  std::string bootstrap;
};

// Starts memrun-host with `plugin` on its own embedded cluster (16 partitions,
// short group timeouts) and waits until it is ready. Throws with the host's
// output if it is not.
HostProcess start_host(const std::string& plugin, const std::vector<std::string>& extra = {});
// The same with the plugin given another way, e.g. {"--package", URL}.
HostProcess start_host_from(const std::vector<std::string>& source, const std::vector<std::string>& extra = {});

// Starts memrun-host with `plugin` as worker `worker_id` of an existing
// cluster, and waits until it is ready.
HostProcess start_worker(const std::string& plugin, const std::string& bootstrap, const std::string& worker_id,
                         const std::vector<std::string>& extra = {});
// The same with the plugin given another way, e.g. {"--package", URL}, and
// a readiness deadline of its own (a package is fetched and unpacked first).
HostProcess start_worker_from(const std::vector<std::string>& source, const std::string& bootstrap,
                              const std::string& worker_id, const std::vector<std::string>& extra = {},
                              std::chrono::milliseconds ready_within = std::chrono::seconds(30));

// Waits until the host logged a partition assignment.
bool wait_assigned(HostProcess& host);

// Client options for the host's cluster, with a generous timeout.
ClientOptions client_options(const std::string& bootstrap);

// The port of the host's /metrics endpoint, from its start-up output; -1 if none.
int metrics_port(HostProcess& host);

// GET http://127.0.0.1:port/path → {status, body}; {-1, ""} if unreachable.
std::pair<int, std::string> http_get(int port, const std::string& path);

// A host's /metrics through the official Prometheus parser (gtest assertions
// that it parses): sample ("name{labels}") → value.
std::map<std::string, double> scrape_metrics(int port);

// SIGTERM, then expects exit code 0 within 30 s (gtest assertions).
void expect_clean_stop(HostProcess& host);

}  // namespace memrun::test
