#include "runtime/intake.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <future>
#include <thread>
#include <vector>

using memrun::internal::Intake;

namespace {

// Items are offsets; `admitted` records what passed the admit hook, in order.
struct Recorder {
  std::vector<int> admitted;
  bool hold = false;
  int resume_calls = 0;
  Intake<int>::Hooks hooks() {
    return {.admit = [this](int& v) { admitted.push_back(v); },
            .hold = [this](bool) { return hold; },
            .resume_ready = [this] { ++resume_calls; }};
  }
};

// in.next(finished), bounded: an intake that leaves the request waiting would
// block the test forever, so the call is closed out after 10 s and fails.
std::optional<int> next_within(Intake<int>& in, bool finished) {
  auto next = std::async(std::launch::async, [&] { return in.next(finished); });
  if (next.wait_for(std::chrono::seconds(10)) != std::future_status::ready) {
    in.close();  // releases the blocked call
    ADD_FAILURE() << "next() found nothing to run";
  }
  return next.get();
}

}  // namespace

TEST(Intake, AHandlerThreadFinishingOneTakesTheNextWaitingItselfInOrder) {
  Recorder r;
  Intake<int> in(/*slots=*/1, /*read_ahead=*/8, r.hooks());
  EXPECT_FALSE(in.offer(0, 10));
  EXPECT_FALSE(in.offer(0, 11));  // the slot is taken: waits
  EXPECT_EQ(in.waiting(), 1u);
  EXPECT_EQ(*in.next(false), 10);
  EXPECT_EQ(in.running(), 1u);
  // Finishing 10 lets 11 run on the same call, without the poll thread
  // (bounded: an intake that left it waiting would block here).
  EXPECT_EQ(next_within(in, true), std::optional<int>(11));
  EXPECT_EQ(in.waiting(), 0u);
  EXPECT_EQ(r.admitted, (std::vector<int>{10, 11}));
}

TEST(Intake, ASleepingHandlerThreadWakesForARecordThatMayRunAtOnce) {
  Recorder r;
  Intake<int> in(2, 8, r.hooks());
  auto taken = std::async(std::launch::async, [&] { return in.next(false); });
  EXPECT_EQ(taken.wait_for(std::chrono::milliseconds(50)), std::future_status::timeout);  // nothing to run yet
  in.offer(3, 30);
  ASSERT_EQ(taken.wait_for(std::chrono::seconds(10)), std::future_status::ready);
  EXPECT_EQ(*taken.get(), 30);
}

TEST(Intake, AHeldIntakeStartsNothingUntilThePollThreadReleasesIt) {
  Recorder r;
  Intake<int> in(2, 8, r.hooks());
  r.hold = true;
  in.offer(0, 1);
  EXPECT_TRUE(in.held());
  EXPECT_EQ(in.running(), 0u);
  EXPECT_EQ(in.waiting(), 1u);
  r.hold = false;
  in.admit_waiting();
  EXPECT_EQ(in.running(), 1u);
  EXPECT_EQ(*in.next(false), 1);
}

TEST(Intake, AResumeFoundByAHandlerThreadIsReportedToThePollThread) {
  Recorder r;
  Intake<int> in(/*slots=*/1, /*read_ahead=*/2, r.hooks());
  in.offer(0, 1);                 // runs
  EXPECT_FALSE(in.offer(0, 2));   // waits
  EXPECT_TRUE(in.offer(0, 3));    // two wait: partition 0 pauses
  EXPECT_EQ(*in.next(false), 1);
  EXPECT_EQ(next_within(in, true), std::optional<int>(2));  // one waits now: at half the read-ahead
  EXPECT_EQ(r.resume_calls, 1);
  EXPECT_EQ(in.take_resumes(), std::vector<int32_t>{0});
  EXPECT_TRUE(in.take_resumes().empty());
}

TEST(Intake, CloseHandsOutWhatWasAdmittedThenEndsAndDropsNothingAdmitted) {
  Recorder r;
  Intake<int> in(2, 8, r.hooks());
  in.offer(0, 1);
  in.offer(1, 2);
  in.offer(0, 3);  // waits: not admitted
  in.close();
  EXPECT_EQ(*in.next(false), 1);
  EXPECT_EQ(*in.next(false), 2);
  // Closed: finishing frees the slot but starts nothing new.
  EXPECT_FALSE(in.next(true).has_value());
  EXPECT_EQ(r.admitted, (std::vector<int>{1, 2}));
  in.clear();
  EXPECT_EQ(in.waiting(), 0u);
}

TEST(Intake, ForgetDropsWhatWaitsForRevokedPartitions) {
  Recorder r;
  Intake<int> in(1, 8, r.hooks());
  in.offer(0, 1);
  in.offer(5, 50);
  in.offer(6, 60);
  in.forget({5});
  EXPECT_EQ(*in.next(false), 1);
  EXPECT_EQ(next_within(in, true), std::optional<int>(60));
}

// Requests made ready together wake one sleeping thread, which wakes the
// next while requests are left: every ready request reaches a thread.
TEST(Intake, RequestsReadyTogetherReachEverySleepingThreadThroughChainedWakeUps) {
  Recorder r;
  Intake<int> in(/*slots=*/4, /*read_ahead=*/8, r.hooks());
  std::vector<std::future<std::optional<int>>> threads;
  for (int i = 0; i < 4; ++i) threads.push_back(std::async(std::launch::async, [&] { return in.next(false); }));
  const auto due = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (in.sleeping() < 4 && std::chrono::steady_clock::now() < due) std::this_thread::yield();
  ASSERT_EQ(in.sleeping(), 4u);
  for (int v = 0; v < 4; ++v) in.offer(v, v);
  std::vector<int> got;
  for (auto& t : threads) {
    if (t.wait_for(std::chrono::seconds(10)) != std::future_status::ready) {
      in.close();
      ADD_FAILURE() << "a ready request reached no thread";
    }
    if (auto v = t.get()) got.push_back(*v);
  }
  std::sort(got.begin(), got.end());
  EXPECT_EQ(got, (std::vector<int>{0, 1, 2, 3}));
}

// Many handler threads, a poll thread offering as fast as it can: every
// request offered runs exactly once, and none is left ready while threads
// sleep (the chained wake-ups never stall).
TEST(Intake, UnderLoadEveryOfferedRequestRunsOnce) {
  constexpr int kRequests = 20000, kThreads = 8;
  Intake<int> in(/*slots=*/kThreads, /*read_ahead=*/64, {});
  std::vector<std::atomic<int>> runs(kRequests);
  std::atomic<int> done{0};
  std::vector<std::thread> handlers;
  for (int t = 0; t < kThreads; ++t)
    handlers.emplace_back([&] {
      bool finished = false;
      while (auto v = in.next(finished)) {
        runs[static_cast<size_t>(*v)].fetch_add(1);
        done.fetch_add(1);
        finished = true;
      }
    });
  // The poll thread: offers while there is room. It never calls
  // admit_waiting() (the worker's loop does, as a safety net that would
  // hide a stall here): handler threads take all the rest themselves.
  const auto due = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  for (int v = 0; v < kRequests; ++v) {
    while (in.room() == 0 && std::chrono::steady_clock::now() < due) std::this_thread::yield();
    in.offer(v % 16, v);
  }
  while (done.load() < kRequests && std::chrono::steady_clock::now() < due) std::this_thread::yield();
  in.close();
  for (auto& h : handlers) h.join();
  EXPECT_EQ(done.load(), kRequests);
  for (int v = 0; v < kRequests; ++v) ASSERT_EQ(runs[static_cast<size_t>(v)].load(), 1) << v;
}

TEST(Intake, APartitionPausesAtItsReadAheadBytes) {
  Recorder r;
  Intake<int> in(/*slots=*/1, /*read_ahead=*/100, r.hooks(), /*read_ahead_bytes=*/1000);
  in.offer(0, 1, 10);                  // runs
  EXPECT_FALSE(in.offer(0, 2, 600));   // waits
  EXPECT_TRUE(in.offer(0, 3, 600));    // 1200 bytes wait, 2 of 100 records: pauses
  EXPECT_EQ(*in.next(false), 1);
  EXPECT_EQ(next_within(in, true), std::optional<int>(2));  // 600 bytes wait: above half
  EXPECT_TRUE(in.take_resumes().empty());
  EXPECT_EQ(next_within(in, true), std::optional<int>(3));
  EXPECT_EQ(in.take_resumes(), std::vector<int32_t>{0});
}
