#include <memrun/heartbeats.hpp>
#include <memrun/protocol.hpp>

#include "kafka/kafka.hpp"
#include "runtime/status_record.hpp"
#include "runtime/wire.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <limits>
#include <map>
#include <optional>

namespace memrun {
namespace {

using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

// A beat can be late by more than its interval: the poll thread that sends it
// also runs rebalance callbacks, and a short interval has little slack.
constexpr milliseconds kMinLiveAge{5000};
class Reader {
 public:
  Reader(const KafkaOptions& kafka, milliseconds timeout) : deadline_(Clock::now() + timeout) {
    auto conf = kafka::make_conf(kafka, kafka::reader_defaults("memrun-status-" + internal::new_request_id()));
    rk_ = kafka::make_handle(RD_KAFKA_CONSUMER, std::move(conf));
    rd_kafka_poll_set_consumer(rk_.get());
  }
  ~Reader() { rd_kafka_consumer_close(rk_.get()); }

  // Per partition, the records written at or after `since_ms` up to the end.
  std::vector<kafka::OffsetRange> ranges_since(int64_t since_ms) {
    auto partitions = kafka::partition_count(rk_.get(), topic_, ms_left());
    if (!partitions)
      throw Error(Code::kNotFound, topic_ + " does not exist: no memrun worker has run on this cluster");
    std::vector<kafka::OffsetRange> ranges;
    kafka::PartitionList by_time(rd_kafka_topic_partition_list_new(*partitions));
    for (int32_t p = 0; p < *partitions; ++p) {
      auto [low, high] = kafka::watermarks(rk_.get(), topic_, p, ms_left());
      ranges.push_back({p, low, high});
      if (low < high) rd_kafka_topic_partition_list_add(by_time.get(), topic_.c_str(), p)->offset = since_ms;
    }
    if (by_time->cnt == 0) return ranges;
    lookup(by_time.get());
    std::optional<bool> by_time_works;
    for (int i = 0; i < by_time->cnt; ++i) {
      const auto& found = by_time->elems[i];
      auto& range = ranges[static_cast<size_t>(found.partition)];
      if (found.offset >= 0) {
        range.start = found.offset;
        continue;
      }
      // -1: nothing that recent, or a broker that cannot look up by time.
      if (!by_time_works) by_time_works = finds_by_time(found.partition);
      if (*by_time_works) range.start = range.end;  // else read it all, from low
    }
    return ranges;
  }

  // Every record in `ranges`; throws Error(kDeadlineExceeded) if time runs out.
  void read(const std::vector<kafka::OffsetRange>& ranges,
            const std::function<void(const rd_kafka_message_t&)>& on_record) {
    if (!kafka::read_ranges(rk_.get(), topic_, ranges, deadline_, on_record))
      throw Error(Code::kDeadlineExceeded, "reading " + topic_ + " did not finish in time");
  }

 private:
  int ms_left() const {
    auto left = std::chrono::duration_cast<milliseconds>(deadline_ - Clock::now()).count();
    if (left <= 0) throw Error(Code::kDeadlineExceeded, "reading " + topic_ + " did not finish in time");
    return static_cast<int>(std::min<int64_t>(left, std::numeric_limits<int>::max()));
  }

  void lookup(rd_kafka_topic_partition_list_t* list) {
    if (auto err = rd_kafka_offsets_for_times(rk_.get(), list, ms_left()))
      throw kafka::error_from(err, "offsets by time in " + topic_);
    for (int i = 0; i < list->cnt; ++i)
      if (list->elems[i].err)
        throw kafka::error_from(list->elems[i].err,
                                "offset by time in " + topic_ + "[" + std::to_string(list->elems[i].partition) + "]");
  }

  // Whether the broker answers timestamp lookups: asked for time 0 in a
  // partition holding records, it must name one. librdkafka's mock cluster
  // (2.0.2, behind --embedded-kafka) answers -1 for every timestamp; it keeps
  // its records in memory for its process's life, so reading it whole is cheap.
  bool finds_by_time(int32_t partition) {
    kafka::PartitionList list(rd_kafka_topic_partition_list_new(1));
    rd_kafka_topic_partition_list_add(list.get(), topic_.c_str(), partition)->offset = 0;
    lookup(list.get());
    return list->elems[0].offset >= 0;
  }

  const std::string topic_{protocol::kHeartbeatsTopic};
  const Clock::time_point deadline_;
  kafka::Handle rk_;
};

}  // namespace

std::vector<WorkerStatus> read_worker_status(const KafkaOptions& kafka, const std::string& service,
                                             const WorkerStatusQuery& query) {
  if (query.window.count() <= 0) throw Error(Code::kInvalidArgument, "the heartbeat window must be positive");
  if (query.timeout.count() <= 0) throw Error(Code::kInvalidArgument, "the timeout must be positive");
  Reader reader(kafka, query.timeout);
  std::map<std::string, WorkerStatus> newest;  // by worker id, so the result comes out sorted
  size_t malformed = 0;
  reader.read(reader.ranges_since(kafka::now_unix_ms() - query.window.count()), [&](const rd_kafka_message_t& m) {
    auto s = internal::decode_worker_status(std::string_view(static_cast<const char*>(m.payload), m.payload ? m.len : 0));
    if (!s) {
      ++malformed;
      return;
    }
    if (s->service != service) return;
    // By the worker's own time, not offset: a worker's beats share a partition
    // only while the topic's partition count stays the same.
    auto it = newest.find(s->worker_id);
    if (it == newest.end()) newest.emplace(s->worker_id, std::move(*s));
    else if (s->time_ms >= it->second.time_ms) it->second = std::move(*s);
  });
  if (malformed > 0) spdlog::debug("{}: skipped {} records that are not a worker status", protocol::kHeartbeatsTopic, malformed);

  const int64_t now = kafka::now_unix_ms();
  std::vector<WorkerStatus> out;
  for (auto& [id, s] : newest) {
    s.age = milliseconds(std::max<int64_t>(0, now - s.time_ms));
    // The window bounds what is shown even where the whole topic was read.
    if (s.age > query.window) continue;
    s.live = s.state != "stopped" && s.age <= std::max(3 * s.interval, kMinLiveAge);
    if (s.live || query.include_gone) out.push_back(std::move(s));
  }
  return out;
}

}  // namespace memrun
