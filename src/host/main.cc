// memrun-host: loads a handler plugin and runs it as a worker of its service.
//
// Exit codes: 0 clean stop, 1 runtime failure (Kafka, init handler),
// 2 bad usage or config, 3 the plugin cannot be loaded.
#include <memrun/embedded_kafka.hpp>
#include <memrun/plugin_loader.hpp>
#include <memrun/protocol.hpp>
#include <memrun/worker.hpp>

#include "app/config.hpp"

#include <CLI/CLI.hpp>
#include <fmt/core.h>
#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>

#include <csignal>
#include <cstdio>
#include <optional>

namespace {

constexpr int kExitRuntime = 1;
constexpr int kExitUsage = 2;
constexpr int kExitPlugin = 3;

// Prints a line for whoever supervises the host (scripts, tests) and flushes
// at once, so a reader waiting on the pipe sees it.
void announce(const std::string& line) {
  std::fputs(line.c_str(), stdout);
  std::fputc('\n', stdout);
  std::fflush(stdout);
}

}  // namespace

int main(int argc, char** argv) {
  // Block the stop signals before any thread exists, so every thread inherits
  // the mask and sigwait below is the only receiver.
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGINT);
  sigaddset(&stop_signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);

  CLI::App app{"memrun-host: runs a memrun handler plugin as a worker of its service"};
  std::string plugin_path, config_path, bootstrap, worker_id, log_level = "info", service_name, cache_root;
  std::vector<std::string> properties;
  bool embedded = false;
  int brokers = 3;
  std::optional<int> partitions;
  std::optional<int> concurrency;
  app.add_option("--plugin", plugin_path, "Plugin shared object (.so) to run")->required();
  app.add_option("--config", config_path, "JSON config file (see docs/operations.md)");
  app.add_flag("--embedded-kafka", embedded,
               "Start librdkafka's mock Kafka cluster in this process and print its bootstrap address");
  app.add_option("--brokers", brokers, "Brokers of the embedded cluster")->check(CLI::Range(1, 9));
  app.add_option("--partitions", partitions, "Partitions of the request topic (service setting)")
      ->check(CLI::Range(1, 10000));
  app.add_option("--concurrency", concurrency, "Handlers running at once (service setting)")
      ->check(CLI::Range(1, 4096));
  app.add_option("--service", service_name, "Service name (overrides plugin and config)");
  app.add_option("--bootstrap-servers,-b", bootstrap, "Kafka bootstrap servers host:port[,...]");
  app.add_option("-X", properties, "Extra librdkafka property key=value (repeatable)");
  app.add_option("--worker-id", worker_id, "Worker id (default {hostname}-{pid})");
  app.add_option("--cache-root", cache_root,
                 "Worker state and caches live in {cache-root}/{service} (default $MEMRUN_CACHE_ROOT, "
                 "else $XDG_CACHE_HOME/memrun or ~/.cache/memrun)");
  double heartbeat_s = 10;
  app.add_option("--heartbeat-interval", heartbeat_s, "Seconds between status records on memrun.heartbeats (0: off)")
      ->check(CLI::Range(0.0, 3600.0));
  app.add_option("--log-level", log_level, "debug, info, warn or error")
      ->check(CLI::IsMember({"debug", "info", "warn", "error"}));
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    // --help exits 0; every usage error exits with our one usage code.
    return app.exit(e) == 0 ? 0 : kExitUsage;
  }

  spdlog::set_level(spdlog::level::from_str(log_level));
  spdlog::set_pattern("%Y-%m-%dT%H:%M:%S.%e %^%l%$ [memrun-host] %v");

  memrun::app::HostConfig config;
  try {
    if (!config_path.empty()) config = memrun::app::load_config(config_path);
    for (const auto& p : properties) {
      auto [key, value] = memrun::app::split_property(p);
      config.kafka.properties.insert_or_assign(key, value);
    }
    if (!bootstrap.empty()) config.kafka.bootstrap_servers = bootstrap;
    if (!worker_id.empty()) config.worker_id = worker_id;
    if (!cache_root.empty()) config.cache_root = cache_root;
    if (config.cache_root.empty()) config.cache_root = memrun::app::default_cache_root();
  } catch (const memrun::Error& e) {
    fmt::print(stderr, "memrun-host: {}\n", e.what());
    return kExitUsage;
  }

  std::shared_ptr<const memrun::LoadedPlugin> plugin;
  try {
    plugin = memrun::load_plugin(plugin_path);
  } catch (const memrun::Error& e) {
    fmt::print(stderr, "memrun-host: {}\n", e.what());
    return kExitPlugin;
  }
  spdlog::info("loaded plugin '{}' {} (ABI {}.{}) from {}", plugin->name(), plugin->version(),
               plugin->abi_major(), plugin->abi_minor(), plugin->path());

  memrun::MemoryService service = plugin->service();
  try {
    memrun::apply_service_fields(service, config.service);
    if (!service_name.empty()) service.name = service_name;
    if (partitions) service.partitions = *partitions;
    if (concurrency) service.concurrency = *concurrency;
    service.validate();
  } catch (const memrun::Error& e) {
    fmt::print(stderr, "memrun-host: {}\n", e.what());
    return kExitUsage;
  }

  std::unique_ptr<memrun::EmbeddedKafka> cluster;
  try {
    if (embedded) {
      cluster = std::make_unique<memrun::EmbeddedKafka>(brokers);
      cluster->create_service_topics(service.name, service.partitions);
      config.kafka.bootstrap_servers = cluster->bootstrap_servers();
      for (const auto& [key, value] : memrun::EmbeddedKafka::client_properties())
        config.kafka.properties.insert({key, value});  // -X wins
      announce("memrun-host: embedded Kafka bootstrap=" + cluster->bootstrap_servers());
    }
    if (config.kafka.bootstrap_servers.empty()) {
      fmt::print(stderr, "memrun-host: no Kafka: give --bootstrap-servers, kafka.bootstrap_servers "
                         "in the config, or --embedded-kafka\n");
      return kExitUsage;
    }

    memrun::WorkerOptions options;
    options.kafka = config.kafka;
    options.worker_id = config.worker_id;
    options.result_url = config.result_url;
    options.state_dir = config.cache_root + "/" + service.name;
    options.heartbeat_interval = std::chrono::milliseconds(static_cast<int64_t>(heartbeat_s * 1000));
    memrun::Worker worker(std::move(service), std::move(options));
    worker.start();
    announce(fmt::format("memrun-host: ready worker={} service={} topic={}", worker.worker_id(),
                         worker.service().name, memrun::protocol::request_topic(worker.service().name)));

    int sig = 0;
    sigwait(&stop_signals, &sig);
    spdlog::info("received {}, draining", sig == SIGINT ? "SIGINT" : "SIGTERM");
    worker.stop();
  } catch (const memrun::Error& e) {
    fmt::print(stderr, "memrun-host: {}\n", e.what());
    return kExitRuntime;
  }
  announce("memrun-host: stopped");
  return 0;
}
