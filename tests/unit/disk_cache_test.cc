#include "cache/disk_cache.hpp"

#include <memrun/context.hpp>

#include "support/temp_dir.hpp"

#include <gtest/gtest.h>

#include <sys/mount.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <csignal>
#include <filesystem>
#include <fstream>
#include <atomic>
#include <random>
#include <string>
#include <thread>
#include <vector>

using memrun::internal::DiskCache;
namespace fs = std::filesystem;
using memrun::test::files_under;
using memrun::test::TempDir;

namespace {

constexpr uint64_t kMiB = 1 << 20;

std::string bytes_of(size_t n, char fill) { return std::string(n, fill); }

}  // namespace

TEST(DiskCache, StoresOneFilePerObjectNamedByHashAndMapsItBack) {
  TempDir dir("memrun-disk");
  DiskCache cache({dir.path, 10 * kMiB});
  const std::string url = "s3://bucket/../../etc/passwd?x=1 #frag";
  ASSERT_TRUE(cache.put(url, "hello disk"));
  auto blob = cache.get(url);
  ASSERT_TRUE(blob);
  EXPECT_EQ(blob->view(), "hello disk");
  EXPECT_EQ(blob->tier(), memrun::Tier::kDisk);
  auto data = files_under(dir.path, ".data");
  ASSERT_EQ(data.size(), 1u);
  EXPECT_EQ(data[0].stem().string().size(), 64u) << "named by SHA-256, not by the URL";
  EXPECT_EQ(data[0].parent_path().parent_path(), fs::path(dir.path)) << "no path traversal";
  EXPECT_FALSE(cache.get("s3://bucket/other"));
}

TEST(DiskCache, ARestartedCacheServesWhatWasCommittedAndDropsHalfWrites) {
  TempDir dir("memrun-disk");
  {
    DiskCache cache({dir.path, 10 * kMiB});
    ASSERT_TRUE(cache.put("file:///a", bytes_of(3 * kMiB, 'a')));
    ASSERT_TRUE(cache.put("file:///b", "bee"));
  }
  // A crash mid-write leaves a temporary file, or data whose meta never landed.
  const auto shard = files_under(dir.path, ".data")[0].parent_path();
  std::ofstream(shard / "deadbeef.data.123.1.tmp") << "partial";
  std::ofstream(shard / (std::string(64, 'f') + ".data")) << "uncommitted";
  DiskCache cache({dir.path, 10 * kMiB});
  auto s = cache.stats();
  EXPECT_EQ(s.entries, 2u);
  EXPECT_EQ(s.bytes, 3 * kMiB + 3);
  ASSERT_TRUE(cache.get("file:///a"));
  EXPECT_EQ(cache.get("file:///b")->view(), "bee");
  EXPECT_TRUE(files_under(dir.path, ".tmp").empty());
  EXPECT_EQ(files_under(dir.path, ".data").size(), 2u);
}

TEST(DiskCache, ACorruptedChunkIsDetectedWhenFirstReadAfterRestartAndDropped) {
  TempDir dir("memrun-disk");
  {
    DiskCache cache({dir.path, 64 * kMiB, DiskCache::Policy::kSieve, 1 * kMiB});
    ASSERT_TRUE(cache.put("file:///big", bytes_of(5 * kMiB, 'x')));
  }
  {
    std::fstream f(files_under(dir.path, ".data")[0], std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(3 * kMiB + 17);
    f.put('y');  // one flipped byte in the fourth chunk
  }
  DiskCache cache({dir.path, 64 * kMiB});
  auto blob = cache.get("file:///big");
  ASSERT_TRUE(blob) << "served at once: nothing is read before the handler reads it";
  EXPECT_EQ(static_cast<char>(blob->read(0, 3 * kMiB)[3 * kMiB - 1]), 'x') << "the first three chunks are intact";
  EXPECT_EQ(static_cast<char>(blob->read(4 * kMiB, kMiB)[0]), 'x') << "and so is the fifth";
  EXPECT_FALSE(blob->corrupt());
  try {
    blob->read(3 * kMiB + 100, 1);
    ADD_FAILURE() << "the flipped byte's chunk was not checked";
  } catch (const memrun::Error& e) {
    EXPECT_EQ(e.code(), memrun::Code::kUnavailable) << "retriable: a retry refetches";
    EXPECT_NE(std::string(e.what()).find("bytes 3145728-4194303"), std::string::npos) << e.what();
  }
  EXPECT_TRUE(blob->corrupt());
  EXPECT_THROW(blob->data(), memrun::Error);
  EXPECT_FALSE(cache.get("file:///big")) << "the next lookup drops it";
  EXPECT_EQ(cache.stats().corrupt_dropped, 1u);
  EXPECT_EQ(cache.stats().entries, 0u);
  EXPECT_TRUE(files_under(dir.path, ".data").empty());
  EXPECT_TRUE(cache.put("file:///big", bytes_of(5 * kMiB, 'x')));  // the refetch is stored again
}

TEST(DiskCache, EachChunkIsCheckedOncePerProcessWhateverTheBlob) {
  TempDir dir("memrun-disk");
  {
    DiskCache cache({dir.path, 64 * kMiB, DiskCache::Policy::kSieve, 1 * kMiB});
    ASSERT_TRUE(cache.put("u:e", bytes_of(3 * kMiB, 'e')));
  }
  {
    DiskCache cache({dir.path, 64 * kMiB});
    {
      auto first = cache.get("u:e");
      ASSERT_TRUE(first);
      first->read(0, 1);  // checks chunk 0
      auto second = cache.get("u:e");
      EXPECT_EQ(second->view(), bytes_of(3 * kMiB, 'e')) << "checks chunks 1 and 2, shared with `first`";
    }
    // Damage after every chunk was checked goes unseen until the next restart:
    // checks are per process, not per read.
    {
      std::fstream f(files_under(dir.path, ".data")[0], std::ios::in | std::ios::out | std::ios::binary);
      f.put('!');
    }
    auto third = cache.get("u:e");
    ASSERT_TRUE(third);
    EXPECT_NO_THROW(third->data());
    EXPECT_FALSE(third->corrupt());
  }
  DiskCache restarted({dir.path, 64 * kMiB});  // the directory is free once `cache` is gone
  auto again = restarted.get("u:e");
  ASSERT_TRUE(again);
  EXPECT_THROW(again->read(0, 1), memrun::Error);
}

// A download written in place: ranges out of order from several threads, one
// of them written twice (a retried range whose first attempt sent garbage).
TEST(DiskCache, AWriterTakesRangesInAnyOrderAndCommitsOnlyWhole) {
  TempDir dir("memrun-disk");
  const std::string bytes = [] {
    std::string s(10 * kMiB + 123, '\0');
    std::mt19937 rng(7);
    for (auto& c : s) c = static_cast<char>(rng());
    return s;
  }();
  const auto* src = reinterpret_cast<const std::byte*>(bytes.data());
  {
    DiskCache cache({dir.path, 64 * kMiB, DiskCache::Policy::kSieve, 1 * kMiB});
    auto w = cache.writer("s3://b/k");
    ASSERT_TRUE(w);
    EXPECT_FALSE(cache.writer("s3://b/k")) << "one writer per URL";
    w->allocate(bytes.size());
    w->allocate(bytes.size());  // a retried first range: same size, fine
    EXPECT_THROW(w->allocate(bytes.size() + 1), memrun::Error) << "the object changed size";
    constexpr uint64_t kRange = 3 * kMiB + 5;  // not aligned with the chunks
    std::vector<std::thread> threads;
    for (uint64_t off = 0; off < bytes.size(); off += kRange)
      threads.emplace_back([&, off] {
        const uint64_t n = std::min<uint64_t>(kRange, bytes.size() - off);
        if (off == kRange) {
          const std::string garbage(n, '?');
          w->write(off, reinterpret_cast<const std::byte*>(garbage.data()), n);
        }
        for (uint64_t at = off; at < off + n; at += 16384)  // curl-sized pieces
          w->write(at, src + at, std::min<uint64_t>(16384, off + n - at));
        w->completed(off, n);
      });
    for (auto& t : threads) t.join();
    EXPECT_THROW(w->write(bytes.size() - 1, src, 2), memrun::Error) << "past the end";
    EXPECT_EQ(w->bytes().view(), bytes);
    EXPECT_FALSE(cache.get("s3://b/k")) << "invisible before the commit";
    ASSERT_TRUE(w->commit());
    EXPECT_EQ(cache.get("s3://b/k")->view(), bytes);
  }
  DiskCache restarted({dir.path, 64 * kMiB});
  EXPECT_EQ(restarted.get("s3://b/k")->view(), bytes) << "the checksums hashed during the download hold";

  auto unfinished = restarted.writer("s3://b/other");
  unfinished->allocate(2 * kMiB);
  unfinished->write(0, src, kMiB);
  unfinished->completed(0, kMiB);
  EXPECT_THROW(unfinished->commit(), memrun::Error) << "half an object is never an entry";
  unfinished.reset();
  EXPECT_EQ(files_under(dir.path, ".tmp").size(), 0u) << "an abandoned write leaves nothing";
  EXPECT_EQ(restarted.stats().bytes, bytes.size());
  auto w = restarted.writer("s3://b/third");
  EXPECT_THROW(w->allocate(65 * kMiB), memrun::Error) << "larger than the capacity";
  EXPECT_TRUE(w->failed()) << "the disk, not the source: the caller fetches into memory";
}

TEST(DiskCache, SieveKeepsVisitedEntriesAndCapacityAlwaysHolds) {
  TempDir dir("memrun-disk");
  DiskCache cache({dir.path, 10 * kMiB});
  for (const char* k : {"a", "b", "c"}) ASSERT_TRUE(cache.put(std::string("u:") + k, bytes_of(3 * kMiB, *k)));
  ASSERT_TRUE(cache.get("u:a"));  // visited; its mapping is released at once
  ASSERT_TRUE(cache.put("u:d", bytes_of(3 * kMiB, 'd')));
  EXPECT_TRUE(cache.get("u:a")) << "SIEVE spares a visited entry";
  EXPECT_FALSE(cache.get("u:b")) << "the oldest unvisited one goes";
  EXPECT_LE(cache.stats().bytes, 10 * kMiB);
  EXPECT_EQ(cache.stats().evictions, 1u);
}

TEST(DiskCache, LruEvictsTheLeastRecentlyRead) {
  TempDir dir("memrun-disk");
  DiskCache cache({dir.path, 10 * kMiB, DiskCache::Policy::kLru});
  for (const char* k : {"a", "b", "c"}) ASSERT_TRUE(cache.put(std::string("u:") + k, bytes_of(3 * kMiB, *k)));
  ASSERT_TRUE(cache.get("u:a"));
  ASSERT_TRUE(cache.put("u:d", bytes_of(3 * kMiB, 'd')));
  EXPECT_FALSE(cache.get("u:b"));
  EXPECT_TRUE(cache.get("u:a"));
}

TEST(DiskCache, AnEntryAHandlerHoldsIsNeverEvicted) {
  TempDir dir("memrun-disk");
  DiskCache cache({dir.path, 6 * kMiB});
  ASSERT_TRUE(cache.put("u:held", bytes_of(3 * kMiB, 'h')));
  auto held = cache.get("u:held");  // a handler is reading it
  ASSERT_TRUE(held);
  ASSERT_TRUE(cache.put("u:next", bytes_of(3 * kMiB, 'n')));
  ASSERT_TRUE(cache.put("u:third", bytes_of(3 * kMiB, 't'))) << "u:next, not held, makes room";
  EXPECT_FALSE(cache.get("u:next"));
  auto also_held = cache.get("u:third");
  EXPECT_FALSE(cache.put("u:fourth", bytes_of(3 * kMiB, 'f'))) << "every entry is held: no room";
  EXPECT_TRUE(cache.get("u:held"));
  EXPECT_EQ(held->view()[0], 'h');
  EXPECT_LE(cache.stats().bytes, 6 * kMiB);
}

// Readers share one mapping per entry: the entry stays unevictable for as
// long as any of them holds it, not only the most recent one.
TEST(DiskCache, AnEntryStaysHeldWhileAnyOfItsReadersHoldsIt) {
  TempDir dir("memrun-disk");
  DiskCache cache({dir.path, 6 * kMiB});
  ASSERT_TRUE(cache.put("u:shared", bytes_of(3 * kMiB, 's')));
  EXPECT_EQ(cache.stats().mapped_bytes, 0u);
  auto first = cache.get("u:shared");
  auto second = cache.get("u:shared");
  ASSERT_TRUE(first && second);
  EXPECT_EQ(first->data(), second->data()) << "one mapping, shared";
  EXPECT_EQ(cache.stats().mapped_bytes, 3 * kMiB);
  second.reset();  // the later reader lets go; the earlier one still reads
  ASSERT_TRUE(cache.put("u:other", bytes_of(3 * kMiB, 'o')));
  auto other = cache.get("u:other");  // held too: u:shared is the only candidate
  EXPECT_FALSE(cache.put("u:third", bytes_of(3 * kMiB, 't'))) << "u:shared was evicted from under its reader";
  EXPECT_TRUE(cache.get("u:shared"));
  EXPECT_EQ(first->view()[3 * kMiB - 1], 's');
  first.reset();
  EXPECT_EQ(cache.stats().mapped_bytes, 3 * kMiB) << "u:other only";
  ASSERT_TRUE(cache.put("u:third", bytes_of(3 * kMiB, 't'))) << "released, it can make room";
}

TEST(DiskCache, CapacityHoldsUnderConcurrentRandomFetches) {
  TempDir dir("memrun-disk");
  DiskCache cache({dir.path, 8 * kMiB});
  std::atomic<bool> over{false};
  std::vector<std::thread> threads;
  for (int t = 0; t < 8; ++t)
    threads.emplace_back([&, t] {
      std::mt19937 rng(static_cast<unsigned>(t));
      for (int i = 0; i < 60; ++i) {
        const std::string url = "u:" + std::to_string(rng() % 40);
        if (!cache.get(url)) cache.put(url, bytes_of((1 + rng() % 3) * 256 * 1024, 'r'));
        if (cache.stats().bytes > 8 * kMiB) over = true;
      }
    });
  for (auto& t : threads) t.join();
  EXPECT_FALSE(over.load());
  uint64_t on_disk = 0;
  for (const auto& f : files_under(dir.path, ".data")) on_disk += fs::file_size(f);
  EXPECT_EQ(on_disk, cache.stats().bytes) << "index and directory agree";
  EXPECT_LE(on_disk, 8 * kMiB);
  EXPECT_GT(cache.stats().evictions, 0u);
}

// A process killed with SIGKILL in the middle of writing a large entry: the
// next one to open the cache never serves a partial entry.
TEST(DiskCache, KillMinusNineMidWriteLeavesNoPartialEntry) {
  TempDir dir("memrun-disk");
  const std::string big(512 * kMiB, 'k');
  pid_t child = ::fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    DiskCache cache({dir.path, 1024 * kMiB});
    cache.put("u:big", big);
    ::_exit(0);
  }
  // Wait until the write is under way (its temporary file has grown), then kill.
  for (int i = 0; i < 2000; ++i) {
    auto tmps = files_under(dir.path, ".tmp");
    if (!tmps.empty() && fs::file_size(tmps[0]) > 16 * kMiB) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  ::kill(child, SIGKILL);
  int status = 0;
  ::waitpid(child, &status, 0);
  ASSERT_TRUE(WIFSIGNALED(status)) << "the write finished before the kill; make it larger";
  DiskCache cache({dir.path, 1024 * kMiB});
  EXPECT_FALSE(cache.get("u:big"));
  EXPECT_EQ(cache.stats().entries, 0u);
  EXPECT_TRUE(files_under(dir.path, ".tmp").empty()) << "leftovers are removed on start";
}

TEST(DiskCache, TooLargeAFullDiskOrAnUnwritableDirectoryMeanNotCached) {
  TempDir dir("memrun-disk");
  DiskCache small({dir.path, 1 * kMiB});
  EXPECT_FALSE(small.put("u:big", bytes_of(2 * kMiB, 'b')));
  EXPECT_EQ(small.stats().not_cached, 1u);

  // A full disk: a 2 MiB tmpfs whose cache claims 64 MiB, so the write hits
  // ENOSPC. Where mounting is not permitted, writes past RLIMIT_FSIZE fail
  // with EFBIG instead, down the same path.
  const std::string full = dir.path + "/full";
  fs::create_directories(full);
  const bool tmpfs = ::mount("tmpfs", full.c_str(), "tmpfs", 0, "size=2m") == 0;
  {
    DiskCache cache({full, 64 * kMiB});
    std::signal(SIGXFSZ, SIG_IGN);
    rlimit old{};
    ::getrlimit(RLIMIT_FSIZE, &old);
    rlimit tiny = old;
    tiny.rlim_cur = 1 * kMiB;
    if (!tmpfs) ::setrlimit(RLIMIT_FSIZE, &tiny);
    const bool stored = cache.put("u:toobig", bytes_of(3 * kMiB, 'f'));
    if (!tmpfs) ::setrlimit(RLIMIT_FSIZE, &old);
    EXPECT_FALSE(stored) << (tmpfs ? "tmpfs" : "rlimit");
    EXPECT_EQ(cache.stats().not_cached, 1u);
    EXPECT_EQ(cache.stats().bytes, 0u) << "the reservation was released";
    EXPECT_TRUE(files_under(full, ".tmp").empty());
    EXPECT_TRUE(cache.put("u:fits", "ok")) << "the disk is usable again";
  }
  if (tmpfs) ::umount(full.c_str());

  DiskCache nowhere({"/proc/memrun-cannot-write-here", 64 * kMiB});
  EXPECT_FALSE(nowhere.enabled());
  EXPECT_FALSE(nowhere.put("u:x", "x"));
  EXPECT_FALSE(nowhere.get("u:x"));
}
