// A raw librdkafka client for tests: produces hand-made request records (bad
// ones included) and reads replies and committed offsets, independently of
// memrun's own Client.
#pragma once

#include <librdkafka/rdkafka.h>

#include <chrono>
#include <map>
#include <set>
#include <string>

namespace memrun::test {

struct RawReply {
  std::string status;
  std::string error_code;
  std::string worker;
  std::string value;
};

class KafkaProbe {
 public:
  explicit KafkaProbe(const std::string& bootstrap, int reply_partition = 0);
  ~KafkaProbe();

  // Produces with memrun's request headers (reply to this probe's partition).
  // Returns the partition the record landed in.
  int32_t send(const std::string& topic, const std::string& key, const std::string& value,
               const std::string& request_id, int64_t deadline_ms = 0);

  // Replies to `ids` read from the reply partition, until all arrived or timeout.
  std::map<std::string, RawReply> collect(const std::set<std::string>& ids, std::chrono::milliseconds timeout);

  // True once `group` has committed the high watermark of every partition.
  bool wait_committed(const std::string& group, const std::string& topic, int partitions,
                      std::chrono::milliseconds timeout);

 private:
  std::string bootstrap_;
  int reply_partition_;
  rd_kafka_t* producer_ = nullptr;
  rd_kafka_t* consumer_ = nullptr;
};

}  // namespace memrun::test
