// Every counter of kWorkerCounters travels everywhere it is listed: the
// heartbeat record (written and read back) and the Prometheus text.
#include <memrun/heartbeats.hpp>
#include <memrun/worker_counters.hpp>

#include "ops/exposition.hpp"
#include "runtime/status_record.hpp"
#include "runtime/worker_counters.hpp"

#include <gtest/gtest.h>

#include <set>
#include <string>

using namespace memrun;

namespace {

// Distinct values, so a counter read from the wrong field shows.
WorkerCounters distinct() {
  WorkerCounters c;
  uint64_t v = 1000;
  for (const auto& row : kWorkerCounters) c.*row.field = v += 7;
  return c;
}

}  // namespace

TEST(WorkerCounters, EveryFieldHasOneRowAndOneName) {
  std::set<std::string_view> names;
  std::set<std::string> samples;
  for (const auto& row : kWorkerCounters) {
    EXPECT_TRUE(names.insert(row.name).second) << row.name;
    EXPECT_TRUE(samples.insert(std::string(row.metric) + "{" + std::string(row.label) + "}").second) << row.metric;
  }
  // Distinct values land in distinct fields: no two rows share a member.
  const WorkerCounters c = distinct();
  std::set<uint64_t> values;
  for (const auto& row : kWorkerCounters) values.insert(c.*row.field);
  EXPECT_EQ(values.size(), kWorkerCounterCount);
}

TEST(WorkerCounters, AtomicCountersFillEveryField) {
  internal::Counters counters;
  const WorkerCounters want = distinct();
  for (const auto& row : kWorkerCounters) counters.add(row.field, want.*row.field);
  counters.raise(&WorkerCounters::max_in_flight, 1);  // lower: no change
  WorkerCounters got;
  counters.fill(got);
  for (const auto& row : kWorkerCounters) EXPECT_EQ(got.*row.field, want.*row.field) << row.name;
}

TEST(WorkerCounters, HeartbeatRecordRoundTripsEveryField) {
  WorkerStatus s;
  static_cast<WorkerCounters&>(s) = distinct();
  s.worker_id = "w1";
  s.service = "svc";
  s.state = "serving";
  s.time_ms = 1234567;
  s.interval = std::chrono::milliseconds(2500);
  s.partitions = {1, 4, 9};
  s.in_flight = 3;
  s.handled = 11;
  s.errors = 2;
  s.objects = 5;
  s.object_bytes = 6;
  s.memory_budget_bytes = 7;
  s.evictions = 8;
  s.cache = {21, 22, 23, 24, 25, 26, 27, 28, 29};

  const std::string json = internal::encode_worker_status(s);
  const auto back = internal::decode_worker_status(json);
  ASSERT_TRUE(back) << json;
  for (const auto& row : kWorkerCounters) EXPECT_EQ((*back).*row.field, s.*row.field) << row.name;
  EXPECT_EQ(back->worker_id, s.worker_id);
  EXPECT_EQ(back->service, s.service);
  EXPECT_EQ(back->state, s.state);
  EXPECT_EQ(back->time_ms, s.time_ms);
  EXPECT_EQ(back->interval, s.interval);
  EXPECT_EQ(back->partitions, s.partitions);
  EXPECT_EQ(back->in_flight, s.in_flight);
  EXPECT_EQ(back->handled, s.handled);
  EXPECT_EQ(back->errors, s.errors);
  EXPECT_EQ(back->objects, s.objects);
  EXPECT_EQ(back->object_bytes, s.object_bytes);
  EXPECT_EQ(back->memory_budget_bytes, s.memory_budget_bytes);
  EXPECT_EQ(back->evictions, s.evictions);
  EXPECT_EQ(back->cache.ram_hits, 21u);
  EXPECT_EQ(back->cache.disk_corrupt_dropped, 29u);
  EXPECT_EQ(back->json, json);
}

TEST(WorkerCounters, NotAWorkerStatusIsRefused) {
  EXPECT_FALSE(internal::decode_worker_status("not json"));
  EXPECT_FALSE(internal::decode_worker_status(R"({"worker_id":"w"})"));
  EXPECT_FALSE(internal::decode_worker_status(R"({"worker_id":"","service":"s","time_ms":1})"));
  EXPECT_FALSE(internal::decode_worker_status(R"({"worker_id":"w","service":"s","time_ms":"soon"})"));
}

TEST(WorkerCounters, EveryCounterIsOnTheMetricsText) {
  const WorkerCounters c = distinct();
  internal::Exposition x;
  internal::write_counters(x, c);
  const std::string text = x.take();
  for (const auto& row : kWorkerCounters) {
    std::string sample(row.metric);
    if (const auto eq = row.label.find('='); eq != std::string_view::npos)
      sample += "{" + std::string(row.label.substr(0, eq)) + "=\"" + std::string(row.label.substr(eq + 1)) + "\"}";
    sample += " " + std::to_string(c.*row.field) + "\n";
    EXPECT_NE(text.find(sample), std::string::npos) << sample << " missing from\n" << text;
    EXPECT_NE(text.find("# TYPE " + std::string(row.metric) + " " + std::string(row.type) + "\n"), std::string::npos)
        << row.metric;
  }
}
