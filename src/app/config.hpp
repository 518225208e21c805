// What memrun-host and the memrun CLI share: the host's configuration (a
// JSON file, then command-line flags on top), the default cache root and
// -X key=value parsing.
//
// {
//   "service":   { "name": "echo", "sticky_key": "user_id", "concurrency": 8 },
//   "kafka":     { "bootstrap_servers": "127.0.0.1:9092",
//                  "properties": { "session.timeout.ms": "6000" } },
//   "topics":    { "replication_factor": 3, "configs": { "min.insync.replicas": "2" },
//                  "timeout_ms": 15000 },
//   "worker_id": "w1",
//   "instance_id": "w1",
//   "cache_root": "/var/cache/memrun",
//   "result_url": "file:///var/lib/memrun/results",
//   "metrics_address": "127.0.0.1:9464",
//   "s3":        { "endpoint": "http://127.0.0.1:9000", "region": "eu-west-1",
//                  "access_key_id": "…", "secret_access_key": "…" },
//   "file_roots": [ "/srv/datasets" ],
//   "package_max_unpacked": "4Gi",
//   "max_unacked_records": 1000,
//   "range_chunk_bytes": "8Mi"
// }
#pragma once

#include <memrun/context.hpp>
#include <memrun/kafka_options.hpp>
#include <memrun/topics.hpp>

#include <nlohmann/json.hpp>

#include <cstdint>
#include <string>
#include <vector>

namespace memrun::app {

inline constexpr const char* kDefaultMetricsAddress = "127.0.0.1:9464";

struct HostConfig {
  nlohmann::json service = nlohmann::json::object();  // service field overrides
  KafkaOptions kafka;
  TopicOptions topics;  // how missing topics are made
  std::string worker_id;
  std::string instance_id;  // group.instance.id (static membership); empty: none
  std::string cache_root;
  std::string result_url;
  std::string metrics_address = kDefaultMetricsAddress;  // "off": no endpoint
  S3Settings s3;  // empty fields: the AWS_* environment
  // Where file:// URLs may read besides the package's directory.
  std::vector<std::string> file_roots;
  // OpenPackageOptions::max_unpacked_bytes; 0: its default.
  uint64_t package_max_unpacked = 0;
  // WorkerOptions::max_unacked_records; 0: its default.
  uint64_t max_unacked_records = 0;
  // SharedWorkerContext::Options::range_chunk_bytes: a power of two from
  // 64 KiB to 1 GiB; 0: its default.
  uint64_t range_chunk_bytes = 0;
};

// Reads and checks a config file. Throws Error(kInvalidArgument) naming the
// file and the offending key; unknown keys are errors.
HostConfig load_config(const std::string& path);

// $MEMRUN_CACHE_ROOT, else $XDG_CACHE_HOME/memrun, else $HOME/.cache/memrun,
// else /tmp/memrun-cache.
std::string default_cache_root();

// Splits "key=value"; throws Error(kInvalidArgument) without '='.
std::pair<std::string, std::string> split_property(const std::string& text);

}  // namespace memrun::app
