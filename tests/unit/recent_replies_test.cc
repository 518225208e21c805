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
