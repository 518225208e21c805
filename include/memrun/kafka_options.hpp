// memrun/kafka_options.hpp — how a worker or client reaches Kafka.
#pragma once

#include <map>
#include <string>

namespace memrun {

struct KafkaOptions {
  // "host:port[,host:port...]"
  std::string bootstrap_servers;
  // Extra librdkafka properties, applied last (they override memrun's defaults),
  // e.g. {"session.timeout.ms", "6000"}. An unknown property is an error.
  std::map<std::string, std::string> properties;
};

}  // namespace memrun
