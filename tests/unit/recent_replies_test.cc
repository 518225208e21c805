#include "runtime/recent_replies.hpp"

#include <gtest/gtest.h>

using memrun::internal::RecentReplies;

TEST(RecentReplies, RemembersWithinTheWindowAndForgetsOldestFirst) {
  RecentReplies window(2, 1 << 20);
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
  RecentReplies window(4, 1 << 20);
  window.remember("a", {memrun::Code::kOk, "first"});
  window.remember("a", {memrun::Code::kOk, "second"});
  EXPECT_EQ(window.find("a")->body, "first");
  RecentReplies off(0, 1 << 20);
  off.remember("a", {memrun::Code::kOk, "x"});
  EXPECT_FALSE(off.find("a"));
  RecentReplies no_bytes(4, 0);
  no_bytes.remember("a", {memrun::Code::kOk, "x"});
  EXPECT_FALSE(no_bytes.find("a"));
}

TEST(RecentReplies, ALargeWindowIsShardedYetKeepsItsCountAndItsNewestIds) {
  RecentReplies window(RecentReplies::kShardedFrom, 1 << 20);
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

TEST(RecentReplies, TheByteBoundLetsTheOldestGoAndKeepsNoReplyLargerThanItself) {
  // Ids "r0".."r9" cost 2 bytes each, bodies 98: 100 bytes an entry.
  RecentReplies window(100, 450);
  for (int i = 0; i < 10; ++i) window.remember("r" + std::to_string(i), {memrun::Code::kOk, std::string(98, 'x')});
  EXPECT_EQ(window.size(), 4u) << "450 bytes hold four entries of 100, although 100 ids would fit";
  EXPECT_EQ(window.bytes(), 400u);
  for (int i = 6; i < 10; ++i) EXPECT_TRUE(window.find("r" + std::to_string(i))) << i;
  EXPECT_FALSE(window.find("r5"));

  EXPECT_FALSE(window.remember("big", {memrun::Code::kOk, std::string(448, 'x')}));  // 451 bytes: never fits
  EXPECT_FALSE(window.find("big"));
  EXPECT_EQ(window.size(), 4u) << "a reply too large to keep pushes nothing out";

  EXPECT_TRUE(window.remember("mid", {memrun::Code::kOk, std::string(247, 'x')}));  // 250 bytes: two must go
  EXPECT_TRUE(window.find("mid"));
  EXPECT_TRUE(window.find("r8"));
  EXPECT_FALSE(window.find("r7"));
  EXPECT_EQ(window.bytes(), 450u);
}

TEST(RecentReplies, AShardedWindowKeepsItsBytesBoundedAcrossShards) {
  const size_t max_bytes = 64 * 1024;
  RecentReplies window(RecentReplies::kShardedFrom * 4, max_bytes);
  for (int i = 0; i < 5000; ++i) {
    window.remember("id-" + std::to_string(i), {memrun::Code::kOk, std::string(100 + i % 900, 'x')});
    ASSERT_LE(window.bytes(), max_bytes) << "after " << i;
  }
  EXPECT_GT(window.bytes(), max_bytes / 2) << "the bound is used, not starved";
  EXPECT_TRUE(window.find("id-4999"));
  EXPECT_FALSE(window.find("id-0"));
  size_t kept = 0;
  for (int i = 0; i < 5000; ++i) kept += window.find("id-" + std::to_string(i)) ? 1 : 0;
  EXPECT_EQ(kept, window.size());
}
