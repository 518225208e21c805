// The operators' endpoint owns its port: a second listener on the same port
// is refused, so a second worker on a machine falls back to a free port
// instead of silently sharing the first one's (httplib sets SO_REUSEPORT by
// default, and the kernel then split scrapes between two processes).
#include <memrun/metrics.hpp>
#include <memrun/status.hpp>
#include <memrun/worker.hpp>

#include <gtest/gtest.h>

namespace {

memrun::Worker idle_worker() {
  memrun::MemoryService s;
  s.name = "metrics-port";
  s.sticky_key = "k";
  s.handle = [](memrun::RequestContext&) { return memrun::Reply::raw("x"); };
  // Never started: the endpoint only reads the worker.
  return memrun::Worker(std::move(s), memrun::WorkerOptions{});
}

TEST(MetricsServer, ASecondListenerOnTheSamePortIsRefused) {
  memrun::Worker worker = idle_worker();
  memrun::MetricsServer first(worker, "127.0.0.1:0");
  ASSERT_GT(first.port(), 0);
  try {
    memrun::MetricsServer second(worker, "127.0.0.1:" + std::to_string(first.port()));
    FAIL() << "two endpoints listen on port " << first.port() << " at once";
  } catch (const memrun::Error& e) {
    EXPECT_EQ(e.code(), memrun::Code::kUnavailable) << e.what();
  }
}

TEST(MetricsServer, APortIsReusableOnceItsListenerIsGone) {
  memrun::Worker worker = idle_worker();
  int port = 0;
  {
    memrun::MetricsServer first(worker, "127.0.0.1:0");
    port = first.port();
  }
  memrun::MetricsServer again(worker, "127.0.0.1:" + std::to_string(port));
  EXPECT_EQ(again.port(), port);
}

}  // namespace
