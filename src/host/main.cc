// memrun-host: loads a handler plugin — from a file, or from a package it
// fetches, verifies and unpacks — and runs it as a worker of its service.
//
// Exit codes: 0 clean stop, 1 runtime failure (Kafka, init handler, a package
// that cannot be fetched, a worker that kept dying), 2 bad usage or config, 3
// the plugin or package is refused.
//
// By default the worker runs in a child process that this one restarts when
// it dies (host/supervisor.hpp); --no-supervise runs it here.
#include <memrun/embedded_kafka.hpp>
#include <memrun/logging.hpp>
#include <memrun/metrics.hpp>
#include <memrun/package.hpp>
#include <memrun/plugin_loader.hpp>
#include <memrun/protocol.hpp>
#include <memrun/topics.hpp>
#include <memrun/worker.hpp>

#include "app/config.hpp"
#include "host/supervisor.hpp"

#include <CLI/CLI.hpp>
#include <fmt/core.h>
#include <fmt/ranges.h>
#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>

#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <optional>

#include <unistd.h>

namespace {

using memrun::host::kExitPlugin;
using memrun::host::kExitRuntime;
using memrun::host::kExitUsage;

// Prints a line for whoever supervises the host (scripts, tests) and flushes
// at once, so a reader waiting on the pipe sees it.
void announce(const std::string& line) {
  std::fputs(line.c_str(), stdout);
  std::fputc('\n', stdout);
  std::fflush(stdout);
}

double seconds_since(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

// This program's own file, for the supervisor's child (argv[0] may be a
// bare name found on PATH).
std::string self_path() {
  std::string path(4096, '\0');
  const ssize_t n = ::readlink("/proc/self/exe", path.data(), path.size() - 1);
  if (n <= 0) return "/proc/self/exe";
  path.resize(static_cast<size_t>(n));
  return path;
}

// Tells the supervisor (if this process has one) what it needs to publish
// this worker's death to the fleet's crash journal: one JSON line on the
// pipe it named. The Kafka properties may hold credentials: they go to the
// parent process through the pipe only, never to a file or a log.
void report_to_supervisor(const memrun::KafkaOptions& kafka, const std::string& service, const std::string& state_dir) {
  const char* fd_text = std::getenv(memrun::host::kReportFdEnv);
  if (fd_text == nullptr) return;
  const int fd = std::atoi(fd_text);
  ::unsetenv(memrun::host::kReportFdEnv);  // not for whatever this process starts
  if (fd <= 2) return;
  const std::string line = nlohmann::json{{"service", service},
                                          {"state_dir", state_dir},
                                          {"bootstrap_servers", kafka.bootstrap_servers},
                                          {"properties", kafka.properties}}
                               .dump() +
                           "\n";
  if (::write(fd, line.data(), line.size()) != static_cast<ssize_t>(line.size()))
    spdlog::warn("cannot report to the supervisor; a death of this worker is published when it restarts");
  ::close(fd);
}

// The supervisor's side: after the child died, publish the requests it was
// running (memrun::publish_worker_deaths), before it is restarted.
void publish_death(const std::string& report) {
  if (report.empty()) return;  // it died before reporting: it ran no request
  const auto r = nlohmann::json::parse(report, nullptr, false);
  if (r.is_discarded() || !r.is_object()) return;
  try {
    memrun::KafkaOptions kafka;
    kafka.bootstrap_servers = r.at("bootstrap_servers").get<std::string>();
    kafka.properties = r.at("properties").get<std::map<std::string, std::string>>();
    const auto service = r.at("service").get<std::string>();
    const size_t n = memrun::publish_worker_deaths(kafka, service, r.at("state_dir").get<std::string>(),
                                                   std::chrono::seconds(10));
    if (n) spdlog::info("supervisor: published the worker's death to {}", memrun::protocol::suspects_topic(service));
  } catch (const nlohmann::json::exception&) {
    spdlog::warn("supervisor: the worker's report is unreadable; its death is published when it restarts");
  } catch (const memrun::Error& e) {
    spdlog::warn("supervisor: cannot publish the worker's death ({}); the restarted worker publishes it",
                 e.what());
  }
}

// A package that is not what it claims is refused (the plugin's exit code);
// one that cannot be reached is a runtime failure a restart may cure.
int package_exit_code(const memrun::Error& e) {
  return memrun::is_retriable(e.code()) || e.code() == memrun::Code::kNotFound ? kExitRuntime : kExitPlugin;
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
  {
    // The supervisor learns of its child's end through sigtimedwait.
    sigset_t child;
    sigemptyset(&child);
    sigaddset(&child, SIGCHLD);
    pthread_sigmask(SIG_BLOCK, &child, nullptr);
  }

  CLI::App app{"memrun-host: runs a memrun handler plugin as a worker of its service"};
  std::string plugin_path, package_url, config_path, bootstrap, worker_id, log_level = "info", log_format = "text",
      service_name, cache_root, package_cache = "8Gi";
  std::optional<std::string> metrics_address;
  std::vector<std::string> properties;
  bool embedded = false;
  int brokers = 3;
  std::optional<int> partitions;
  std::optional<int> concurrency;
  std::optional<size_t> read_ahead;
  std::optional<size_t> read_ahead_bytes;
  std::optional<int64_t> revoke_wait_ms;
  auto* plugin_opt = app.add_option("--plugin", plugin_path, "Plugin shared object (.so) to run");
  auto* package_opt = app.add_option("--package", package_url,
                                     "Package to run (s3://, http(s)://, file://; '#sha256=' pins it), as printed "
                                     "by `memrun deploy`");
  plugin_opt->excludes(package_opt);
  bool allow_unpinned = false;
  app.add_flag("--allow-unpinned", allow_unpinned,
               "Run a --package URL without its #sha256= pin (development only: a changed package runs unchecked)")
      ->needs(package_opt);
  app.add_option("--package-cache", package_cache, "Disk budget for fetched packages in {cache-root}/.packages");
  app.add_option("--config", config_path, "JSON config file (see docs/operations.md)");
  app.add_flag("--embedded-kafka", embedded,
               "Start librdkafka's mock Kafka cluster in this process and print its bootstrap address");
  app.add_option("--brokers", brokers, "Brokers of the embedded cluster")->check(CLI::Range(1, 9));
  app.add_option("--partitions", partitions, "Partitions of the request topic (service setting)")
      ->check(CLI::Range(1, 10000));
  app.add_option("--concurrency", concurrency, "Handlers running at once (service setting)")
      ->check(CLI::Range(1, 4096));
  app.add_option("--read-ahead", read_ahead,
                 "Requests of one partition fetched ahead while every handler is busy (default max(1024, concurrency))")
      ->check(CLI::Range(1, 1000000));
  app.add_option("--read-ahead-bytes", read_ahead_bytes,
                 "Payload bytes of one partition's requests fetched ahead while every handler is busy (default 4 MiB)")
      ->check(CLI::Range(size_t{1}, size_t{1} << 40));
  app.add_option("--revoke-wait-ms", revoke_wait_ms,
                 "How long a revoke waits for running requests of the partitions it takes; fetching of the "
                 "partitions kept stalls meanwhile (default and most: the lesser of 10000 and half of "
                 "max.poll.interval.ms; 0: no wait, and those requests may run twice)")
      ->check(CLI::Range(int64_t{0}, int64_t{3600000}));
  app.add_option("--service", service_name, "Service name (overrides plugin, package and config)");
  app.add_option("--bootstrap-servers,-b", bootstrap, "Kafka bootstrap servers host:port[,...]");
  app.add_option("-X", properties, "Extra librdkafka property key=value (repeatable)");
  app.add_option("--worker-id", worker_id, "Worker id (default {hostname}-{pid})");
  std::string instance_id;
  app.add_option("--instance-id", instance_id,
                 "Static group membership (group.instance.id): a stable id unique in the group, e.g. the pod name");
  app.add_option("--cache-root", cache_root,
                 "Worker state and caches live in {cache-root}/{service} (default $MEMRUN_CACHE_ROOT, "
                 "else $XDG_CACHE_HOME/memrun or ~/.cache/memrun)");
  app.add_option("--metrics-address", metrics_address,
                 "HOST:PORT of the /metrics, /healthz and /readyz endpoint (default 127.0.0.1:9464; port 0 picks "
                 "a free one; 'off' disables it)");
  double heartbeat_s = 10;
  app.add_option("--heartbeat-interval", heartbeat_s, "Seconds between status records on memrun.heartbeats (0: off)")
      ->check(CLI::Range(0.0, 3600.0));
  app.add_option("--log-level", log_level, "debug, info, warn or error")
      ->check(CLI::IsMember({"debug", "info", "warn", "error"}));
  app.add_option("--log-format", log_format, "text, or json for one JSON object per line")
      ->check(CLI::IsMember({"text", "json"}));
  bool no_supervise = false;
  memrun::host::RestartPolicy restarts;
  int max_restarts = restarts.max_restarts;
  double restart_window_s = std::chrono::duration<double>(restarts.window).count();
  app.add_flag("--no-supervise", no_supervise,
               "Run the worker in this process instead of in a child that is restarted when it dies");
  app.add_option("--max-restarts", max_restarts, "Worker deaths tolerated within --restart-window before giving up")
      ->check(CLI::Range(0, 1000));
  app.add_option("--restart-window", restart_window_s, "Seconds over which worker deaths are counted")
      ->check(CLI::Range(1.0, 86400.0));
  try {
    app.parse(argc, argv);
    if (plugin_path.empty() && package_url.empty()) throw CLI::RequiredError("--plugin or --package");
  } catch (const CLI::ParseError& e) {
    // --help exits 0; every usage error exits with our one usage code.
    return app.exit(e) == 0 ? 0 : kExitUsage;
  }

  // Supervised (the default): this process only restarts the worker, which
  // runs in a child with the same flags. With --embedded-kafka the cluster
  // lives in the worker's process, so there is nothing to supervise apart.
  if (!no_supervise && !embedded) {
    memrun::configure_logging({"memrun-host", log_level, memrun::parse_log_format(log_format)});
    restarts.max_restarts = max_restarts;
    restarts.window = std::chrono::milliseconds(static_cast<int64_t>(restart_window_s * 1000));
    std::vector<std::string> child{self_path()};
    child.insert(child.end(), argv + 1, argv + argc);
    child.push_back("--no-supervise");
    return memrun::host::supervise(child, restarts, publish_death);
  }

  memrun::app::HostConfig config;
  uint64_t package_cache_bytes = 0;
  bool config_sets_metrics = false;
  try {
    memrun::configure_logging({"memrun-host", log_level, memrun::parse_log_format(log_format)});
    if (!config_path.empty()) config = memrun::app::load_config(config_path);
    for (const auto& p : properties) {
      auto [key, value] = memrun::app::split_property(p);
      config.kafka.properties.insert_or_assign(key, value);
    }
    if (!bootstrap.empty()) config.kafka.bootstrap_servers = bootstrap;
    if (!worker_id.empty()) config.worker_id = worker_id;
    if (!instance_id.empty()) config.instance_id = instance_id;
    if (!cache_root.empty()) config.cache_root = cache_root;
    if (config.cache_root.empty()) config.cache_root = memrun::app::default_cache_root();
    config_sets_metrics = config.metrics_address != memrun::app::kDefaultMetricsAddress;
    if (metrics_address) config.metrics_address = *metrics_address;
    package_cache_bytes = memrun::parse_bytes(package_cache);
  } catch (const memrun::Error& e) {
    fmt::print(stderr, "memrun-host: {}\n", e.what());
    return kExitUsage;
  }

  // Phases of the start measured here; the worker measures the rest.
  std::vector<memrun::StartupPhase> phases;
  std::optional<memrun::OpenedPackage> package;
  if (!package_url.empty()) {
    try {
      memrun::OpenPackageOptions open_options{package_cache_bytes, {}, config.s3};
      open_options.require_pin = !allow_unpinned;
      if (config.package_max_unpacked > 0) open_options.max_unpacked_bytes = config.package_max_unpacked;
      package = memrun::open_package(package_url, config.cache_root, open_options);
    } catch (const memrun::Error& e) {
      fmt::print(stderr, "memrun-host: package refused: {}\n", e.what());
      return package_exit_code(e);
    }
    plugin_path = package->plugin_path;
    phases.push_back({"package fetch", package->fetch_seconds, std::string(memrun::tier_name(package->fetched_from))});
    phases.push_back({"package verify + unpack", package->unpack_seconds,
                      fmt::format("{} {} files, digests checked", package->reused ? "reused" : "unpacked",
                                  package->manifest.files.size() + 1)});
    spdlog::info("package {} (sha256 {}): service {}, plugin {} {}, fetched from {}, in {}", package_url,
                 package->sha256, package->manifest.service_name(), package->manifest.plugin_name,
                 package->manifest.plugin_version, memrun::tier_name(package->fetched_from), package->dir);
  }

  const auto load_start = std::chrono::steady_clock::now();
  std::shared_ptr<const memrun::LoadedPlugin> plugin;
  try {
    plugin = memrun::load_plugin(plugin_path);
    if (package && plugin->name() != package->manifest.plugin_name)
      throw memrun::Error(memrun::Code::kInvalidArgument, "the package's manifest names plugin '" +
                                                              package->manifest.plugin_name + "', its .so is '" +
                                                              plugin->name() + "'");
  } catch (const memrun::Error& e) {
    fmt::print(stderr, "memrun-host: {}\n", e.what());
    return kExitPlugin;
  }
  phases.push_back({"plugin load", seconds_since(load_start),
                    fmt::format("{} {} (ABI {}.{})", plugin->name(), plugin->version(), plugin->abi_major(),
                                plugin->abi_minor())});
  spdlog::info("loaded plugin '{}' {} (ABI {}.{}) from {}", plugin->name(), plugin->version(),
               plugin->abi_major(), plugin->abi_minor(), plugin->path());

  // Service fields, weakest first: the plugin's defaults, the package
  // manifest, the config file, the flags.
  memrun::MemoryService service = plugin->service();
  try {
    if (package) memrun::apply_service_fields(service, package->manifest.service);
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
    // Before joining: a request topic with another partition count would
    // route keys to other workers than clients expect (exit 2, a config
    // error); an unreachable cluster is a runtime failure (exit 1).
    const auto topics_start = std::chrono::steady_clock::now();
    try {
      auto made = memrun::ensure_service_topics(config.kafka, service.name, service.partitions, config.topics);
      if (!made.created.empty()) spdlog::info("created topics {}", fmt::join(made.created, ", "));
      phases.push_back({"topics", seconds_since(topics_start),
                        fmt::format("{} created, {} checked", made.created.size(), made.existing.size())});
    } catch (const memrun::Error& e) {
      fmt::print(stderr, "memrun-host: {}\n", e.what());
      return e.code() == memrun::Code::kInvalidArgument ? kExitUsage : kExitRuntime;
    }

    const std::string state_dir = config.cache_root + "/" + service.name;
    report_to_supervisor(config.kafka, service.name, state_dir);
    memrun::WorkerOptions options;
    options.kafka = config.kafka;
    options.worker_id = config.worker_id;
    options.instance_id = config.instance_id;
    options.result_url = config.result_url;
    options.s3 = config.s3;
    options.state_dir = state_dir;
    options.heartbeat_interval = std::chrono::milliseconds(static_cast<int64_t>(heartbeat_s * 1000));
    if (package) options.package_dir = package->dir;
    options.file_roots = config.file_roots;
    if (config.max_unacked_records > 0) options.max_unacked_records = config.max_unacked_records;
    options.range_chunk_bytes = config.range_chunk_bytes;
    if (read_ahead) options.read_ahead = *read_ahead;
    if (read_ahead_bytes) options.read_ahead_bytes = *read_ahead_bytes;
    if (revoke_wait_ms) options.revoke_wait = std::chrono::milliseconds(*revoke_wait_ms);
    options.startup_phases = std::move(phases);
    // Kafka ended the worker (e.g. its instance id was fenced): wake the
    // sigwait below as a stop would; the exit code comes from failure().
    options.on_failure = [](const memrun::Error&) { ::kill(::getpid(), SIGTERM); };
    memrun::Worker worker(std::move(service), std::move(options));
    // Listening before start(): /readyz answers "not ready" while init runs.
    std::unique_ptr<memrun::MetricsServer> metrics;
    if (config.metrics_address != "off") {
      try {
        metrics = std::make_unique<memrun::MetricsServer>(worker, config.metrics_address);
      } catch (const memrun::Error& e) {
        // Several hosts on one machine: only the first gets the default port,
        // the others a free one. An address given explicitly must be had.
        if (e.code() != memrun::Code::kUnavailable || config_sets_metrics || metrics_address) {
          fmt::print(stderr, "memrun-host: {}\n", e.what());
          return e.code() == memrun::Code::kInvalidArgument ? kExitUsage : kExitRuntime;
        }
        spdlog::warn("{}; the metrics endpoint takes a free port instead", e.what());
        metrics = std::make_unique<memrun::MetricsServer>(worker, "127.0.0.1:0");
      }
      announce(fmt::format("memrun-host: metrics http://{}:{}/metrics", metrics->host(), metrics->port()));
    }
    worker.start();
    announce(fmt::format("memrun-host: ready worker={} service={} topic={}", worker.worker_id(),
                         worker.service().name, memrun::protocol::request_topic(worker.service().name)));

    int sig = 0;
    sigwait(&stop_signals, &sig);
    if (!worker.failure()) spdlog::info("received {}, draining", sig == SIGINT ? "SIGINT" : "SIGTERM");
    worker.stop();
    if (auto failure = worker.failure()) {
      fmt::print(stderr, "memrun-host: {}\n", failure->what());
      return failure->code() == memrun::Code::kInvalidArgument ? kExitUsage : kExitRuntime;
    }
  } catch (const memrun::Error& e) {
    fmt::print(stderr, "memrun-host: {}\n", e.what());
    return kExitRuntime;
  }
  announce("memrun-host: stopped");
  return 0;
}
