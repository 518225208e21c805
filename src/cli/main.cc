// memrun: the command-line client.
//
//   memrun invoke SERVICE 'JSON' [-b host:port] [--sticky-key k] [--timeout s]
//   memrun partition KEY --partitions N
//
// Exit codes: 0 success, 1 the service answered with an error or timed out,
// 2 bad usage or input.
#include <memrun/client.hpp>
#include <memrun/routing.hpp>

#include <CLI/CLI.hpp>
#include <fmt/core.h>
#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>

#include <cstdlib>

namespace {

constexpr int kExitFailed = 1;
constexpr int kExitUsage = 2;

std::string env_or(const char* name, std::string fallback) {
  const char* v = std::getenv(name);
  return v && *v ? v : fallback;
}

int invoke(const std::string& service, const std::string& payload_text, const std::string& bootstrap,
           const std::string& sticky_key, double timeout_s, const std::vector<std::string>& props,
           bool show_route) {
  auto payload = nlohmann::json::parse(payload_text, nullptr, false);
  if (payload.is_discarded()) {
    fmt::print(stderr, "memrun invoke: payload is not valid JSON: {}\n", payload_text);
    return kExitUsage;
  }
  if (bootstrap.empty()) {
    fmt::print(stderr, "memrun invoke: no Kafka: pass --bootstrap-servers or set MEMRUN_BOOTSTRAP_SERVERS\n");
    return kExitUsage;
  }
  memrun::ClientOptions options;
  options.kafka.bootstrap_servers = bootstrap;
  for (const auto& p : props) {
    auto eq = p.find('=');
    if (eq == std::string::npos || eq == 0) {
      fmt::print(stderr, "memrun invoke: -X expects key=value, got '{}'\n", p);
      return kExitUsage;
    }
    options.kafka.properties[p.substr(0, eq)] = p.substr(eq + 1);
  }
  options.timeout = std::chrono::milliseconds(static_cast<int64_t>(timeout_s * 1000));
  try {
    memrun::Client client(options);
    if (!sticky_key.empty()) client.set_sticky_key(service, sticky_key);
    memrun::Response r = client.submit(service, payload).get();
    if (show_route)
      fmt::print(stderr, "key={} partition={} offset={} worker={} latency_ms={:.2f}\n", r.key, r.partition,
                 r.offset, r.worker_id.empty() ? "-" : r.worker_id, r.latency.count() / 1000.0);
    if (!r.ok) {
      fmt::print(stderr, "memrun invoke: {}: {}\n", memrun::code_name(r.code), r.error);
      return kExitFailed;
    }
    fmt::print("{}\n", r.body);
    return 0;
  } catch (const memrun::Error& e) {
    fmt::print(stderr, "memrun invoke: {}\n", e.what());
    return e.code() == memrun::Code::kInvalidArgument || e.code() == memrun::Code::kNotFound ? kExitUsage
                                                                                            : kExitFailed;
  }
}

}  // namespace

int main(int argc, char** argv) {
  spdlog::set_level(spdlog::level::warn);
  CLI::App app{"memrun: call and inspect memrun services"};
  app.require_subcommand(1);

  auto* inv = app.add_subcommand("invoke", "Send one JSON request to a service and print its reply");
  std::string service, payload, sticky_key;
  std::string bootstrap = env_or("MEMRUN_BOOTSTRAP_SERVERS", "");
  double timeout_s = 30;
  std::vector<std::string> props;
  bool show_route = false;
  inv->add_option("service", service, "Service name")->required();
  inv->add_option("payload", payload, "Request payload: a JSON object")->required();
  inv->add_option("--bootstrap-servers,-b", bootstrap, "Kafka bootstrap servers (env MEMRUN_BOOTSTRAP_SERVERS)");
  inv->add_option("--sticky-key", sticky_key,
                  "The service's sticky key (default: looked up in memrun.services)");
  inv->add_option("--timeout", timeout_s, "Seconds to wait for the reply")->check(CLI::PositiveNumber);
  inv->add_option("-X", props, "Extra librdkafka property key=value (repeatable)");
  inv->add_flag("--route", show_route, "Print key, partition, offset, worker and latency to stderr");

  auto* part = app.add_subcommand("partition", "Print the partition Kafka's murmur2 partitioner picks for a key");
  std::string key;
  int partitions = 0;
  part->add_option("key", key, "Message key (the sticky-key value)")->required();
  part->add_option("--partitions,-p", partitions, "Partition count")->required()->check(CLI::Range(1, 100000));

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    // --help exits 0; every usage error exits with our one usage code.
    return app.exit(e) == 0 ? 0 : kExitUsage;
  }
  if (*inv) return invoke(service, payload, bootstrap, sticky_key, timeout_s, props, show_route);
  if (*part) {
    fmt::print("{}\n", memrun::kafka_partition(key, partitions));
    return 0;
  }
  return kExitUsage;
}
