// Options for a worker run inside the test process against an EmbeddedKafka,
// so a test reads its stats() and state directly: the cluster's client
// properties, no heartbeats and no service registration, so the worker
// produces nothing of its own but replies.
#pragma once

#include <memrun/embedded_kafka.hpp>
#include <memrun/worker.hpp>

#include <chrono>
#include <string>

namespace memrun::test {

inline WorkerOptions in_process_options(const EmbeddedKafka& kafka, std::string worker_id) {
  WorkerOptions opts;
  opts.kafka.bootstrap_servers = kafka.bootstrap_servers();
  opts.kafka.properties = EmbeddedKafka::client_properties();
  opts.worker_id = std::move(worker_id);
  opts.heartbeat_interval = std::chrono::milliseconds(0);
  opts.register_service = false;
  return opts;
}

}  // namespace memrun::test
