#include "runtime/admission.hpp"

#include <gtest/gtest.h>

#include <vector>

using memrun::internal::Admission;

// Items are offsets; partitions are given beside them.
TEST(Admission, RunsAtOnceWhileSlotsAreFreeAndNothingWaits) {
  Admission<int> a(/*slots=*/2, /*read_ahead=*/2);
  auto first = a.offer(0, 10, /*running=*/0);
  ASSERT_TRUE(first.run);
  EXPECT_EQ(*first.run, 10);
  EXPECT_FALSE(first.pause);
  auto second = a.offer(1, 20, 1);
  ASSERT_TRUE(second.run);
  auto third = a.offer(0, 11, 2);  // every slot busy: it waits
  EXPECT_FALSE(third.run);
  EXPECT_FALSE(third.pause);
  EXPECT_EQ(a.waiting(), 1u);
}

TEST(Admission, ARecordDoesNotOvertakeOnesAlreadyWaiting) {
  Admission<int> a(2, 4);
  EXPECT_FALSE(a.offer(0, 10, 2).run);  // waits
  // A slot freed, but 10 waits: 11 queues behind it instead of running first.
  EXPECT_FALSE(a.offer(0, 11, 1).run);
  auto taken = a.take(1);
  EXPECT_EQ(taken.run, std::vector<int>{10});
  EXPECT_EQ(a.waiting(), 1u);
}

TEST(Admission, PausesOnlyThePartitionWhoseReadAheadFilledAndOnce) {
  Admission<int> a(1, 2);
  EXPECT_FALSE(a.offer(3, 1, 1).pause);
  EXPECT_TRUE(a.offer(3, 2, 1).pause);  // 2 of partition 3 wait
  EXPECT_TRUE(a.paused(3));
  EXPECT_FALSE(a.offer(3, 3, 1).pause);  // already paused: no second pause
  EXPECT_FALSE(a.offer(5, 9, 1).pause);  // another partition is unaffected
  EXPECT_FALSE(a.paused(5));
}

TEST(Admission, TakesOnlyFreeSlotsRoundRobinAndResumesAtHalfTheReadAhead) {
  Admission<int> a(/*slots=*/4, /*read_ahead=*/4);
  for (int i = 0; i < 4; ++i) a.offer(0, 100 + i, 4);  // the fourth pauses partition 0
  a.offer(1, 200, 4);
  ASSERT_TRUE(a.paused(0));
  EXPECT_TRUE(a.take(4).run.empty());  // no slot free
  auto one = a.take(3);                // one slot
  EXPECT_EQ(one.run, std::vector<int>{100});
  EXPECT_TRUE(one.resume.empty());  // 3 of 0 still wait: above read_ahead / 2
  auto two = a.take(2);             // two slots: partition 1's turn, then 0's
  EXPECT_EQ(two.run, (std::vector<int>{200, 101}));
  EXPECT_EQ(two.resume, std::vector<int32_t>{0});  // 2 wait now: resume
  EXPECT_FALSE(a.paused(0));
}

TEST(Admission, ForgetDropsWhatWaitsForRevokedPartitionsAndTheirPause) {
  Admission<int> a(1, 2);
  a.offer(0, 1, 1);
  a.offer(0, 2, 1);  // pauses 0
  a.offer(1, 3, 1);
  a.forget({0});
  EXPECT_FALSE(a.paused(0));
  EXPECT_EQ(a.waiting(0), 0u);
  auto taken = a.take(0);
  EXPECT_EQ(taken.run, std::vector<int>{3});
  EXPECT_TRUE(taken.resume.empty());  // a forgotten partition is not resumed
  a.offer(2, 4, 1);
  a.clear();
  EXPECT_EQ(a.waiting(), 0u);
}

// Held (the outbox keeps its bound of unacknowledged records): free slots
// start nothing, arrivals wait and pause their partition at the read-ahead
// as when the slots are full, and all of it starts once released.
TEST(Admission, WhileHeldNothingStartsAndArrivalsPauseTheirPartition) {
  Admission<int> a(/*slots=*/4, /*read_ahead=*/2);
  a.hold(true);
  EXPECT_FALSE(a.offer(0, 10, /*running=*/0).run) << "a free slot, but held";
  auto second = a.offer(0, 11, 0);
  EXPECT_FALSE(second.run);
  EXPECT_TRUE(second.pause) << "the read-ahead filled: its fetching stops";
  EXPECT_TRUE(a.take(0).run.empty());
  a.hold(false);
  auto taken = a.take(0);
  EXPECT_EQ(taken.run, (std::vector<int>{10, 11}));
  EXPECT_EQ(taken.resume, std::vector<int32_t>{0});
  EXPECT_TRUE(a.offer(1, 20, 2).run) << "released: a free slot runs at once";
}

TEST(Admission, RoomKeepsEveryFetchingPartitionWithinItsReadAhead) {
  Admission<int> a(/*slots=*/1, /*read_ahead=*/4);
  EXPECT_EQ(a.room(), 4u);       // nothing waits: up to read_ahead may come
  a.offer(0, 1, 1);              // waits
  a.offer(1, 10, 1);
  a.offer(1, 11, 1);             // partition 1: 2 wait
  EXPECT_EQ(a.room(), 2u);       // 2 more of partition 1 reach its read-ahead
  a.offer(1, 12, 1);
  EXPECT_EQ(a.room(), 1u);       // never less than one record per wake-up
  EXPECT_TRUE(a.offer(1, 13, 1).pause);
  EXPECT_EQ(a.room(), 3u);       // a paused partition gets no records: 0's one waiting counts
}
