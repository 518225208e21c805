// memrun/topics.hpp — the topics a service needs, made sure of on a cluster.
//
//   memrun::ensure_service_topics({.bootstrap_servers = "kafka:9092"}, "vectors", 64);
//
// memrun-host calls this before its worker joins the group, and `memrun
// deploy --bootstrap-servers` before it prints the package URL. A library
// user who runs memrun::Worker directly calls it first.
//
// Topics, and what is made when one is missing (through the Admin API,
// CreateTopics):
//   memrun.requests.{service}  `partitions` partitions; an existing one with
//                              another count is an error (the sticky mapping
//                              key -> partition -> worker depends on it)
//   memrun.dlq.{service}       `partitions` partitions
//   memrun.suspects.{service}  1 partition, cleanup.policy=compact (deaths of
//                              worker processes, for the fleet's crash-loop count)
//   memrun.replies             protocol::kReplyPartitions partitions
//   memrun.heartbeats          1 partition
//   memrun.services            1 partition, cleanup.policy=compact (a registry:
//                              the latest record per service is what counts)
//
// Existing topics are read from the cluster's full topic list, never by
// asking for a topic by name, so a broker with auto.create.topics.enable
// cannot create one with its default partition count behind our back.
//
// librdkafka 2.0.2's mock cluster (memrun::EmbeddedKafka) answers no Admin
// request: there the topics are made by EmbeddedKafka::create_service_topics,
// and this function checks them (a missing one fails after `timeout`).
#pragma once

#include <memrun/export.hpp>
#include <memrun/kafka_options.hpp>

#include <chrono>
#include <map>
#include <string>
#include <vector>

namespace memrun {

struct TopicOptions {
  // Replicas of each topic made; -1 = the broker's default.replication.factor
  // (Kafka 2.4+). Existing topics are never changed.
  int replication_factor = -1;
  // Extra topic configs for every topic made, e.g. {"min.insync.replicas", "2"}.
  std::map<std::string, std::string> configs;
  // How long to wait for the cluster's answers, each step.
  std::chrono::milliseconds timeout{15000};
};

struct TopicsReport {
  std::vector<std::string> created;   // made now
  std::vector<std::string> existing;  // already there, counts checked
};

// Thread: any; blocks for at most a few `timeout`s. Throws Error:
// kInvalidArgument when the request topic exists with a partition count other
// than `partitions` (the message names both counts and the fix) or an option
// is out of range; kUnavailable when the cluster cannot be reached or refuses
// to create a topic (the message names the topic and the broker's reason).
MEMRUN_API TopicsReport ensure_service_topics(const KafkaOptions& kafka, const std::string& service, int partitions,
                                              const TopicOptions& options = {});

}  // namespace memrun
