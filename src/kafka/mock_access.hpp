// The librdkafka mock cluster behind an EmbeddedKafka, for fault tests that
// make the broker answer with errors (rd_kafka_mock_push_request_errors and
// the other rd_kafka_mock_* calls). Exported from libmemrun so that the
// integration tests, which link the shared library, can reach it; declared
// only here: not part of memrun's API.
#pragma once

#include <memrun/embedded_kafka.hpp>
#include <memrun/export.hpp>

#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>

namespace memrun::internal {

struct MockAccess {
  // Owned by `kafka`: valid while it lives.
  MEMRUN_API static rd_kafka_mock_cluster_t* cluster(EmbeddedKafka& kafka) noexcept;
};

}  // namespace memrun::internal
