#include "runtime/status_record.hpp"

#include <nlohmann/json.hpp>

#include <algorithm>

namespace memrun::internal {
namespace {

// What a worker from before interval_ms was in the record used by default.
constexpr int64_t kDefaultIntervalMs = 10000;

// The cache tiers' fields, named once for both directions.
constexpr std::pair<std::string_view, uint64_t CacheTierStatus::*> kCacheFields[] = {
    {"ram_hits", &CacheTierStatus::ram_hits},
    {"disk_hits", &CacheTierStatus::disk_hits},
    {"remote_fetches", &CacheTierStatus::remote_fetches},
    {"remote_bytes", &CacheTierStatus::remote_bytes},
    {"disk_entries", &CacheTierStatus::disk_entries},
    {"disk_bytes", &CacheTierStatus::disk_bytes},
    {"disk_capacity", &CacheTierStatus::disk_capacity},
    {"disk_evictions", &CacheTierStatus::disk_evictions},
    {"disk_corrupt_dropped", &CacheTierStatus::disk_corrupt_dropped},
};
constexpr std::pair<std::string_view, uint64_t WorkerStatus::*> kStoreFields[] = {
    {"handled", &WorkerStatus::handled},
    {"errors", &WorkerStatus::errors},
    {"objects", &WorkerStatus::objects},
    {"object_bytes", &WorkerStatus::object_bytes},
    {"memory_budget_bytes", &WorkerStatus::memory_budget_bytes},
    {"evictions", &WorkerStatus::evictions},
};

}  // namespace

std::string encode_worker_status(const WorkerStatus& s) {
  nlohmann::json j = {{"worker_id", s.worker_id},
                      {"service", s.service},
                      {"state", s.state},
                      {"time_ms", s.time_ms},
                      {"interval_ms", s.interval.count()},
                      {"partitions", s.partitions},
                      {"in_flight", s.in_flight}};
  for (const auto& c : kWorkerCounters) j[std::string(c.name)] = s.*c.field;
  for (const auto& [name, field] : kStoreFields) j[std::string(name)] = s.*field;
  auto& cache = j["cache"] = nlohmann::json::object();
  for (const auto& [name, field] : kCacheFields) cache[std::string(name)] = s.cache.*field;
  return j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

std::optional<WorkerStatus> decode_worker_status(std::string_view value) {
  auto j = nlohmann::json::parse(value, nullptr, false);
  if (!j.is_object()) return std::nullopt;
  try {
    WorkerStatus s;
    s.worker_id = j.at("worker_id").get<std::string>();
    s.service = j.at("service").get<std::string>();
    s.time_ms = j.at("time_ms").get<int64_t>();
    if (s.worker_id.empty()) return std::nullopt;
    // Workers older than `state` and `interval_ms` only ever sent serving beats.
    s.state = j.value("state", "serving");
    s.interval = std::chrono::milliseconds(j.value("interval_ms", kDefaultIntervalMs));
    s.partitions = j.value("partitions", std::vector<int32_t>{});
    std::sort(s.partitions.begin(), s.partitions.end());
    s.in_flight = j.value("in_flight", int64_t{0});
    for (const auto& c : kWorkerCounters) s.*c.field = j.value(std::string(c.name), uint64_t{0});
    for (const auto& [name, field] : kStoreFields) s.*field = j.value(std::string(name), uint64_t{0});
    const auto cache = j.value("cache", nlohmann::json::object());
    for (const auto& [name, field] : kCacheFields) s.cache.*field = cache.value(std::string(name), uint64_t{0});
    s.json = std::string(value);
    return s;
  } catch (const nlohmann::json::exception&) {  // a field missing or of the wrong type
    return std::nullopt;
  }
}

}  // namespace memrun::internal
