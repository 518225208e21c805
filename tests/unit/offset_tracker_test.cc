#include "runtime/offset_tracker.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <random>
#include <thread>

using memrun::internal::OffsetTracker;

TEST(OffsetTracker, OutOfOrderCompletionNeverCommitsPastUnfinished) {
  OffsetTracker t;
  t.assign(0);
  auto a = t.admit(0, 10), b = t.admit(0, 11), c = t.admit(0, 12);
  t.complete(c);
  t.complete(b);
  auto commits = t.take_commits();
  ASSERT_EQ(commits.size(), 1u);
  EXPECT_EQ(commits[0].offset, 10);  // 10 still runs
  t.complete(a);
  commits = t.take_commits();
  ASSERT_EQ(commits.size(), 1u);
  EXPECT_EQ(commits[0].offset, 13);
  EXPECT_TRUE(t.take_commits().empty());  // nothing new
}

TEST(OffsetTracker, LostPartitionIgnoresOldCompletions) {
  OffsetTracker t;
  t.assign(3);
  auto old = t.admit(3, 100);
  t.drop(3);
  t.assign(3);  // new generation
  auto fresh = t.admit(3, 50);
  t.complete(old);  // must not count for the new owner
  EXPECT_EQ(t.unfinished(3), 1u);
  t.complete(fresh);
  auto commits = t.take_commits();
  ASSERT_EQ(commits.size(), 1u);
  EXPECT_EQ(commits[0].offset, 51);
}

TEST(OffsetTracker, RandomCompletionOrderInvariant) {
  // Safety: at every step the commit point is <= every unfinished offset.
  // Liveness: a partition with nothing unfinished is committed up to the
  // end of what was admitted, and so is everything once all is completed.
  std::mt19937 rng(7);
  int64_t committed[2] = {-1, -1};  // nothing committed yet
  OffsetTracker t;
  t.assign(0);
  t.assign(1);
  std::vector<OffsetTracker::Ticket> open;
  int64_t next[2] = {0, 0};
  for (int step = 0; step < 5000; ++step) {
    if (open.empty() || rng() % 2) {
      int32_t p = static_cast<int32_t>(rng() % 2);
      open.push_back(t.admit(p, next[p]++));
    } else {
      size_t i = rng() % open.size();
      t.complete(open[i]);
      open.erase(open.begin() + static_cast<long>(i));
    }
    for (const auto& c : t.take_commits()) {
      for (const auto& o : open)
        if (o.partition == c.partition) {
          ASSERT_LE(c.offset, o.offset);
        }
      ASSERT_GT(c.offset, committed[c.partition]) << "a commit that does not advance";
      committed[c.partition] = c.offset;
    }
    for (int32_t p = 0; p < 2; ++p)
      if (next[p] > 0 && std::none_of(open.begin(), open.end(), [&](const auto& o) { return o.partition == p; })) {
        ASSERT_EQ(committed[p], next[p]) << "partition " << p << " has nothing running but is not committed";
      }
  }
  std::shuffle(open.begin(), open.end(), rng);
  for (const auto& o : open) t.complete(o);
  for (const auto& c : t.take_commits()) committed[c.partition] = c.offset;
  EXPECT_EQ(committed[0], next[0]);
  EXPECT_EQ(committed[1], next[1]);
  EXPECT_EQ(t.unfinished(0) + t.unfinished(1), 0u);
}

TEST(OffsetTracker, TakeCommitsForSelectedPartitions) {
  OffsetTracker t;
  t.assign(0);
  t.assign(1);
  t.complete(t.admit(0, 0));
  t.complete(t.admit(1, 0));
  auto only1 = t.take_commits({1});
  ASSERT_EQ(only1.size(), 1u);
  EXPECT_EQ(only1[0].partition, 1);
  EXPECT_EQ(t.take_commits().size(), 1u);  // partition 0 still pending
}

TEST(OffsetTracker, LiveOnlyWhileTheTicketsGenerationHoldsThePartition) {
  OffsetTracker t;
  t.assign(1);
  auto a = t.admit(1, 5);
  EXPECT_TRUE(t.live(a));
  t.drop(1);
  EXPECT_FALSE(t.live(a));
  t.assign(1);  // the same partition back: a new generation
  EXPECT_FALSE(t.live(a));
}

TEST(OffsetTracker, WaitFinishedWakesOnCompletionAndTimesOut) {
  using namespace std::chrono_literals;
  OffsetTracker t;
  t.assign(0);
  t.assign(1);
  auto a = t.admit(0, 1);
  auto b = t.admit(1, 1);
  EXPECT_FALSE(t.wait_finished({0}, std::chrono::steady_clock::now() + 20ms));
  std::thread finisher([&] {
    std::this_thread::sleep_for(50ms);
    t.complete(a);
  });
  const auto start = std::chrono::steady_clock::now();
  EXPECT_TRUE(t.wait_finished({0}, start + 10s));  // partition 1's request does not count
  EXPECT_LT(std::chrono::steady_clock::now() - start, 5s);
  finisher.join();
  EXPECT_FALSE(t.wait_finished({0, 1}, std::chrono::steady_clock::now() + 10ms));
  t.complete(b);
  EXPECT_TRUE(t.wait_finished({0, 1}, std::chrono::steady_clock::now()));
}

// Offsets admitted out of order, or again after finishing, keep the commit
// point at the lowest unfinished one (the window is kept sorted).
TEST(OffsetTracker, OutOfOrderAndRepeatedAdmissionsKeepTheLowestUnfinished) {
  OffsetTracker t;
  t.assign(0);
  auto a12 = t.admit(0, 12);
  auto a10 = t.admit(0, 10);  // lower than one admitted before
  auto a11 = t.admit(0, 11);
  EXPECT_EQ(t.unfinished(0), 3u);
  t.admit(0, 11);  // again while unfinished: counted once
  EXPECT_EQ(t.unfinished(0), 3u);
  t.complete(a11);
  EXPECT_EQ(t.take_commits()[0].offset, 10);
  auto again = t.admit(0, 11);  // again after it finished: unfinished anew
  t.complete(a10);
  EXPECT_EQ(t.take_commits()[0].offset, 11);
  t.complete(again);
  t.complete(again);  // a second completion of one offset changes nothing
  EXPECT_EQ(t.unfinished(0), 1u);
  t.complete(a12);
  EXPECT_EQ(t.take_commits()[0].offset, 13);
  EXPECT_EQ(t.unfinished(0), 0u);
}
