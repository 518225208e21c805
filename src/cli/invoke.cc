// memrun invoke SERVICE 'JSON': one request through memrun::Client, the reply
// on stdout; memrun partition KEY: where Kafka's murmur2 puts a key.
#include "cli/commands.hpp"

#include <memrun/client.hpp>
#include <memrun/routing.hpp>

#include <fmt/core.h>
#include <nlohmann/json.hpp>

#include <memory>

namespace memrun::cli {
namespace {

struct InvokeArgs {
  std::string service, payload, sticky_key;
  double timeout_s = 30;
  bool show_route = false;
  KafkaFlags kafka;
};

int invoke(const InvokeArgs& a) {
  auto payload = nlohmann::json::parse(a.payload, nullptr, false);
  if (payload.is_discarded()) {
    fmt::print(stderr, "memrun invoke: payload is not valid JSON: {}\n", a.payload);
    return kExitUsage;
  }
  try {
    ClientOptions options;
    options.kafka = a.kafka.options();
    options.timeout = std::chrono::milliseconds(static_cast<int64_t>(a.timeout_s * 1000));
    Client client(options);
    if (!a.sticky_key.empty()) client.set_sticky_key(a.service, a.sticky_key);
    Response r = client.submit(a.service, payload).get();
    if (a.show_route)
      fmt::print(stderr, "key={} partition={} offset={} worker={} latency_ms={:.2f}\n", r.key, r.partition,
                 r.offset, r.worker_id.empty() ? "-" : r.worker_id, r.latency.count() / 1000.0);
    if (!r.ok()) {
      fmt::print(stderr, "memrun invoke: {}: {}\n", code_name(r.code), r.error);
      return kExitFailed;
    }
    fmt::print("{}\n", r.body);
    return kExitOk;
  } catch (const Error& e) {
    return report("invoke", e);
  }
}

}  // namespace

void add_invoke(CLI::App& app, int* exit_code) {
  auto args = std::make_shared<InvokeArgs>();
  auto* cmd = app.add_subcommand("invoke", "Send one JSON request to a service and print its reply");
  cmd->add_option("service", args->service, "Service name")->required();
  cmd->add_option("payload", args->payload, "Request payload: a JSON object")->required();
  args->kafka.add_to(*cmd);
  cmd->add_option("--sticky-key", args->sticky_key, "The service's sticky key (default: looked up in memrun.services)");
  cmd->add_option("--timeout", args->timeout_s, "Seconds to wait for the reply")->check(kPositiveSeconds);
  cmd->add_flag("--route", args->show_route, "Print key, partition, offset, worker and latency to stderr");
  cmd->callback([args, exit_code] { *exit_code = invoke(*args); });
}

void add_partition(CLI::App& app, int* exit_code) {
  struct Args {
    std::string key;
    int partitions = 0;
  };
  auto args = std::make_shared<Args>();
  auto* cmd = app.add_subcommand("partition", "Print the partition Kafka's murmur2 partitioner picks for a key");
  cmd->add_option("key", args->key, "Message key (the sticky-key value)")->required();
  cmd->add_option("--partitions,-p", args->partitions, "Partition count")->required()->check(CLI::Range(1, 100000));
  cmd->callback([args, exit_code] {
    fmt::print("{}\n", kafka_partition(args->key, args->partitions));
    *exit_code = kExitOk;
  });
}

}  // namespace memrun::cli
