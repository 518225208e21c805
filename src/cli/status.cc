// memrun status SERVICE: one row per live worker, from memrun.heartbeats.
//
//   WORKER  STATE    PARTITIONS  IN FLIGHT  HANDLED  ERRORS  HIT RATIO  AGE
//   w1      serving  0-7         0          1200     3       97.5%      0.4s
//
// (STATE only with --all.) Exit 0 when at least one worker is live, 1 when
// none is (or Kafka could not be read), 2 for bad usage.
#include "cli/commands.hpp"

#include <memrun/heartbeats.hpp>
#include <memrun/protocol.hpp>

#include <fmt/core.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <array>
#include <memory>

namespace memrun::cli {
namespace {

struct StatusArgs {
  std::string service;
  double window_s = 60;
  double timeout_s = 10;
  bool all = false;
  bool json = false;
  KafkaFlags kafka;
};

// "0-3,8,10-11" from ascending partitions; "-" for none.
std::string partition_ranges(const std::vector<int32_t>& parts) {
  if (parts.empty()) return "-";
  std::string out;
  for (size_t i = 0; i < parts.size();) {
    size_t j = i;
    while (j + 1 < parts.size() && parts[j + 1] == parts[j] + 1) ++j;
    if (!out.empty()) out += ',';
    out += j == i ? fmt::format("{}", parts[i]) : fmt::format("{}-{}", parts[i], parts[j]);
    i = j + 1;
  }
  return out;
}

// Share of object lookups served without a remote fetch; "-" before any.
std::string hit_ratio(const CacheTierStatus& c) {
  const uint64_t hits = c.ram_hits + c.disk_hits;
  const uint64_t lookups = hits + c.remote_fetches;
  if (lookups == 0) return "-";
  return fmt::format("{:.1f}%", 100.0 * static_cast<double>(hits) / static_cast<double>(lookups));
}

std::string age(std::chrono::milliseconds a) { return fmt::format("{:.1f}s", static_cast<double>(a.count()) / 1000); }

void print_table(const std::vector<WorkerStatus>& workers, bool with_state) {
  std::vector<std::vector<std::string>> rows;
  rows.push_back({"WORKER", "STATE", "PARTITIONS", "IN FLIGHT", "HANDLED", "ERRORS", "HIT RATIO", "AGE"});
  for (const auto& w : workers)
    rows.push_back({w.worker_id, w.live ? w.state : w.state == "stopped" ? "stopped" : "stale",
                    partition_ranges(w.partitions), std::to_string(w.in_flight), std::to_string(w.handled),
                    std::to_string(w.errors), hit_ratio(w.cache), age(w.age)});
  constexpr size_t kStateColumn = 1;
  std::array<size_t, 8> width{};
  for (const auto& row : rows)
    for (size_t c = 0; c < row.size(); ++c) width[c] = std::max(width[c], row[c].size());
  for (const auto& row : rows) {
    std::string line;
    for (size_t c = 0; c < row.size(); ++c) {
      if (c == kStateColumn && !with_state) continue;
      line += c + 1 == row.size() ? row[c] : fmt::format("{:<{}}  ", row[c], width[c]);
    }
    fmt::print("{}\n", line);
  }
}

// Each worker's record as it sent it, plus what the reader worked out.
void print_json(const std::vector<WorkerStatus>& workers) {
  auto out = nlohmann::json::array();
  for (const auto& w : workers) {
    auto record = nlohmann::json::parse(w.json);
    record["age_ms"] = w.age.count();
    record["live"] = w.live;
    out.push_back(std::move(record));
  }
  fmt::print("{}\n", out.dump(2));
}

int status(const StatusArgs& a) {
  if (!protocol::valid_service_name(a.service)) {
    fmt::print(stderr, "memrun status: invalid service name '{}'\n", a.service);
    return kExitUsage;
  }
  try {
    WorkerStatusQuery query;
    query.window = std::chrono::milliseconds(static_cast<int64_t>(a.window_s * 1000));
    query.timeout = std::chrono::milliseconds(static_cast<int64_t>(a.timeout_s * 1000));
    query.include_gone = a.all;
    const auto workers = read_worker_status(a.kafka.options(), a.service, query);
    const bool any_live = std::any_of(workers.begin(), workers.end(), [](const WorkerStatus& w) { return w.live; });
    if (a.json) print_json(workers);
    else if (!workers.empty()) print_table(workers, a.all);
    if (!any_live)
      fmt::print(stderr, "memrun status: no live worker of '{}' in the last {} s of {}\n", a.service, a.window_s,
                 protocol::kHeartbeatsTopic);
    return any_live ? kExitOk : kExitFailed;
  } catch (const Error& e) {
    if (e.code() == Code::kInvalidArgument) {
      fmt::print(stderr, "memrun status: {}\n", e.what());
      return kExitUsage;
    }
    fmt::print(stderr, "memrun status: Kafka at {}: {}\n", a.kafka.bootstrap, e.what());
    return kExitFailed;
  }
}

}  // namespace

void add_status(CLI::App& app, int* exit_code) {
  auto args = std::make_shared<StatusArgs>();
  auto* cmd = app.add_subcommand("status", "List the live workers of a service from their heartbeats");
  cmd->add_option("service", args->service, "Service name")->required();
  args->kafka.add_to(*cmd);
  cmd->add_option("--window", args->window_s, "Seconds of heartbeats to read; quieter workers are not listed")
      ->check(kPositiveSeconds);
  cmd->add_option("--timeout", args->timeout_s, "Seconds to wait for Kafka")->check(kPositiveSeconds);
  cmd->add_flag("--all", args->all, "Also list workers that stopped or went stale within the window, with a STATE column");
  cmd->add_flag("--json", args->json, "Print a JSON array: each worker's last record plus age_ms and live");
  cmd->callback([args, exit_code] { *exit_code = status(*args); });
}

}  // namespace memrun::cli
