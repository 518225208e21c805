// A handler that ignores cancellation past drain_timeout is abandoned by
// stop(): the worker stops on time, and its state (service, context,
// producer, consumer, threads) is freed when that handler returns, not
// leaked for the life of the process. The worker runs in this process, so
// its state's lifetime is seen through a token its handler holds, and its
// threads through /proc/self/task.
#include <memrun/embedded_kafka.hpp>
#include <memrun/protocol.hpp>
#include <memrun/worker.hpp>

#include "support/in_process_worker.hpp"
#include "support/kafka_probe.hpp"
#include "support/wait.hpp"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <chrono>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <optional>

using namespace std::chrono_literals;

namespace {

// A handler that says it entered and then waits for the test, whatever
// cancelled() says.
struct Stubborn {
  std::mutex mu;
  std::condition_variable cv;
  bool entered = false;
  bool released = false;

  memrun::Reply handle(memrun::RequestContext& rq) {
    std::unique_lock lock(mu);
    entered = true;
    cv.notify_all();
    cv.wait_for(lock, 60s, [&] { return released; });
    return nlohmann::json{{"k", rq.json().at("k")}, {"cancelled", rq.cancelled()}};
  }
  bool wait_entered() {
    std::unique_lock lock(mu);
    return cv.wait_for(lock, 30s, [&] { return entered; });
  }
  void release() {
    {
      std::lock_guard lock(mu);
      released = true;
    }
    cv.notify_all();
  }
};

}  // namespace

TEST(WorkerLifetime, AnAbandonedHandlerFreesTheWorkerWhenItReturns) {
  memrun::EmbeddedKafka kafka(1);
  kafka.create_service_topics("abandon", 2);
  const std::string topic = memrun::protocol::request_topic("abandon");
  memrun::test::KafkaProbe probe(kafka.bootstrap_servers());
  const size_t threads_before = memrun::test::threads_baseline();

  Stubborn stubborn;
  auto token = std::make_shared<int>(0);
  const std::weak_ptr<int> state = token;  // expires when the worker's service is freed
  memrun::MemoryService svc;
  svc.name = "abandon";
  svc.sticky_key = "k";
  svc.partitions = 2;
  svc.concurrency = 2;
  svc.handle = [&stubborn, token = std::move(token)](memrun::RequestContext& rq) { return stubborn.handle(rq); };
  memrun::WorkerOptions opts = memrun::test::in_process_options(kafka, "abandon-w1");
  opts.drain_timeout = 1000ms;

  std::optional<memrun::Worker> worker(std::in_place, std::move(svc), std::move(opts));
  worker->start();
  ASSERT_TRUE(worker->wait_for_assignment(60s));
  probe.send(topic, "a", R"({"k":"a"})", "a");
  ASSERT_TRUE(stubborn.wait_entered());

  // stop() gives up on the handler; destroying the Worker must not free
  // what the handler still uses.
  worker.reset();
  EXPECT_FALSE(state.expired()) << "the worker's state was freed under a running handler";

  stubborn.release();
  EXPECT_TRUE(memrun::test::wait_until([&] { return state.expired(); }, 30s))
      << "the worker's state outlived its last abandoned handler";
  // The handler's reply is flushed before the producer closes.
  const auto replies = probe.collect({"a"}, 30s);
  ASSERT_EQ(replies.count("a"), 1u) << "the abandoned handler's reply was lost";
  EXPECT_EQ(replies.at("a").status, "ok");
  // The handler threads, the poll thread's successors and librdkafka's
  // threads of the worker's consumer and producer all ended.
  size_t now = 0;
  EXPECT_TRUE(memrun::test::wait_until([&] { return (now = memrun::test::threads_in_process()) <= threads_before; }, 30s))
      << now << " threads, " << threads_before << " before the worker";
}
