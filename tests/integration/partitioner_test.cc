// Our murmur2 partitioning agrees with librdkafka's murmur2_random on a real
// (mock) cluster: the partition a keyed record lands in is the one we compute.
#include <memrun/embedded_kafka.hpp>
#include <memrun/routing.hpp>

#include "support/kafka_probe.hpp"

#include <gtest/gtest.h>

TEST(Partitioner, AgreesWithLibrdkafkaMurmur2Random) {
  memrun::EmbeddedKafka kafka(1);
  kafka.create_topic("memrun.replies", 1);
  for (int partitions : {1, 7, 16, 64}) {
    std::string topic = "keys." + std::to_string(partitions);
    kafka.create_topic(topic, partitions);
    memrun::test::KafkaProbe probe(kafka.bootstrap_servers());
    for (int i = 0; i < 100; ++i) {
      std::string key = i % 3 ? "user-" + std::to_string(i) : std::to_string(i) + ":ds" + std::to_string(i % 5);
      EXPECT_EQ(probe.send(topic, key, "{}", "id"), memrun::kafka_partition(key, partitions)) << key;
    }
  }
}
