// A raw librdkafka client for tests: produces hand-made request records (bad
// ones included) and reads replies and committed offsets, independently of
// memrun's own Client.
#pragma once

#include <librdkafka/rdkafka.h>

#include <chrono>
#include <map>
#include <set>
#include <string>
#include <vector>

namespace memrun::test {

struct RawReply {
  std::string status;
  std::string error_code;
  std::string worker;
  std::string value;
};

struct RawRecord {
  int32_t partition = -1;
  int64_t offset = -1;
  std::string key;
  std::string value;
  std::map<std::string, std::string> headers;  // last value per name
};

class KafkaProbe {
 public:
  explicit KafkaProbe(const std::string& bootstrap, int reply_partition = 0);
  ~KafkaProbe();

  // Produces with memrun's request headers (reply to this probe's partition).
  // Returns the partition the record landed in.
  int32_t send(const std::string& topic, const std::string& key, const std::string& value,
               const std::string& request_id, int64_t deadline_ms = 0);
  // The same with memrun-deadline-ms exactly as given (malformed ones too).
  int32_t send_with_deadline(const std::string& topic, const std::string& key, const std::string& value,
                             const std::string& request_id, const std::string& deadline);

  // Produces a bare record: no memrun headers at all.
  void send_without_reply(const std::string& topic, const std::string& key, const std::string& value);

  // Replies to `ids` read from the reply partition, until all arrived or timeout.
  std::map<std::string, RawReply> collect(const std::set<std::string>& ids, std::chrono::milliseconds timeout);

  // Every record of `topic` (partitions 0..partitions-1) from the beginning,
  // read until at least `min_count` arrived or `timeout` passed.
  std::vector<RawRecord> read_topic(const std::string& topic, int partitions, size_t min_count,
                                    std::chrono::milliseconds timeout);

  // Records currently in `topic` (sum over partitions of high - low watermark).
  size_t count(const std::string& topic, int partitions);

  // `group`'s committed offset per partition (negative: none yet).
  std::vector<int64_t> committed(const std::string& group, const std::string& topic, int partitions);

  // Sum over partitions of high watermark minus `group`'s committed offset.
  int64_t lag(const std::string& group, const std::string& topic, int partitions);

  // True once `group` has committed the high watermark of every partition.
  bool wait_committed(const std::string& group, const std::string& topic, int partitions,
                      std::chrono::milliseconds timeout);

 private:
  std::pair<int64_t, int64_t> watermarks(const std::string& topic, int partition);

  std::string bootstrap_;
  int reply_partition_;
  rd_kafka_t* producer_ = nullptr;
  rd_kafka_t* consumer_ = nullptr;
};

}  // namespace memrun::test
