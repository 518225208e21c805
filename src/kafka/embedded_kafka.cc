#include <memrun/embedded_kafka.hpp>
#include <memrun/protocol.hpp>
#include <memrun/status.hpp>

#include "kafka/kafka.hpp"

#include <librdkafka/rdkafka_mock.h>

#include <vector>

namespace memrun {

struct EmbeddedKafka::Impl {
  // The mock cluster needs a client handle to own it; it dies with it.
  kafka::Handle owner;
  rd_kafka_mock_cluster_t* cluster = nullptr;
  std::string bootstrap;
};

EmbeddedKafka::EmbeddedKafka(int brokers) : impl_(std::make_unique<Impl>()) {
  if (brokers < 1) throw Error(Code::kInvalidArgument, "embedded Kafka needs at least one broker");
  auto conf = kafka::make_conf({}, {{"log_level", "3"}});
  impl_->owner = kafka::make_handle(RD_KAFKA_PRODUCER, std::move(conf));
  impl_->cluster = rd_kafka_mock_cluster_new(impl_->owner.get(), brokers);
  if (impl_->cluster == nullptr)
    throw Error(Code::kUnavailable, "cannot start librdkafka's mock cluster");
  impl_->bootstrap = rd_kafka_mock_cluster_bootstraps(impl_->cluster);
}

EmbeddedKafka::~EmbeddedKafka() {
  if (impl_ && impl_->cluster) rd_kafka_mock_cluster_destroy(impl_->cluster);
}

const std::string& EmbeddedKafka::bootstrap_servers() const noexcept { return impl_->bootstrap; }

void EmbeddedKafka::create_topic(const std::string& topic, int partitions, int replication) {
  auto err = rd_kafka_mock_topic_create(impl_->cluster, topic.c_str(), partitions, replication);
  if (err != RD_KAFKA_RESP_ERR_NO_ERROR && err != RD_KAFKA_RESP_ERR_TOPIC_ALREADY_EXISTS)
    throw kafka::error_from(err, "create topic " + topic);
}

void EmbeddedKafka::create_service_topics(const std::string& service, int partitions) {
  create_topic(protocol::request_topic(service), partitions);
  create_topic(std::string(protocol::kReplyTopic), protocol::kReplyPartitions);
  create_topic(std::string(protocol::kServicesTopic), 1);
  create_topic(protocol::dlq_topic(service), partitions);
  create_topic(std::string(protocol::kHeartbeatsTopic), 1);
}

void EmbeddedKafka::fail_requests(int api_key, int count, int error_code) {
  if (count <= 0) return;
  std::vector<rd_kafka_resp_err_t> errors(static_cast<size_t>(count), static_cast<rd_kafka_resp_err_t>(error_code));
  rd_kafka_mock_push_request_errors_array(impl_->cluster, static_cast<int16_t>(api_key), errors.size(), errors.data());
}

void EmbeddedKafka::clear_request_failures(int api_key) {
  rd_kafka_mock_clear_request_errors(impl_->cluster, static_cast<int16_t>(api_key));
}

std::map<std::string, std::string> EmbeddedKafka::client_properties() { return {{"fetch.wait.max.ms", "10"}}; }

}  // namespace memrun
