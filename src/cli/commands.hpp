// The memrun CLI's subcommands, one file each. Every add_* registers its
// subcommand on `app` with a callback that runs it and stores the process
// exit code in `*exit_code`.
#pragma once

#include <memrun/kafka_options.hpp>
#include <memrun/status.hpp>

#include <CLI/CLI.hpp>
#include <fmt/core.h>

#include <string>
#include <string_view>
#include <vector>

namespace memrun::cli {

constexpr int kExitOk = 0;
constexpr int kExitFailed = 1;  // the service answered with an error, timed out, or a check failed
constexpr int kExitUsage = 2;   // bad usage or input

// Prints "memrun COMMAND: what" to stderr and returns the exit code for `e`:
// input that is wrong or names nothing that exists is usage, the rest failed.
inline int report(std::string_view command, const Error& e) {
  fmt::print(stderr, "memrun {}: {}\n", command, e.what());
  return e.code() == Code::kInvalidArgument || e.code() == Code::kNotFound ? kExitUsage : kExitFailed;
}

// A number of seconds greater than 0. CLI::PositiveNumber would do, but its
// message spells out the whole range of a double.
inline const CLI::Validator kPositiveSeconds(
    [](std::string& input) -> std::string {
      double seconds = 0;
      if (CLI::detail::lexical_cast(input, seconds) && seconds > 0) return {};
      return "expected seconds greater than 0, got " + input;
    },
    "SECONDS>0");

void add_invoke(CLI::App& app, int* exit_code);
void add_partition(CLI::App& app, int* exit_code);
void add_package(CLI::App& app, int* exit_code);
void add_deploy(CLI::App& app, int* exit_code);
void add_status(CLI::App& app, int* exit_code);
void add_cache(CLI::App& app, int* exit_code);
void add_dev_kafka(CLI::App& app, int* exit_code);

// The Kafka flags every Kafka-facing subcommand takes: --bootstrap-servers
// (env MEMRUN_BOOTSTRAP_SERVERS) and repeatable -X key=value.
struct KafkaFlags {
  std::string bootstrap;
  std::vector<std::string> properties;
  void add_to(CLI::App& command);
  // Throws Error(kInvalidArgument) without a bootstrap address or for a
  // malformed -X.
  KafkaOptions options() const;
};

}  // namespace memrun::cli
