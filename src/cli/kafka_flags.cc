#include "cli/commands.hpp"

#include "app/config.hpp"

#include <memrun/status.hpp>

#include <cstdlib>

namespace memrun::cli {

void KafkaFlags::add_to(CLI::App& command) {
  if (const char* env = std::getenv("MEMRUN_BOOTSTRAP_SERVERS")) bootstrap = env;
  command.add_option("--bootstrap-servers,-b", bootstrap, "Kafka bootstrap servers (env MEMRUN_BOOTSTRAP_SERVERS)");
  command.add_option("-X", properties, "Extra librdkafka property key=value (repeatable)");
}

KafkaOptions KafkaFlags::options() const {
  if (bootstrap.empty())
    throw Error(Code::kInvalidArgument, "no Kafka: pass --bootstrap-servers or set MEMRUN_BOOTSTRAP_SERVERS");
  KafkaOptions o;
  o.bootstrap_servers = bootstrap;
  for (const auto& p : properties) {
    auto [key, value] = app::split_property(p);
    o.properties.insert_or_assign(key, value);
  }
  return o;
}

}  // namespace memrun::cli
