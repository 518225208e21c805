#include "runtime/executor.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <future>
#include <memory>
#include <thread>

using memrun::internal::Executor;
using namespace std::chrono_literals;

namespace {

size_t threads() {
  size_t n = 0;
  for ([[maybe_unused]] const auto& e : std::filesystem::directory_iterator("/proc/self/task")) ++n;
  return n;
}

bool threads_back_to(size_t n) {
  const auto deadline = std::chrono::steady_clock::now() + 10s;
  while (threads() > n) {
    if (std::chrono::steady_clock::now() > deadline) return false;
    std::this_thread::sleep_for(1ms);
  }
  return true;
}

}  // namespace

TEST(Executor, JoinForRunsWhatWasQueuedAndJoins) {
  const size_t before = threads();
  int ran = 0;
  {
    Executor pool(2);
    std::atomic<int> ran_here{0};
    for (int i = 0; i < 4; ++i) pool.submit([&ran_here] { ++ran_here; });
    EXPECT_TRUE(pool.join_for(10s));
    ran = ran_here.load();
  }
  EXPECT_EQ(ran, 4);
  EXPECT_LE(threads(), before);
}

// A task that outlives the bound: its thread is detached, the executor can
// be destroyed at once, and the thread ends when the task returns, after
// which the last reference the task held is dropped.
TEST(Executor, ADetachedThreadOutlivesTheExecutorAndEndsWithItsTask) {
  const size_t before = threads();
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
  EXPECT_TRUE(threads_back_to(before)) << threads() << " threads, " << before << " before";
  EXPECT_TRUE(watch.expired());
}
