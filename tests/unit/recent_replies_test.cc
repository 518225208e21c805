#include "runtime/recent_replies.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <string>
#include <thread>
#include <vector>

using memrun::internal::RecentReplies;

TEST(RecentReplies, RemembersWithinTheWindowAndForgetsOldestFirst) {
  RecentReplies window(2, 1 << 20);
  window.remember("a", memrun::Code::kOk, "A");
  window.remember("b", memrun::Code::kInternal, "B failed");
  ASSERT_TRUE(window.find("a"));
  EXPECT_EQ(window.find("a")->body, "A");
  EXPECT_EQ(window.find("b")->code, memrun::Code::kInternal);
  window.remember("c", memrun::Code::kOk, "C");  // pushes out "a"
  EXPECT_FALSE(window.find("a"));
  EXPECT_TRUE(window.find("b"));
  EXPECT_TRUE(window.find("c"));
  EXPECT_EQ(window.size(), 2u);
}

TEST(RecentReplies, FirstOutcomeWinsAndZeroCapacityDisables) {
  RecentReplies window(4, 1 << 20);
  window.remember("a", memrun::Code::kOk, "first");
  window.remember("a", memrun::Code::kOk, "second");
  EXPECT_EQ(window.find("a")->body, "first");
  RecentReplies off(0, 1 << 20);
  off.remember("a", memrun::Code::kOk, "x");
  EXPECT_FALSE(off.find("a"));
  RecentReplies no_bytes(4, 0);
  no_bytes.remember("a", memrun::Code::kOk, "x");
  EXPECT_FALSE(no_bytes.find("a"));
}

TEST(RecentReplies, ALargeWindowIsShardedYetKeepsItsCountAndItsNewestIds) {
  RecentReplies window(RecentReplies::kShardedFrom, 1 << 20);
  for (int i = 0; i < 5000; ++i) window.remember("id-" + std::to_string(i), memrun::Code::kOk, std::to_string(i));
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
  // Ids "r0".."r9" are 2 bytes and bodies 126: a buffer of 128 bytes each
  // (kBufferAlign is 64).
  static_assert(RecentReplies::kBufferAlign == 64);
  RecentReplies window(100, 600);
  for (int i = 0; i < 10; ++i) window.remember("r" + std::to_string(i), memrun::Code::kOk, std::string(126, 'x'));
  EXPECT_EQ(window.size(), 4u) << "600 bytes hold four buffers of 128, although 100 ids would fit";
  EXPECT_EQ(window.bytes(), 512u);
  for (int i = 6; i < 10; ++i) EXPECT_TRUE(window.find("r" + std::to_string(i))) << i;
  EXPECT_FALSE(window.find("r5"));

  EXPECT_FALSE(window.remember("big", memrun::Code::kOk, std::string(600, 'x')));  // 640 bytes: never fits
  EXPECT_FALSE(window.find("big"));
  EXPECT_EQ(window.size(), 4u) << "a reply too large to keep pushes nothing out";

  EXPECT_TRUE(window.remember("mid", memrun::Code::kOk, std::string(253, 'x')));  // 256 bytes: two must go
  EXPECT_EQ(window.find("mid")->body, std::string(253, 'x'));
  EXPECT_TRUE(window.find("r8"));
  EXPECT_FALSE(window.find("r7"));
  EXPECT_EQ(window.bytes(), 512u);
}

TEST(RecentReplies, AFullWindowReusesItsBuffersButNotOneFarTooLarge) {
  RecentReplies window(4, 1 << 20);
  for (int i = 0; i < 4; ++i) window.remember("k" + std::to_string(i), memrun::Code::kOk, std::string(60, 'a'));
  EXPECT_EQ(window.bytes(), 4u * 64);
  window.remember("k4", memrun::Code::kOk, std::string(10, 'b'));  // takes k0's slot and its buffer
  EXPECT_EQ(window.bytes(), 4u * 64);
  window.remember("k5", memrun::Code::kOk, std::string(10000, 'c'));
  EXPECT_EQ(window.bytes(), 3u * 64 + 10048);
  for (int i = 6; i < 9; ++i) window.remember("k" + std::to_string(i), memrun::Code::kOk, "d");
  window.remember("k9", memrun::Code::kOk, "e");  // k5's slot: 10048 bytes are too many for 64
  EXPECT_EQ(window.bytes(), 4u * 64);
  EXPECT_EQ(window.find("k9")->body, "e");
  EXPECT_EQ(window.find("k8")->body, "d");
  EXPECT_FALSE(window.find("k5"));
}

// Ids come and go in the index in every order the ring makes: every id of
// the window is found with its own body, none past it, while slots are
// reused, the ring grows and byte evictions move its oldest.
TEST(RecentReplies, EveryIdInTheWindowIsFoundAndNoneOutsideIt) {
  for (const size_t capacity : {1ul, 3ul, 17ul, 100ul, 5000ul}) {
    RecentReplies window(capacity, 1 << 20);
    const int total = 20000;
    for (int i = 0; i < total; ++i) {
      // Bodies of 1..200 bytes; ids of different lengths share hash buckets now and then.
      window.remember("id" + std::to_string(i * 7919 % 100003), memrun::Code::kOk, std::string(1 + i % 200, 'a' + i % 26));
      if (i % 997 != 0 && i != total - 1) continue;
      const size_t kept = window.size();
      const size_t shards = capacity < RecentReplies::kShardedFrom ? 1 : RecentReplies::kShards;
      ASSERT_LE(kept, (capacity + shards - 1) / shards * shards) << "each shard's share is rounded up";
      ASSERT_LE(window.bytes(), 1u << 20);
      size_t found = 0;
      for (int j = 0; j <= i; ++j) {
        const auto outcome = window.find("id" + std::to_string(j * 7919 % 100003));
        if (!outcome) continue;
        ++found;
        ASSERT_EQ(outcome->body, std::string(1 + j % 200, 'a' + j % 26)) << capacity << " " << j;
      }
      ASSERT_EQ(found, kept) << capacity << " after " << i;
      if (capacity < RecentReplies::kShardedFrom) {
        // One shard: exactly the newest `kept` ids.
        for (int j = i; j > i - static_cast<int>(kept); --j)
          ASSERT_TRUE(window.find("id" + std::to_string(j * 7919 % 100003))) << capacity << " " << j;
      }
    }
  }
}

TEST(RecentReplies, AShardedWindowKeepsItsBytesBoundedAcrossShards) {
  const size_t max_bytes = 64 * 1024;
  RecentReplies window(RecentReplies::kShardedFrom * 4, max_bytes);
  for (int i = 0; i < 5000; ++i) {
    window.remember("id-" + std::to_string(i), memrun::Code::kOk, std::string(100 + i % 900, 'x'));
    ASSERT_LE(window.bytes(), max_bytes) << "after " << i;
  }
  EXPECT_GT(window.bytes(), max_bytes / 2) << "the bound is used, not starved";
  EXPECT_TRUE(window.find("id-4999"));
  EXPECT_FALSE(window.find("id-0"));
  size_t kept = 0;
  for (int i = 0; i < 5000; ++i) kept += window.find("id-" + std::to_string(i)) ? 1 : 0;
  EXPECT_EQ(kept, window.size());
}

// Handler threads share one window (run under ThreadSanitizer too): each id
// found has its own body, and the byte bound holds once they are done.
TEST(RecentReplies, ThreadsShareOneWindow) {
  const size_t max_bytes = 256 * 1024;
  RecentReplies window(RecentReplies::kShardedFrom * 2, max_bytes);
  std::vector<std::thread> threads;
  std::atomic<int> wrong{0};
  for (int t = 0; t < 8; ++t)
    threads.emplace_back([&, t] {
      for (int i = 0; i < 3000; ++i) {
        const std::string id = std::to_string(t) + "-" + std::to_string(i);
        window.remember(id, memrun::Code::kOk, std::string(1 + (i * 37 + t) % 500, static_cast<char>('a' + t)));
        // Its own id, and one another thread may be writing or evicting.
        for (const auto& probe : {id, std::to_string((t + 1) % 8) + "-" + std::to_string(i)}) {
          const auto found = window.find(probe);
          const int owner = probe[0] - '0';
          const int n = std::stoi(probe.substr(2));
          if (found && found->body != std::string(1 + (n * 37 + owner) % 500, static_cast<char>('a' + owner))) ++wrong;
        }
      }
    });
  for (auto& th : threads) th.join();
  EXPECT_EQ(wrong.load(), 0);
  EXPECT_LE(window.bytes(), max_bytes);
  EXPECT_GT(window.size(), 0u);
}
