// A burst of 20 000 requests from one Client: every one answered. The
// client's reader must keep up with its reply partition (a reader that falls
// behind loses replies to the cluster's retention), so its work per reply is
// bounded whatever the number pending (bench/run_client_burst.sh measures the
// CPU).
#include <memrun/client.hpp>
#include <memrun/embedded_kafka.hpp>

#include "support/host_process.hpp"
#include "support/temp_dir.hpp"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <set>

using namespace std::chrono_literals;

TEST(ClientBurst, TwentyThousandRequestsAtOnceAreAllAnswered) {
  memrun::EmbeddedKafka kafka(1);
  kafka.create_service_topics("c_echo", 16);
  memrun::test::TempDir dir("memrun-burst");
  auto w = memrun::test::start_worker(C_ECHO_PLUGIN, kafka.bootstrap_servers(), "b1",
                                      {"--partitions", "16", "--metrics-address", "off", "--heartbeat-interval", "0",
                                       "--cache-root", dir.path});
  ASSERT_TRUE(memrun::test::wait_assigned(w)) << w.proc->output();
  memrun::ClientOptions options = memrun::test::client_options(kafka.bootstrap_servers());
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
    answered += r.ok;
    if (!r.ok && ++failed <= 3) ADD_FAILURE() << memrun::code_name(r.code) << ": " << r.error;
    ids.insert(r.request_id);
  }
  EXPECT_EQ(answered, kBurst);
  EXPECT_EQ(ids.size(), static_cast<size_t>(kBurst));
  memrun::test::expect_clean_stop(w);
}
