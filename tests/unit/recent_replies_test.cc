#include "runtime/recent_replies.hpp"

#include <gtest/gtest.h>

using memrun::internal::RecentReplies;

TEST(RecentReplies, RemembersWithinTheWindowAndForgetsOldestFirst) {
  RecentReplies window(2);
  window.remember("a", {memrun::Code::kOk, "A"});
  window.remember("b", {memrun::Code::kInternal, "B failed"});
  ASSERT_TRUE(window.find("a"));
  EXPECT_EQ(window.find("a")->body, "A");
  EXPECT_EQ(window.find("b")->code, memrun::Code::kInternal);
  window.remember("c", {memrun::Code::kOk, "C"});  // pushes out "a"
  EXPECT_FALSE(window.find("a"));
  EXPECT_TRUE(window.find("b"));
  EXPECT_TRUE(window.find("c"));
  EXPECT_EQ(window.size(), 2u);
}

TEST(RecentReplies, FirstOutcomeWinsAndZeroCapacityDisables) {
  RecentReplies window(4);
  window.remember("a", {memrun::Code::kOk, "first"});
  window.remember("a", {memrun::Code::kOk, "second"});
  EXPECT_EQ(window.find("a")->body, "first");
  RecentReplies off(0);
  off.remember("a", {memrun::Code::kOk, "x"});
  EXPECT_FALSE(off.find("a"));
}

TEST(RecentReplies, ALargeWindowIsShardedYetKeepsItsCountAndItsNewestIds) {
  RecentReplies window(RecentReplies::kShardedFrom);
  for (int i = 0; i < 5000; ++i) window.remember("id-" + std::to_string(i), {memrun::Code::kOk, std::to_string(i)});
  EXPECT_EQ(window.size(), RecentReplies::kShardedFrom) << "every shard full at its share of the capacity";
  // About capacity / kShards of each shard's newest ids stay: the last 500
  // (about 31 per shard) certainly.
  for (int i = 4500; i < 5000; ++i) {
    auto found = window.find("id-" + std::to_string(i));
    ASSERT_TRUE(found) << i;
    EXPECT_EQ(found->body, std::to_string(i));
  }
  EXPECT_FALSE(window.find("id-0"));
}
