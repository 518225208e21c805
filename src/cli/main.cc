// memrun: the command-line client. One file per subcommand (commands.hpp).
//
//   memrun invoke SERVICE 'JSON' [-b host:port] [--sticky-key k] [--timeout s]
//   memrun partition KEY --partitions N
//   memrun package --plugin lib.so [--data file ...] [-o out.tar.zst]
//   memrun deploy out.tar.zst --to s3://bucket/deployments/{service}/{deployment_id}/package.tar.zst
//   memrun status SERVICE [-b host:port] [--window s] [--all] [--json]
//   memrun cache ls|stats|verify|evict (--cache-root DIR --service NAME | --dir DIR)
//   memrun dev-kafka [--brokers N] [--service NAME:PARTITIONS ...] [--bootstrap-file PATH]
//
// Exit codes: 0 success, 1 the service answered with an error, timed out, a
// check failed, no worker is live or a worker holds the cache to change, 2 bad
// usage or input.
#include "cli/commands.hpp"

#include <spdlog/spdlog.h>

int main(int argc, char** argv) {
  spdlog::set_level(spdlog::level::warn);
  CLI::App app{"memrun: call and inspect memrun services"};
  app.require_subcommand(1);
  int exit_code = memrun::cli::kExitUsage;
  memrun::cli::add_invoke(app, &exit_code);
  memrun::cli::add_partition(app, &exit_code);
  memrun::cli::add_package(app, &exit_code);
  memrun::cli::add_deploy(app, &exit_code);
  memrun::cli::add_status(app, &exit_code);
  memrun::cli::add_cache(app, &exit_code);
  memrun::cli::add_dev_kafka(app, &exit_code);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    // --help exits 0; every usage error exits with our one usage code.
    return app.exit(e) == 0 ? 0 : memrun::cli::kExitUsage;
  }
  return exit_code;
}
