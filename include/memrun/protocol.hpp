// memrun/protocol.hpp — names on the wire. docs/protocol.md describes the
// protocol so any Kafka client can call a service; these constants are its
// source of truth.
#pragma once

#include <memrun/export.hpp>

#include <string>
#include <string_view>

namespace memrun::protocol {

// Requests of service S go to topic "memrun.requests.S", consumed by group
// "memrun-S".
MEMRUN_API std::string request_topic(std::string_view service);
MEMRUN_API std::string consumer_group(std::string_view service);

// Replies of every service go to this topic, to the partition the request names.
inline constexpr std::string_view kReplyTopic = "memrun.replies";
inline constexpr int kReplyPartitions = 16;
// Compacted registry: key = service name, value = service fields as JSON.
inline constexpr std::string_view kServicesTopic = "memrun.services";

// Failed requests of service S, after their last attempt.
MEMRUN_API std::string dlq_topic(std::string_view service);
// Deaths of worker processes of service S, one record per request that was
// running in a process that died (compacted; docs/architecture.md, Crash
// loops): key = the request and the dead process, value = JSON, a null value
// once the request finished or was dead-lettered.
MEMRUN_API std::string suspects_topic(std::string_view service);
// Worker status, every heartbeat interval: key = worker id, value = JSON.
inline constexpr std::string_view kHeartbeatsTopic = "memrun.heartbeats";

// Dead-letter headers, added to the request's own key, value and headers.
// Same information as Kafka Connect's __connect.errors.* and Spring Kafka's
// kafka_dlt-* headers (docs/protocol.md).
inline constexpr std::string_view kHeaderDlqTopic = "memrun-dlq-original-topic";
inline constexpr std::string_view kHeaderDlqPartition = "memrun-dlq-original-partition";
inline constexpr std::string_view kHeaderDlqOffset = "memrun-dlq-original-offset";
inline constexpr std::string_view kHeaderDlqErrorClass = "memrun-dlq-error-class";
inline constexpr std::string_view kHeaderDlqErrorMessage = "memrun-dlq-error-message";
inline constexpr std::string_view kHeaderDlqAttempts = "memrun-dlq-attempts";
inline constexpr std::string_view kHeaderDlqWorker = "memrun-dlq-worker";

// Request headers (all values UTF-8 text).
inline constexpr std::string_view kHeaderRequestId = "memrun-request-id";
inline constexpr std::string_view kHeaderReplyTo = "memrun-reply-to";
inline constexpr std::string_view kHeaderReplyPartition = "memrun-reply-partition";
inline constexpr std::string_view kHeaderDeadline = "memrun-deadline-ms";  // epoch ms

// Reply headers.
inline constexpr std::string_view kHeaderStatus = "memrun-status";  // "ok" | "error"
inline constexpr std::string_view kHeaderErrorCode = "memrun-error-code";
inline constexpr std::string_view kHeaderWorker = "memrun-worker";
inline constexpr std::string_view kHeaderPartition = "memrun-partition";
inline constexpr std::string_view kHeaderOffset = "memrun-offset";

// Service names become topic names: [a-zA-Z0-9._-], 1..200 characters.
MEMRUN_API bool valid_service_name(std::string_view name) noexcept;

}  // namespace memrun::protocol
