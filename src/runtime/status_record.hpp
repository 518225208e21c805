// The heartbeat record: a worker's status as the JSON value it publishes on
// memrun.heartbeats (keyed by worker id), in both directions. The worker
// encodes it; read_worker_status (src/ops/heartbeats.cc) decodes it. Counters
// travel under their names in kWorkerCounters, so a new counter needs nothing
// here.
//
// @locality: pure functions, any thread.
#pragma once

#include <memrun/heartbeats.hpp>

#include <optional>
#include <string>
#include <string_view>

namespace memrun::internal {

// Every field except `age`, `live` and `json` (the reader's own).
std::string encode_worker_status(const WorkerStatus& status);

// nullopt for anything that is not a worker status (bad JSON, a required
// field missing or mistyped). Fields a worker of an older version did not
// send read as their defaults. Sets `json` to `value`; leaves age and live.
std::optional<WorkerStatus> decode_worker_status(std::string_view value);

}  // namespace memrun::internal
