// The fleet's crash journal: deaths of a service's worker processes on the
// compacted topic memrun.suspects.{service}, so that a request that killed a
// process on one machine is a suspect for the partition's next owner on
// another, and is dead-lettered after max_crashes deaths across the fleet,
// not per machine (docs/architecture.md, Crash loops).
//
// One record per request that was running in a process that died: key =
// "{partition}:{offset}:{request id}:{incarnation}" (the incarnation is the
// dead process's random id from its journal slot, crash_journal.hpp), value =
// JSON. Publishing the same death twice (the supervisor, then the next
// process in the slot) writes the same key, so it counts once; a request's
// deaths are its distinct keys. Once it finished or was dead-lettered, its
// records are tombstoned and compaction drops them.
//
// Each worker reads the topic from its start with a consumer of its own
// (manual assignment, no group). On an assignment, before any request of the
// new partitions is taken, it reads up to the topic's end as of then, so a
// death published before the rebalance is always counted.
//
// @locality: catch_up() and poll() on the worker's poll thread; deaths(),
// deaths_of() and finished() on handler threads; construction and
// destruction on the thread that starts and stops the worker.
#pragma once

#include <memrun/kafka_options.hpp>

#include "kafka/kafka.hpp"
#include "runtime/crash_journal.hpp"
#include "runtime/worker_counters.hpp"

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <set>
#include <string>
#include <string_view>

namespace memrun::internal {

class FleetJournal {
 public:
  // Produces one record of the suspects topic; a value whose data() is null
  // is a tombstone. Called from handler threads.
  using Publish = std::function<void(std::string_view key, std::string_view value)>;

  // The record of one request's part in one death.
  static std::string record_key(const CrashJournal::Request& r, const std::string& incarnation);
  static std::string record_value(const CrashJournal::Request& r, const std::string& incarnation);

  // Assigns the whole suspects topic from its start. Throws Error(kUnavailable)
  // when Kafka cannot be reached or the topic is missing; `counters` must
  // outlive the journal.
  FleetJournal(const KafkaOptions& kafka, const std::string& service, Counters& counters, Publish publish);
  FleetJournal(const FleetJournal&) = delete;
  FleetJournal& operator=(const FleetJournal&) = delete;

  const std::string& topic() const { return topic_; }

  // Reads every record up to the topic's end as it is now. False if
  // `deadline` came first (what was read counts).
  bool catch_up(std::chrono::steady_clock::time_point deadline);
  // Reads what has arrived, without waiting.
  void poll();

  // Distinct dead processes that were running `r` (0: none known).
  int deaths(const CrashJournal::Request& r) const;
  int deaths_of(const CrashJournal::Key& k) const;  // the same, by a key made once
  // `r` finished or was dead-lettered: its records are tombstoned.
  void finished(const CrashJournal::Request& r);

 private:
  void apply(const rd_kafka_message_t& m);  // poll thread

  const std::string topic_;
  Counters& counters_;
  const Publish publish_;
  kafka::Handle consumer_;
  int64_t next_ = 0;        // poll thread: the offset after the last record read
  size_t unreadable_ = 0;   // poll thread: malformed records skipped

  mutable std::mutex mu_;
  std::map<std::string, CrashJournal::Key> records_;          // GUARDED_BY(mu_) record key → request
  std::map<CrashJournal::Key, std::set<std::string>> dead_;   // GUARDED_BY(mu_) request → its record keys
  // Whether dead_ holds anything: a request that no death names costs its
  // handler thread one atomic load, no lock.
  std::atomic<bool> any_{false};
};

}  // namespace memrun::internal
