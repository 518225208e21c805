// Download buffers (src/remote/buffer.hpp): a buffer let go is kept mapped
// and handed out again for the same length, newest first, within
// kBufferPoolBytes, the oldest unmapped to make room.
#include "remote/buffer.hpp"

#include <gtest/gtest.h>

#include <cstring>
#include <thread>
#include <vector>

namespace {

using memrun::internal::buffer_pool_bytes;
using memrun::internal::kBufferPoolBytes;
using memrun::internal::prefaulted_buffer;
using memrun::internal::PrefaultedBuffer;

TEST(DownloadBuffers, ABufferLetGoIsHandedOutAgainForTheSameLength) {
  const size_t size = (3u << 20) + 5;
  PrefaultedBuffer a = prefaulted_buffer(size);
  std::memset(a.data, 0xab, size);
  std::byte* const first = a.data;
  const size_t before = buffer_pool_bytes();
  a.owner.reset();
  EXPECT_GT(buffer_pool_bytes(), before) << "kept";
  PrefaultedBuffer other = prefaulted_buffer(size + (64u << 10));
  EXPECT_NE(other.data, first) << "another length is not served from it";
  PrefaultedBuffer again = prefaulted_buffer(size);
  EXPECT_EQ(again.data, first);
  EXPECT_EQ(again.size, size);
  EXPECT_EQ(buffer_pool_bytes(), before);
}

TEST(DownloadBuffers, ThePoolKeepsWithinItsBoundTheNewestFirst) {
  const size_t size = 16u << 20;
  const size_t count = kBufferPoolBytes / size + 3;
  std::vector<PrefaultedBuffer> held;
  for (size_t i = 0; i < count; ++i) held.push_back(prefaulted_buffer(size));
  std::byte* const newest = held.back().data;
  for (auto& b : held) b.owner.reset();  // the last one let go is the newest kept
  EXPECT_LE(buffer_pool_bytes(), kBufferPoolBytes);
  EXPECT_GE(buffer_pool_bytes(), kBufferPoolBytes - size) << "full but for less than one buffer";
  EXPECT_EQ(prefaulted_buffer(size).data, newest);

  const size_t kept = buffer_pool_bytes();
  prefaulted_buffer(kBufferPoolBytes + 1).owner.reset();
  EXPECT_EQ(buffer_pool_bytes(), kept) << "a buffer larger than the bound is unmapped, and pushes nothing out";
}

// Threads that take and let go buffers of a few lengths at once each get a
// buffer of their own (what one writes, no other overwrites meanwhile).
TEST(DownloadBuffers, ThreadsTakingAndLettingGoAtOnceNeverShareABuffer) {
  std::vector<std::thread> threads;
  std::vector<int> clashes(4, 0);
  for (int t = 0; t < 4; ++t)
    threads.emplace_back([t, &clashes] {
      for (int i = 0; i < 300; ++i) {
        PrefaultedBuffer b = prefaulted_buffer((64u << 10) * static_cast<size_t>(i % 3 + 1));
        std::memset(b.data, t, b.size);
        std::this_thread::yield();
        for (size_t at = 0; at < b.size; at += 4096)
          if (b.data[at] != static_cast<std::byte>(t)) ++clashes[static_cast<size_t>(t)];
      }
    });
  for (auto& th : threads) th.join();
  for (int t = 0; t < 4; ++t) EXPECT_EQ(clashes[static_cast<size_t>(t)], 0) << "thread " << t;
  EXPECT_LE(buffer_pool_bytes(), kBufferPoolBytes);
}

}  // namespace
