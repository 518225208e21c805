#include "runtime/executor.hpp"

#include "support/wait.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <future>
#include <memory>

using memrun::internal::Executor;
using namespace std::chrono_literals;

namespace {

using memrun::test::threads_baseline;
using memrun::test::threads_in_process;

bool threads_back_to(size_t n) {
  return memrun::test::wait_until([&] { return threads_in_process() <= n; }, 10s, 1ms);
}

}  // namespace

TEST(Executor, JoinForRunsWhatWasQueuedAndJoins) {
  const size_t before = threads_baseline();
  int ran = 0;
  {
    Executor pool(2);
    std::atomic<int> ran_here{0};
    for (int i = 0; i < 4; ++i) pool.submit([&ran_here] { ++ran_here; });
    EXPECT_TRUE(pool.join_for(10s));
    ran = ran_here.load();
  }
  EXPECT_EQ(ran, 4);
  EXPECT_LE(threads_in_process(), before);
}

// A task that outlives the bound: its thread is detached, the executor can
// be destroyed at once, and the thread ends when the task returns, after
// which the last reference the task held is dropped.
TEST(Executor, ADetachedThreadOutlivesTheExecutorAndEndsWithItsTask) {
  const size_t before = threads_baseline();
  std::promise<void> release;
  std::shared_future<void> released = release.get_future().share();
  std::promise<void> entered;
  auto held = std::make_shared<int>(0);
  std::weak_ptr<int> watch = held;
  {
    Executor pool(1);
    pool.submit([released, &entered, held = std::move(held)] {
      entered.set_value();
      released.wait();
    });
    entered.get_future().wait();
    EXPECT_FALSE(pool.join_for(20ms));
  }  // destroyed while its thread still runs the task
  EXPECT_FALSE(watch.expired());
  release.set_value();
  EXPECT_TRUE(threads_back_to(before)) << threads_in_process() << " threads, " << before << " before";
  EXPECT_TRUE(watch.expired());
}
