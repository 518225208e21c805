// Thin RAII and helpers over librdkafka's C API, shared by worker, client and
// host. librdkafka stays out of public headers.
#pragma once

#include <memrun/kafka_options.hpp>
#include <memrun/status.hpp>

#include <librdkafka/rdkafka.h>

#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace memrun::kafka {

struct HandleDeleter {
  void operator()(rd_kafka_t* rk) const noexcept { rd_kafka_destroy(rk); }
};
struct ConfDeleter {
  void operator()(rd_kafka_conf_t* c) const noexcept { rd_kafka_conf_destroy(c); }
};
struct QueueDeleter {
  void operator()(rd_kafka_queue_t* q) const noexcept { rd_kafka_queue_destroy(q); }
};
struct PartitionListDeleter {
  void operator()(rd_kafka_topic_partition_list_t* l) const noexcept {
    rd_kafka_topic_partition_list_destroy(l);
  }
};
struct MessageDeleter {
  void operator()(rd_kafka_message_t* m) const noexcept { rd_kafka_message_destroy(m); }
};
using Handle = std::unique_ptr<rd_kafka_t, HandleDeleter>;
using Conf = std::unique_ptr<rd_kafka_conf_t, ConfDeleter>;
using Queue = std::unique_ptr<rd_kafka_queue_t, QueueDeleter>;
using PartitionList = std::unique_ptr<rd_kafka_topic_partition_list_t, PartitionListDeleter>;
using Message = std::unique_ptr<rd_kafka_message_t, MessageDeleter>;

// The Admin API's objects (topics.cc), each freed by its own destroy call.
template <auto Destroy>
struct DestroyWith {
  template <class T>
  void operator()(T* p) const noexcept { Destroy(p); }
};
using Metadata = std::unique_ptr<const rd_kafka_metadata_t, DestroyWith<rd_kafka_metadata_destroy>>;
using Event = std::unique_ptr<rd_kafka_event_t, DestroyWith<rd_kafka_event_destroy>>;
using AdminOptions = std::unique_ptr<rd_kafka_AdminOptions_t, DestroyWith<rd_kafka_AdminOptions_destroy>>;
using NewTopic = std::unique_ptr<rd_kafka_NewTopic_t, DestroyWith<rd_kafka_NewTopic_destroy>>;

// Properties memrun sets before the user's: tuned for a request path (low
// latency when idle), see docs/architecture.md.
std::map<std::string, std::string> producer_defaults();
std::map<std::string, std::string> consumer_defaults();

// Builds a conf from `defaults`, then `options.properties`, then
// bootstrap.servers. Throws Error(kInvalidArgument) naming a bad property.
Conf make_conf(const KafkaOptions& options, const std::map<std::string, std::string>& defaults);

// rd_kafka_new; takes ownership of conf. Throws Error(kUnavailable).
Handle make_handle(rd_kafka_type_t type, Conf conf);

// Header lookup on a message; nullopt when absent.
std::optional<std::string> header(const rd_kafka_message_t* msg, std::string_view name);
// The same without allocating: the value's bytes inside `msg`, valid while
// it lives (the per-request path reads its headers this way).
std::optional<std::string_view> header_view(const rd_kafka_message_t* msg, std::string_view name);
// Frees the header list librdkafka parsed for a consumed message (on the
// first header lookup, one allocation per header), on the calling thread;
// a later lookup parses the record's header bytes again. The per-request
// path calls it once the thread that allocated the list read what it
// needed: freed where the message dies instead (the delivery thread), the
// list cost a cross-thread free into another thread's malloc arena per
// header, 32 % of that thread's samples in a burst profile.
void drop_parsed_headers(rd_kafka_message_t* msg);

// Error for a librdkafka error code, with context.
Error error_from(rd_kafka_resp_err_t err, const std::string& what);

// {low, high}: the first offset still stored and the next offset to be
// written. Throws Error(kUnavailable).
std::pair<int64_t, int64_t> watermarks(rd_kafka_t* rk, const std::string& topic, int32_t partition, int timeout_ms);

// Highest offset + 1 of a partition (the next offset to be written).
int64_t high_watermark(rd_kafka_t* rk, const std::string& topic, int32_t partition, int timeout_ms);

// Every topic of the cluster with its partition count. It lists all topics
// and never names one, so a broker with auto.create.topics.enable creates
// nothing. Throws Error(kUnavailable) with librdkafka's reason.
std::map<std::string, int> list_topics(rd_kafka_t* rk, int timeout_ms);

// Partition count of a topic from metadata; nullopt if the topic is unknown.
std::optional<int> partition_count(rd_kafka_t* rk, const std::string& topic, int timeout_ms);

// Properties for a short-lived consumer that reads fixed ranges with
// read_ranges: `group_id` is never joined and nothing is committed.
std::map<std::string, std::string> reader_defaults(const std::string& group_id);

// Records [start, end) of one partition; `end` is a high watermark taken
// before reading, so the read ends even while producers keep writing.
struct OffsetRange {
  int32_t partition = 0;
  int64_t start = 0;
  int64_t end = 0;
};

// Reads `ranges` of `topic` by manual assignment of `consumer` (made from
// reader_defaults, polled with rd_kafka_poll_set_consumer) and hands every
// record to `on_record`, in offset order within a partition. Ranges with
// start >= end are skipped. Returns false if `deadline` passed first. Throws
// Error(kUnavailable) if the assignment fails.
bool read_ranges(rd_kafka_t* consumer, const std::string& topic, const std::vector<OffsetRange>& ranges,
                 std::chrono::steady_clock::time_point deadline,
                 const std::function<void(const rd_kafka_message_t&)>& on_record);

// Calls `produce` (one rd_kafka_producev) again while librdkafka refuses it
// with a full queue, for at most `patience`, serving delivery reports in
// between: a report frees the room its message held. Returns the last error.
rd_kafka_resp_err_t produce_when_room(rd_kafka_t* producer, std::chrono::milliseconds patience,
                                      const std::function<rd_kafka_resp_err_t()>& produce);

// One record to produce. librdkafka copies every byte (RD_KAFKA_MSG_F_COPY),
// so the views (headers' names and values too) need to live only for the
// call; a record kept for producing again keeps what they point at.
struct Record {
  const char* topic = nullptr;
  int32_t partition = RD_KAFKA_PARTITION_UA;  // UA: the partitioner picks it from the key
  std::string_view key;
  std::string_view value;
  std::vector<std::pair<std::string_view, std::string_view>> headers;
  void* opaque = nullptr;  // the delivery report's m->_private
};

// The one rd_kafka_producev: produces `record`, waiting up to `patience` for
// room in a full queue (produce_when_room). On an error librdkafka took
// nothing: `record.opaque` is still the caller's.
rd_kafka_resp_err_t produce(rd_kafka_t* producer, const Record& record,
                            std::chrono::milliseconds patience = std::chrono::milliseconds(0));

// Milliseconds since the Unix epoch.
int64_t now_unix_ms();

}  // namespace memrun::kafka
