// Worker::stats() from another thread while the worker starts serving and
// stops: stats() reads the consumer's positions while stop() destroys the
// consumer. Run it under TSan or ASan (the race it guards against is only
// visible there); in a plain build it checks the figures stay sane.
#include <memrun/embedded_kafka.hpp>
#include <memrun/worker.hpp>

#include "support/in_process_worker.hpp"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <atomic>
#include <chrono>
#include <thread>

using namespace std::chrono_literals;

TEST(WorkerStats, ReadWhileTheWorkerStops) {
  memrun::EmbeddedKafka kafka(1);
  kafka.create_service_topics("statsrace", 4);
  memrun::MemoryService svc;
  svc.name = "statsrace";
  svc.concurrency = 2;
  svc.handle = [](memrun::RequestContext&) -> memrun::Reply { return nlohmann::json::object(); };
  memrun::WorkerOptions opts = memrun::test::in_process_options(kafka, "stats-w1");
  opts.drain_timeout = 2000ms;

  memrun::Worker worker(std::move(svc), std::move(opts));
  worker.start();
  ASSERT_TRUE(worker.wait_for_assignment(60s));

  std::atomic<bool> stopped{false};
  std::atomic<uint64_t> with_positions{0};
  std::thread reader([&] {
    while (!stopped.load()) {
      const auto s = worker.stats();
      if (!s.partitions.empty()) ++with_positions;
      for (const auto& p : s.partitions) EXPECT_GE(p.lag, 0);
    }
  });
  // The reader has read the consumer's positions at least once before stop.
  const auto deadline = std::chrono::steady_clock::now() + 60s;
  while (with_positions.load() == 0 && std::chrono::steady_clock::now() < deadline) std::this_thread::yield();
  const bool read_before_stop = with_positions.load() > 0;
  worker.stop();
  stopped = true;
  reader.join();
  EXPECT_TRUE(read_before_stop);
  const auto after = worker.stats();
  EXPECT_EQ(after.assigned_partitions, 0u);
  EXPECT_TRUE(after.partitions.empty());
}
