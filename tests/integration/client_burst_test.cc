// A burst of 20 000 requests from one Client: every one answered. The
// client's reader must keep up with its reply partition (a reader that falls
// behind loses replies to the cluster's retention), so its work per reply is
// bounded whatever the number pending (bench/run_client_burst.sh measures the
// CPU).
#include <memrun/client.hpp>
#include <memrun/embedded_kafka.hpp>
#include <memrun/protocol.hpp>

#include "support/host_process.hpp"
#include "support/kafka_probe.hpp"
#include "support/temp_dir.hpp"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <map>
#include <set>

using namespace std::chrono_literals;

namespace {

// One c_echo worker on a one-broker mock cluster, holding every partition.
struct EchoWorker {
  explicit EchoWorker(int partitions) {
    kafka.create_service_topics("c_echo", partitions);
    worker = memrun::test::start_worker(C_ECHO_PLUGIN, kafka.bootstrap_servers(), "e1",
                                        {"--partitions", std::to_string(partitions), "--metrics-address", "off",
                                         "--heartbeat-interval", "0", "--cache-root", dir.path});
  }
  memrun::EmbeddedKafka kafka{1};
  memrun::test::TempDir dir{"memrun-echo"};
  memrun::test::HostProcess worker;
};

}  // namespace

TEST(ClientBurst, TwentyThousandRequestsAtOnceAreAllAnswered) {
  EchoWorker echo(16);
  auto& w = echo.worker;
  ASSERT_TRUE(memrun::test::wait_assigned(w)) << w.proc->output();
  memrun::ClientOptions options = memrun::test::client_options(echo.kafka.bootstrap_servers());
  options.timeout = 170s;
  memrun::Client client(options);
  constexpr int kBurst = 20000;
  const std::string pad(200, 'x');
  std::vector<std::future<memrun::Response>> futures;
  futures.reserve(kBurst);
  for (int i = 0; i < kBurst; ++i) futures.push_back(client.submit("c_echo", nlohmann::json{{"user_id", i}, {"pad", pad}}));
  int answered = 0, failed = 0;
  std::set<std::string> ids;
  for (auto& f : futures) {
    auto r = f.get();
    answered += r.ok();
    if (!r.ok() && ++failed <= 3) ADD_FAILURE() << memrun::code_name(r.code) << ": " << r.error;
    ids.insert(r.request_id);
  }
  EXPECT_EQ(answered, kBurst);
  EXPECT_EQ(ids.size(), static_cast<size_t>(kBurst));
  memrun::test::expect_clean_stop(w);
}

// A client that reads several reply partitions names each of them in turn,
// so each carries its share of the replies, and it collects them all.
TEST(ClientReplyPartitions, RequestsNameEachOfTheClientsPartitionsInTurn) {
  EchoWorker echo(4);
  auto& w = echo.worker;
  ASSERT_TRUE(memrun::test::wait_assigned(w)) << w.proc->output();
  memrun::ClientOptions options = memrun::test::client_options(echo.kafka.bootstrap_servers());
  options.reply_partition = memrun::protocol::kReplyPartitions - 1;  // wraps around to 0 and 1
  options.reply_partitions = 3;
  memrun::Client client(options);
  EXPECT_EQ(client.reply_partitions(), 3);
  constexpr int kRequests = 300;
  std::vector<std::future<memrun::Response>> futures;
  for (int i = 0; i < kRequests; ++i) futures.push_back(client.submit("c_echo", nlohmann::json{{"user_id", i}}));
  int answered = 0;
  for (auto& f : futures) answered += f.get().ok();
  EXPECT_EQ(answered, kRequests);

  memrun::test::KafkaProbe probe(echo.kafka.bootstrap_servers());
  const auto replies = probe.read_topic(std::string(memrun::protocol::kReplyTopic), memrun::protocol::kReplyPartitions,
                                        kRequests, 60s);
  std::map<int32_t, int> per_partition;
  for (const auto& r : replies) ++per_partition[r.partition];
  const std::map<int32_t, int> expected{{memrun::protocol::kReplyPartitions - 1, 100}, {0, 100}, {1, 100}};
  EXPECT_EQ(per_partition, expected);

  options.reply_partitions = memrun::protocol::kReplyPartitions + 1;
  try {
    memrun::Client too_many(options);
    ADD_FAILURE() << "more reply partitions than the topic has should be refused";
  } catch (const memrun::Error& e) {
    EXPECT_EQ(e.code(), memrun::Code::kInvalidArgument) << e.what();
  }
  memrun::test::expect_clean_stop(w);
}
