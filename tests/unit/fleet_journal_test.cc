// The fleet journal against librdkafka's mock cluster in this process: a
// request's deaths are its distinct records, a death published twice counts
// once, tombstones end it, and a missing topic is a clear error.
#include "runtime/fleet_journal.hpp"

#include <memrun/embedded_kafka.hpp>
#include <memrun/protocol.hpp>

#include "kafka/kafka.hpp"

#include <gtest/gtest.h>

#include <chrono>
#include <string>
#include <vector>

using memrun::internal::CrashJournal;
using memrun::internal::FleetJournal;
using namespace std::chrono_literals;

namespace {

class FleetJournalTest : public testing::Test {
 protected:
  memrun::KafkaOptions options() const {
    memrun::KafkaOptions o{kafka_.bootstrap_servers(), memrun::EmbeddedKafka::client_properties()};
    return o;
  }
  // Produces to the suspects topic and waits for the acknowledgement; a null
  // `value` data() is a tombstone.
  void produce(std::string_view key, std::string_view value) {
    memrun::kafka::Record r;
    r.topic = topic_.c_str();
    r.key = key;
    r.value = value;
    ASSERT_EQ(memrun::kafka::produce(producer_.get(), r), RD_KAFKA_RESP_ERR_NO_ERROR);
    ASSERT_EQ(rd_kafka_flush(producer_.get(), 10000), RD_KAFKA_RESP_ERR_NO_ERROR);
  }
  void publish_death(const CrashJournal::Request& r, const std::string& incarnation) {
    produce(FleetJournal::record_key(r, incarnation), FleetJournal::record_value(r, incarnation));
  }
  FleetJournal::Publish to_kafka() {
    return [this](std::string_view key, std::string_view value) { produce(key, value); };
  }
  static auto soon() { return std::chrono::steady_clock::now() + 30s; }

  memrun::EmbeddedKafka kafka_{1};
  const std::string topic_ = memrun::protocol::suspects_topic("svc");
  memrun::kafka::Handle producer_ =
      memrun::kafka::make_handle(RD_KAFKA_PRODUCER, memrun::kafka::make_conf(options(), {}));
  memrun::internal::Counters counters_;
};

TEST_F(FleetJournalTest, CountsDistinctDeadProcessesAndForgetsAFinishedRequest) {
  kafka_.create_service_topics("svc", 4);
  const CrashJournal::Request poison{2, 40, "req-poison"}, other{2, 41, "req-other"};
  publish_death(poison, "aaaa");
  publish_death(poison, "aaaa");  // the supervisor, then the next process in the slot
  publish_death(poison, "bbbb");
  publish_death(other, "bbbb");

  FleetJournal fleet(options(), "svc", counters_, to_kafka());
  EXPECT_EQ(fleet.deaths(poison), 0) << "nothing read before a catch-up";
  ASSERT_TRUE(fleet.catch_up(soon()));
  EXPECT_EQ(fleet.deaths(poison), 2);
  EXPECT_EQ(fleet.deaths(other), 1);
  EXPECT_EQ(fleet.deaths({2, 40, "another-id"}), 0) << "same offset, another request";
  EXPECT_EQ(counters_.get(&memrun::WorkerCounters::fleet_deaths), 3u);

  fleet.finished(poison);  // tombstones its two records
  EXPECT_EQ(fleet.deaths(poison), 0);
  FleetJournal next_owner(options(), "svc", counters_, to_kafka());
  ASSERT_TRUE(next_owner.catch_up(soon()));
  EXPECT_EQ(next_owner.deaths(poison), 0) << "the tombstones reached the next owner";
  EXPECT_EQ(next_owner.deaths(other), 1);

  // A death published after the first catch-up is read by the next one.
  publish_death(other, "cccc");
  ASSERT_TRUE(fleet.catch_up(soon()));
  EXPECT_EQ(fleet.deaths(other), 2);
}

TEST_F(FleetJournalTest, AMissingTopicIsAnErrorNamingIt) {
  kafka_.create_topic(memrun::protocol::request_topic("svc"), 4);  // an older memrun's topics
  try {
    FleetJournal fleet(options(), "svc", counters_, to_kafka());
    FAIL() << "opened without its topic";
  } catch (const memrun::Error& e) {
    EXPECT_EQ(e.code(), memrun::Code::kUnavailable);
    EXPECT_NE(std::string(e.what()).find(topic_), std::string::npos) << e.what();
  }
}

}  // namespace
