// memrun dev-kafka: librdkafka's mock cluster as a process of its own, so
// that workers can crash, restart and come and go on one machine while the
// cluster (and the group's committed offsets) stays. `--embedded-kafka` puts
// the cluster inside one worker, where a plugin crash takes it down.
//
//   memrun dev-kafka [--brokers N] [--service NAME:PARTITIONS ...] [--bootstrap-file PATH]
//
// The bootstrap address is the first line on stdout and, with
// --bootstrap-file, a file written whole (a signal scripts can wait on). It
// runs until SIGINT or SIGTERM and exits 0. The mock answers no Admin API, so
// the topics of each service named here are made at start: a worker started
// with -b on it finds them, where it would otherwise wait for a CreateTopics
// the mock never answers.
//
// Thread: main() only; librdkafka's broker threads serve the cluster.
#include "cli/commands.hpp"

#include <memrun/embedded_kafka.hpp>

#include <csignal>
#include <cstdio>
#include <utility>

namespace memrun::cli {
namespace {

struct DevKafkaArgs {
  int brokers = 3;
  std::vector<std::string> services;
  std::string bootstrap_file;
};

// "NAME:PARTITIONS" → its two parts. Throws Error(kInvalidArgument).
std::pair<std::string, int> parse_service(const std::string& spec) {
  const auto colon = spec.rfind(':');
  const std::string name = colon == std::string::npos ? "" : spec.substr(0, colon);
  int partitions = 0;
  if (colon == std::string::npos || name.empty() ||
      !CLI::detail::lexical_cast(spec.substr(colon + 1), partitions) || partitions < 1 || partitions > 10000)
    throw Error(Code::kInvalidArgument, "--service wants NAME:PARTITIONS with 1..10000 partitions, got '" + spec + "'");
  return {name, partitions};
}

// Writes next to `path`, then renames: a reader sees no file or all of it.
void publish_bootstrap(const std::string& path, const std::string& bootstrap) {
  const std::string tmp = path + ".tmp";
  std::FILE* f = std::fopen(tmp.c_str(), "w");
  const bool written = f != nullptr && std::fputs((bootstrap + "\n").c_str(), f) >= 0;
  if (f != nullptr && std::fclose(f) != 0) f = nullptr;
  if (!written || f == nullptr || std::rename(tmp.c_str(), path.c_str()) != 0) {
    std::remove(tmp.c_str());
    throw Error(Code::kInvalidArgument, "cannot write --bootstrap-file " + path);
  }
}

int run(const DevKafkaArgs& args) {
  std::vector<std::pair<std::string, int>> services;
  for (const auto& spec : args.services) services.push_back(parse_service(spec));

  // Blocked before librdkafka starts its threads, which inherit the mask, so
  // the signal reaches sigwait() below and nothing else.
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGINT);
  sigaddset(&stop_signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);

  EmbeddedKafka cluster(args.brokers);
  for (const auto& [name, partitions] : services) cluster.create_service_topics(name, partitions);
  fmt::print("{}\n", cluster.bootstrap_servers());
  std::fflush(stdout);
  if (!args.bootstrap_file.empty()) publish_bootstrap(args.bootstrap_file, cluster.bootstrap_servers());
  fmt::print(stderr, "memrun dev-kafka: {} mock broker(s) at {}; clients need -X fetch.wait.max.ms=10 or less\n",
             args.brokers, cluster.bootstrap_servers());

  int signal = 0;
  sigwait(&stop_signals, &signal);
  if (!args.bootstrap_file.empty()) std::remove(args.bootstrap_file.c_str());
  return kExitOk;
}

}  // namespace

void add_dev_kafka(CLI::App& app, int* exit_code) {
  auto args = std::make_shared<DevKafkaArgs>();
  auto* cmd = app.add_subcommand("dev-kafka", "Run a mock Kafka cluster for development until SIGINT/SIGTERM");
  cmd->add_option("--brokers", args->brokers, "Mock brokers")->check(CLI::Range(1, 9));
  cmd->add_option("--service", args->services,
                  "NAME:PARTITIONS: create this service's topics (repeatable; the mock has no CreateTopics)");
  cmd->add_option("--bootstrap-file", args->bootstrap_file, "Also write the bootstrap address to this file");
  cmd->callback([args, exit_code] {
    try {
      *exit_code = run(*args);
    } catch (const Error& e) {
      *exit_code = report("dev-kafka", e);
    }
  });
}

}  // namespace memrun::cli
