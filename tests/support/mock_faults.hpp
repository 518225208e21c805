// Broker errors on demand, for fault tests: the mock cluster of an
// EmbeddedKafka answers the next requests of one Kafka API with an error.
#pragma once

#include <memrun/embedded_kafka.hpp>

#include "kafka/mock_access.hpp"

#include <cstdint>
#include <vector>

namespace memrun::test {

// The next `count` requests of Kafka API `api_key` (0 = Produce, 12 =
// Heartbeat), from any client, are answered with Kafka error `error_code`.
inline void fail_requests(EmbeddedKafka& kafka, int api_key, int count, int error_code) {
  if (count <= 0) return;
  std::vector<rd_kafka_resp_err_t> errors(static_cast<size_t>(count), static_cast<rd_kafka_resp_err_t>(error_code));
  rd_kafka_mock_push_request_errors_array(internal::MockAccess::cluster(kafka), static_cast<int16_t>(api_key),
                                          errors.size(), errors.data());
}

// Drops the failures fail_requests() queued for `api_key` and not yet used.
inline void clear_request_failures(EmbeddedKafka& kafka, int api_key) {
  rd_kafka_mock_clear_request_errors(internal::MockAccess::cluster(kafka), static_cast<int16_t>(api_key));
}

}  // namespace memrun::test
