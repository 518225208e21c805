#include "runtime/fair_queue.hpp"

#include <gtest/gtest.h>

#include <string>
#include <vector>

using memrun::internal::FairQueue;

namespace {

std::vector<std::string> drain(FairQueue<std::string>& q) {
  std::vector<std::string> out;
  while (auto item = q.pop()) out.push_back(*item);
  return out;
}

}  // namespace

TEST(FairQueue, AHotPartitionTakesTurnsWithTheOthers) {
  FairQueue<std::string> q;
  for (int i = 0; i < 4; ++i) q.push(7, "hot" + std::to_string(i));
  q.push(2, "a0");
  q.push(9, "b0");
  q.push(2, "a1");
  EXPECT_EQ(q.size(), 7u);
  EXPECT_EQ(drain(q), (std::vector<std::string>{"a0", "hot0", "b0", "a1", "hot1", "hot2", "hot3"}));
  EXPECT_TRUE(q.empty());
}

TEST(FairQueue, KeepsOrderWithinAPartitionAcrossRefills) {
  FairQueue<std::string> q;
  q.push(1, "x0");
  q.push(1, "x1");
  EXPECT_EQ(*q.pop(), "x0");
  q.push(1, "x2");
  q.push(0, "y0");
  EXPECT_EQ(drain(q), (std::vector<std::string>{"y0", "x1", "x2"}));
}

TEST(FairQueue, ErasingPartitionsDropsOnlyTheirItems) {
  FairQueue<std::string> q;
  q.push(1, "x0");
  q.push(2, "y0");
  q.push(2, "y1");
  q.push(3, "z0");
  q.erase({2, 5});
  EXPECT_EQ(q.size(), 2u);
  EXPECT_EQ(drain(q), (std::vector<std::string>{"x0", "z0"}));
  q.push(4, "w0");
  q.clear();
  EXPECT_FALSE(q.pop());
}
