// memrun/embedded_kafka.hpp — librdkafka's built-in mock cluster, in process.
//
// For demos and tests: real Kafka protocol over real TCP on 127.0.0.1, so other
// processes (another memrun-host, the CLI, kcat) can join it. Not for
// production: it keeps ~5 MiB or 100k messages per partition and ignores
// static membership.
//
// Lifetime: the brokers listen from the constructor until the destructor,
// which closes their connections; clients still connected then see the
// cluster go away (as with a real one) and must be destroyed by their owner.
// Threads: the brokers run on librdkafka threads of their own; every member
// function may be called from any thread.
#pragma once

#include <memrun/export.hpp>

#include <map>
#include <memory>
#include <string>

namespace memrun {

namespace internal {
struct MockAccess;  // fault injection for memrun's tests (src/kafka/mock_access.hpp)
}  // namespace internal

class MEMRUN_API EmbeddedKafka {
 public:
  explicit EmbeddedKafka(int brokers = 3);
  ~EmbeddedKafka();
  EmbeddedKafka(const EmbeddedKafka&) = delete;
  EmbeddedKafka& operator=(const EmbeddedKafka&) = delete;

  // "127.0.0.1:port,..." of every mock broker.
  const std::string& bootstrap_servers() const noexcept;

  // librdkafka properties every client of a mock cluster needs: it holds each
  // fetch for the full fetch.wait.max.ms even when records arrive, so the
  // 500 ms default would add up to half a second to every request.
  static std::map<std::string, std::string> client_properties();

  // The mock has no CreateTopics API; topics are made here. Creating an existing
  // topic is a no-op. Throws Error on failure.
  void create_topic(const std::string& topic, int partitions, int replication = 1);

  // Creates the request topic of `service` and memrun's shared topics.
  void create_service_topics(const std::string& service, int partitions);

 private:
  friend struct internal::MockAccess;
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace memrun
