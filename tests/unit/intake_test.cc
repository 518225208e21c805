#include "runtime/intake.hpp"

#include <gtest/gtest.h>

#include <chrono>
#include <future>
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
