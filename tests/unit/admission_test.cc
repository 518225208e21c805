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

TEST(Admission, PausesAtTheReadAheadBytesAndResumesBelowHalfOfThem) {
  Admission<int> a(/*slots=*/1, /*read_ahead=*/100, /*read_ahead_bytes=*/1000);
  EXPECT_FALSE(a.offer(0, 1, 1, 400).pause);
  EXPECT_FALSE(a.offer(1, 10, 1, 999).pause) << "each partition has its own bound";
  EXPECT_TRUE(a.offer(0, 2, 1, 600).pause) << "1000 bytes of partition 0 wait, 2 of 100 records";
  EXPECT_EQ(a.waiting_bytes(0), 1000u);
  EXPECT_FALSE(a.paused(1));
  auto first = a.take(0);  // 0's first: 600 bytes still wait, above half
  EXPECT_EQ(first.run, std::vector<int>{1});
  EXPECT_TRUE(first.resume.empty());
  EXPECT_TRUE(a.paused(0));
  EXPECT_EQ(a.waiting_bytes(0), 600u);
  EXPECT_EQ(a.take(0).run, std::vector<int>{10});  // partition 1's turn
  EXPECT_EQ(a.waiting_bytes(1), 0u);
  auto last = a.take(0);  // nothing of 0 waits now
  EXPECT_EQ(last.run, std::vector<int>{2});
  EXPECT_EQ(last.resume, std::vector<int32_t>{0});
  EXPECT_EQ(a.waiting_bytes(0), 0u);
}

TEST(Admission, ALargeRecordAloneFillsTheReadAheadBytes) {
  Admission<int> a(1, 100, 1000);
  EXPECT_TRUE(a.offer(0, 1, 1, 5000).pause) << "one record past the bound: the partition fetches no more";
  EXPECT_EQ(a.take(0).resume, std::vector<int32_t>{0});
}

TEST(Admission, ForgetAndClearDropTheBytesOfWhatWaited) {
  Admission<int> a(1, 100, 1000);
  a.offer(0, 1, 1, 700);
  a.offer(1, 2, 1, 700);
  a.forget({0});
  EXPECT_EQ(a.waiting_bytes(0), 0u);
  EXPECT_FALSE(a.offer(0, 3, 1, 700).pause) << "the forgotten bytes no longer count";
  a.clear();
  EXPECT_EQ(a.waiting_bytes(0), 0u);
  EXPECT_EQ(a.waiting_bytes(1), 0u);
  EXPECT_FALSE(a.offer(1, 4, 1, 700).pause);
}

TEST(Admission, RoomKeepsEveryFetchingPartitionWithinItsReadAheadBytes) {
  Admission<int> a(/*slots=*/1, /*read_ahead=*/1000, /*read_ahead_bytes=*/1000);
  EXPECT_EQ(a.room(), 1000u) << "no record seen yet: the count bounds";
  a.offer(0, 1, 0, 100);  // runs; records are about 100 bytes
  EXPECT_EQ(a.room(), 10u);
  a.offer(1, 2, 1, 100);
  a.offer(1, 3, 1, 100);  // 200 bytes of partition 1 wait
  EXPECT_EQ(a.room(), 8u) << "8 more such records of partition 1 reach its bound";
  for (int i = 0; i < 7; ++i) a.offer(1, 4 + i, 1, 100);
  EXPECT_EQ(a.room(), 1u) << "900 bytes wait: never less than one record per wake-up";
  // The estimate decays: after smaller records, room grows again.
  Admission<int> b(1, 1000, 1000);
  b.offer(0, 1, 0, 500);
  EXPECT_EQ(b.room(), 2u);
  for (int i = 0; i < 400; ++i) b.offer(0, 2, 0, 10);
  EXPECT_GT(b.room(), 50u);
}
