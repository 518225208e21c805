// Ranged reads (SharedWorkerContext::get_range) through every tier, against
// flaky_http.py (a well-behaved ranged server and misbehaving ones, which
// count the GETs and bytes they sent) and s3rver.
#include <memrun/context.hpp>
#include <memrun/status.hpp>

#include "support/flaky_http.hpp"
#include "support/s3rver.hpp"
#include "support/subprocess.hpp"
#include "support/temp_dir.hpp"

#include <gtest/gtest.h>

#include <sys/mount.h>
#include <sys/resource.h>

#include <csignal>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <random>
#include <string>
#include <vector>

using namespace std::chrono_literals;

namespace {

using memrun::test::big_slice;
using memrun::test::contains;
using memrun::test::files_under;
using memrun::test::error_of;
using memrun::test::FlakyHttp;
using memrun::test::kBig;
using memrun::test::kChunk;
using memrun::test::options;
using memrun::test::text;

// The file whose mapping holds `p` (from /proc/self/maps), or "": tells a
// Blob that maps a disk entry from one copied into memory.
std::string mapped_file_of(const void* p) {
  std::ifstream maps("/proc/self/maps");
  const auto at = reinterpret_cast<uintptr_t>(p);
  for (std::string line; std::getline(maps, line);) {
    uintptr_t from = 0, to = 0;
    if (std::sscanf(line.c_str(), "%lx-%lx", &from, &to) != 2 || at < from || at >= to) continue;
    const auto slash = line.find('/');
    return slash == std::string::npos ? "" : line.substr(slash);
  }
  return "";
}

// A range across two chunks fetches those two chunks and nothing else;
// reading it again is a RAM hit, after a restart a disk hit, with no request
// at all; a footer is one chunk; the whole object still comes whole.
TEST_F(FlakyHttp, OnlyTouchedChunksAreFetchedThenRamThenDiskHits) {
  memrun::test::TempDir cache("memrun-ranges");
  const std::string url = base_ + "/ranged/big";
  const uint64_t offset = 5 * kChunk + 100, length = kChunk + 1000;  // chunks 5 and 6
  {
    memrun::SharedWorkerContext ctx(options(cache.path));
    memrun::Blob b = ctx.get_range(url, offset, length);
    EXPECT_EQ(b.tier(), memrun::Tier::kRemote);
    EXPECT_EQ(text(b), big_slice(offset, length));
    EXPECT_EQ(ctx.cache_stats().remote_fetches, 2u);
    EXPECT_EQ(ctx.cache_stats().remote_bytes, 2 * kChunk);
    EXPECT_EQ(counter("bytes", "/ranged/big"), 2 * kChunk) << "bytes the server sent";

    memrun::Blob again = ctx.get_range(url, offset + 10, 20);  // within chunk 5
    EXPECT_EQ(again.tier(), memrun::Tier::kRam);
    EXPECT_EQ(text(again), big_slice(offset + 10, 20));
    EXPECT_EQ(ctx.cache_stats().remote_bytes, 2 * kChunk);
    EXPECT_EQ(ctx.cache_stats().ram_hits, 1u);

    memrun::Blob footer = ctx.get_range(url, kBig - 64, 64);
    EXPECT_EQ(text(footer), big_slice(kBig - 64, 64));
    EXPECT_EQ(ctx.cache_stats().remote_bytes, 3 * kChunk);
  }
  const uint64_t hits = counter("hits", "/ranged/big");
  EXPECT_EQ(hits, 3u);
  {
    memrun::SharedWorkerContext restarted(options(cache.path));
    memrun::Blob b = restarted.get_range(url, offset, length);
    EXPECT_EQ(b.tier(), memrun::Tier::kDisk);
    EXPECT_EQ(text(b), big_slice(offset, length));
    EXPECT_EQ(restarted.cache_stats().remote_bytes, 0u);
    EXPECT_EQ(restarted.cache_stats().disk_hits, 2u);
    EXPECT_EQ(counter("hits", "/ranged/big"), hits) << "no request, not even for the identity";

    memrun::Blob whole = restarted.get_or_fetch(url);
    EXPECT_EQ(whole.size(), kBig);
    EXPECT_TRUE(whole.view() == big_slice(0, kBig));
    EXPECT_EQ(text(restarted.get_range(url, offset, length)), big_slice(offset, length)) << "ranges after a whole get";
  }
}

// A whole get of an object read by range before fetches only the chunks
// still missing into its partial entry, and gets a mapping of that entry, no
// copy: one sparse file per object, the whole object after a restart one disk
// hit. A digest the cached chunks do not match sends it to the source whole.
TEST_F(FlakyHttp, AWholeGetAfterRangesFetchesOnlyTheChunksStillMissing) {
  memrun::test::TempDir cache("memrun-ranges-whole");
  const std::string url = base_ + "/ranged/big";
  const uint64_t chunks = (kBig + kChunk - 1) / kChunk;
  const uint64_t last = kBig - (chunks - 1) * kChunk;
  {
    memrun::SharedWorkerContext ctx(options(cache.path));
    ctx.get_range(url, 5 * kChunk + 100, kChunk + 1000);  // chunks 5 and 6
    ctx.get_range(url, kBig - 64, 64);                      // the last chunk
    const uint64_t sent = counter("bytes", "/ranged/big");
    ASSERT_EQ(sent, 2 * kChunk + last);
    memrun::Blob whole = ctx.get_or_fetch(url);
    EXPECT_EQ(whole.size(), kBig);
    EXPECT_TRUE(whole.view() == big_slice(0, kBig));
    EXPECT_EQ(counter("bytes", "/ranged/big") - sent, kBig - 2 * kChunk - last) << "only the missing chunks";
    const auto files = files_under(cache.path, ".data");
    ASSERT_EQ(files.size(), 1u) << "one entry for the object, not one per chunk";
    EXPECT_EQ(mapped_file_of(whole.data()), files[0].string()) << "a mapping of the entry, not a copy";
    EXPECT_EQ(ctx.get_or_fetch(url).tier(), memrun::Tier::kRam);
  }
  const uint64_t sent = counter("bytes", "/ranged/big");
  {
    memrun::SharedWorkerContext restarted(options(cache.path));
    memrun::Blob whole = restarted.get_or_fetch(url);
    EXPECT_EQ(whole.tier(), memrun::Tier::kDisk);
    EXPECT_TRUE(whole.view() == big_slice(0, kBig));
    EXPECT_EQ(restarted.cache_stats().remote_bytes, 0u);
    EXPECT_EQ(restarted.cache_stats().disk_hits, 1u) << "one whole entry";
    EXPECT_EQ(counter("bytes", "/ranged/big"), sent) << "nothing sent after the restart";
  }
  {
    memrun::SharedWorkerContext again(options(cache.path));
    const std::string wrong(64, 'a');
    EXPECT_EQ(error_of([&] { again.get_or_fetch(url + "#sha256=" + wrong); }).code(), memrun::Code::kInvalidArgument);
    EXPECT_EQ(counter("bytes", "/ranged/big") - sent, kBig) << "a digest the chunks miss goes to the source";
  }
}

// The other way round: ranges and streams of an object fetched whole are cut
// from its entry, in RAM and, after a restart, on disk, with no request and
// no chunk stored. A corrupted whole entry is found by the range's own check,
// dropped, and the range's chunks are fetched instead.
TEST_F(FlakyHttp, RangesOfAnObjectFetchedWholeAreCutFromItsEntry) {
  memrun::test::TempDir cache("memrun-ranges-cut");
  const std::string url = base_ + "/ranged/big";
  const uint64_t offset = 5 * kChunk + 100, length = kChunk + 1000;  // across chunks 5 and 6
  {
    memrun::SharedWorkerContext ctx(options(cache.path));
    ASSERT_TRUE(ctx.get_or_fetch(url).view() == big_slice(0, kBig));
    const uint64_t sent = counter("bytes", "/ranged/big"), hits = counter("hits", "/ranged/big");
    const uint64_t entries = ctx.cache_stats().disk.entries;
    memrun::Blob b = ctx.get_range(url, offset, length);
    EXPECT_EQ(b.tier(), memrun::Tier::kRam);
    EXPECT_EQ(text(b), big_slice(offset, length));
    memrun::StreamingObject stream = ctx.open_stream(url);
    EXPECT_EQ(stream.size(), kBig);
    EXPECT_EQ(text(stream.read(kBig - 3000, 3000)), big_slice(kBig - 3000, 3000));
    auto e = error_of([&] { ctx.get_range(url, kBig - 10, 11); });
    EXPECT_EQ(e.code(), memrun::Code::kInvalidArgument) << e.what();
    EXPECT_TRUE(contains(e, std::to_string(kBig) + " bytes")) << e.what();
    EXPECT_EQ(counter("hits", "/ranged/big"), hits) << "no request";
    EXPECT_EQ(counter("bytes", "/ranged/big"), sent);
    EXPECT_EQ(ctx.cache_stats().disk.entries, entries) << "no chunk entry, no identity entry";
  }
  const uint64_t hits = counter("hits", "/ranged/big");
  {
    memrun::SharedWorkerContext restarted(options(cache.path));
    memrun::Blob b = restarted.get_range(url, offset, length);
    EXPECT_EQ(b.tier(), memrun::Tier::kDisk);
    EXPECT_EQ(text(b), big_slice(offset, length));
    EXPECT_EQ(restarted.cache_stats().disk_hits, 1u);
    memrun::StreamingObject stream = restarted.open_stream(url);
    EXPECT_EQ(text(stream.read(3, 2 * kChunk)), big_slice(3, 2 * kChunk));
    EXPECT_EQ(restarted.cache_stats().remote_bytes, 0u);
    EXPECT_EQ(restarted.stats().objects, 0u) << "a slice does not charge the whole object to RAM";
    EXPECT_EQ(counter("hits", "/ranged/big"), hits) << "no request after the restart";
  }
  // One byte inside chunk 5 of the whole entry's data file.
  int corrupted = 0;
  for (const auto& f : files_under(cache.path, ".data")) {
    if (std::filesystem::file_size(f) != kBig) continue;
    std::fstream io(f, std::ios::in | std::ios::out | std::ios::binary);
    io.seekp(static_cast<std::streamoff>(offset + 7));
    io.put('\xff');
    ++corrupted;
  }
  ASSERT_EQ(corrupted, 1);
  memrun::SharedWorkerContext restarted(options(cache.path));
  memrun::Blob b = restarted.get_range(url, offset, length);
  EXPECT_EQ(text(b), big_slice(offset, length));
  EXPECT_EQ(b.tier(), memrun::Tier::kRemote);
  EXPECT_EQ(restarted.cache_stats().disk.corrupt_dropped, 1u);
  EXPECT_EQ(restarted.cache_stats().remote_bytes, 2 * kChunk) << "the range's chunks, not the whole object";
}

TEST_F(FlakyHttp, BadRangesAreRefusedByName) {
  memrun::SharedWorkerContext ctx(options());
  const std::string url = base_ + "/ranged/big";
  auto e = error_of([&] { ctx.get_range(url, 0, 0); });
  EXPECT_EQ(e.code(), memrun::Code::kInvalidArgument) << e.what();
  EXPECT_TRUE(contains(e, "length of 0")) << e.what();
  // Not known yet: the server's 416 says so.
  e = error_of([&] { ctx.get_range(url, kBig, 1); });
  EXPECT_EQ(e.code(), memrun::Code::kInvalidArgument) << e.what();
  EXPECT_TRUE(contains(e, "past the end")) << e.what();
  EXPECT_TRUE(contains(e, std::to_string(kBig) + " bytes")) << e.what();
  // Starting inside, ending past the end: refused once the size is known.
  e = error_of([&] { ctx.get_range(url, kBig - 10, 11); });
  EXPECT_EQ(e.code(), memrun::Code::kInvalidArgument) << e.what();
  EXPECT_TRUE(contains(e, "past the end")) << e.what();
  // Known now: refused before any request.
  const uint64_t hits = counter("hits", "/ranged/big");
  e = error_of([&] { ctx.get_range(url, kBig + 5, 1); });
  EXPECT_EQ(e.code(), memrun::Code::kInvalidArgument) << e.what();
  e = error_of([&] { ctx.get_range(url, UINT64_MAX, 2); });
  EXPECT_EQ(e.code(), memrun::Code::kInvalidArgument) << e.what();
  EXPECT_EQ(counter("hits", "/ranged/big"), hits);
  e = error_of([&] { ctx.get_range(url + "#sha256=" + std::string(64, 'a'), 0, 1); });
  EXPECT_EQ(e.code(), memrun::Code::kInvalidArgument) << e.what();
  EXPECT_TRUE(contains(e, "whole object")) << e.what();
  e = error_of([&] { ctx.get_range(url, 0, 1, memrun::FetchWait{std::chrono::system_clock::now() - 1s, {}}); });
  EXPECT_EQ(e.code(), memrun::Code::kDeadlineExceeded) << e.what();
}

// A 200 with the whole object is refused at its headers, a Content-Range
// that answers another range is refused: nothing is cached either way.
TEST_F(FlakyHttp, ServersThatIgnoreOrMisanswerRangesCacheNothing) {
  memrun::test::TempDir cache("memrun-ranges");
  memrun::SharedWorkerContext ctx(options(cache.path));
  auto e = error_of([&] { ctx.get_range(base_ + "/ignore-range/big", 100, 10); });
  EXPECT_EQ(e.code(), memrun::Code::kUnimplemented) << e.what();
  EXPECT_TRUE(contains(e, "ignores Range")) << e.what();
  e = error_of([&] { ctx.get_range(base_ + "/wrong-range/big", 100, 10); });
  EXPECT_EQ(e.code(), memrun::Code::kUnavailable) << e.what();
  EXPECT_TRUE(contains(e, "does not answer the range asked for")) << e.what();
  EXPECT_EQ(ctx.cache_stats().disk.entries, 0u);
  EXPECT_EQ(ctx.stats().objects, 0u);
  EXPECT_EQ(ctx.cache_stats().remote_bytes, 0u);
}

// The object is replaced after its first chunk: the next chunk's If-Match
// fails, the read is unavailable, and a retry reads the new version whole.
TEST_F(FlakyHttp, AnObjectChangedBetweenChunksIsUnavailableNeverMixed) {
  memrun::test::TempDir cache("memrun-ranges");
  memrun::SharedWorkerContext ctx(options(cache.path));
  const std::string url = base_ + "/changing/big";
  auto e = error_of([&] { ctx.get_range(url, 10, 2 * kChunk); });
  EXPECT_EQ(e.code(), memrun::Code::kUnavailable) << e.what();
  EXPECT_TRUE(contains(e, "changed")) << e.what();
  EXPECT_TRUE(contains(e, "\"v1\"")) << e.what();
  memrun::Blob b = ctx.get_range(url, 10, 2 * kChunk);
  EXPECT_EQ(text(b), big_slice(10, 2 * kChunk));
  EXPECT_EQ(b.tier(), memrun::Tier::kRemote) << "no chunk of v1 served for v2";
}

// A weak ETag fails every If-Match: chunks of such an object are compared
// with it instead of pinned by it.
TEST_F(FlakyHttp, AWeakEtagIsComparedNotSentAsIfMatch) {
  memrun::SharedWorkerContext ctx(options());
  EXPECT_EQ(text(ctx.get_range(base_ + "/weak/big", kChunk - 5, 3 * kChunk)), big_slice(kChunk - 5, 3 * kChunk));
  EXPECT_EQ(ctx.cache_stats().remote_fetches, 4u);
}

// A chunk corrupted in its partial entry is found out on its first read after
// a restart; the entry is dropped and the chunk fetched again.
TEST_F(FlakyHttp, ACorruptedChunkOnDiskIsRefetched) {
  memrun::test::TempDir cache("memrun-ranges");
  const std::string url = base_ + "/ranged/big";
  {
    memrun::SharedWorkerContext ctx(options(cache.path));
    ctx.get_range(url, 3 * kChunk, 10);
  }
  const auto files = files_under(cache.path, ".data");
  ASSERT_EQ(files.size(), 1u);
  ASSERT_EQ(std::filesystem::file_size(files[0]), kBig) << "sparse, of the object's size";
  {
    std::fstream io(files[0], std::ios::in | std::ios::out | std::ios::binary);
    io.seekp(static_cast<std::streamoff>(3 * kChunk + 7));
    io.put('\xff');
  }
  memrun::SharedWorkerContext restarted(options(cache.path));
  memrun::Blob b = restarted.get_range(url, 3 * kChunk, 10);
  EXPECT_EQ(text(b), big_slice(3 * kChunk, 10));
  EXPECT_EQ(b.tier(), memrun::Tier::kRemote);
  EXPECT_EQ(restarted.cache_stats().disk.corrupt_dropped, 1u);
  EXPECT_EQ(restarted.cache_stats().remote_bytes, kChunk);
}

// A disk that fills up in the middle of a partially cached object: the
// chunks that fit are cached, the one that meets ENOSPC is served from
// memory and not cached, no temporary file is left, and the bytes are right
// every time. After a restart the cached chunks are disk hits and only the
// others are fetched again.
TEST_F(FlakyHttp, ADiskFullInTheMiddleOfAPartialObjectServesEveryByteRight) {
  memrun::test::TempDir dir("memrun-ranges");
  const std::string full = dir.path + "/full";
  std::filesystem::create_directories(full);
  // 2.5 MiB of tmpfs under a cache that claims 64 MiB: the third 1 MiB chunk
  // (plus the entries' meta files) does not fit. Where mounting is not
  // permitted, writes past RLIMIT_FSIZE fail instead (EFBIG), down the same path.
  const bool tmpfs = ::mount("tmpfs", full.c_str(), "tmpfs", 0, "size=2560k") == 0;
  std::signal(SIGXFSZ, SIG_IGN);
  rlimit old{};
  ::getrlimit(RLIMIT_FSIZE, &old);
  const std::string url = base_ + "/ranged/big";
  const uint64_t offset = 2 * kChunk, length = 4 * kChunk;  // chunks 2 to 5
  uint64_t not_cached = 0, cached = 0;
  {
    memrun::SharedWorkerContext ctx(options(full));
    rlimit tiny = old;
    tiny.rlim_cur = kChunk / 2;
    if (!tmpfs) ::setrlimit(RLIMIT_FSIZE, &tiny);
    memrun::Blob b = ctx.get_range(url, offset, length);
    if (!tmpfs) ::setrlimit(RLIMIT_FSIZE, &old);
    EXPECT_EQ(text(b), big_slice(offset, length));
    const auto disk = ctx.cache_stats().disk;
    not_cached = disk.not_cached;
    cached = disk.bytes / kChunk;  // the chunks its partial entry holds
    EXPECT_GE(not_cached, 1u) << (tmpfs ? "tmpfs" : "rlimit");
    EXPECT_EQ(cached + not_cached, 4u) << disk.entries << " entries of " << disk.bytes << " bytes";
    EXPECT_EQ(text(ctx.get_range(url, offset, length)), big_slice(offset, length)) << "again, from RAM";
  }
  EXPECT_TRUE(files_under(full, ".tmp").empty());
  {
    memrun::SharedWorkerContext restarted(options(full));
    memrun::Blob b = restarted.get_range(url, offset, length);
    EXPECT_EQ(text(b), big_slice(offset, length));
    EXPECT_EQ(restarted.cache_stats().disk_hits, cached);
    EXPECT_GE(restarted.cache_stats().remote_bytes, kChunk) << "the chunks that did not fit are fetched again";
  }
  if (tmpfs) ::umount2(full.c_str(), MNT_DETACH);
}

TEST(FileRange, ReadsWithinTheRootsOnly) {
  memrun::test::TempDir dir("memrun-ranges");
  const std::string path = dir.path + "/data.bin";
  std::ofstream(path, std::ios::binary) << "0123456789";
  auto o = options();
  o.file_roots = {dir.path};
  memrun::SharedWorkerContext ctx(o);
  EXPECT_EQ(text(ctx.get_range("file://" + path, 3, 4)), "3456");
  auto e = error_of([&] { ctx.get_range("file://" + path, 8, 3); });
  EXPECT_EQ(e.code(), memrun::Code::kInvalidArgument) << e.what();
  EXPECT_TRUE(contains(e, "10 bytes")) << e.what();
  memrun::SharedWorkerContext unrooted(options());
  e = error_of([&] { unrooted.get_range("file://" + path, 0, 1); });
  EXPECT_EQ(e.code(), memrun::Code::kInvalidArgument) << e.what();
  EXPECT_TRUE(contains(e, "outside")) << e.what();
}

class S3Ranges : public testing::Test {
 protected:
  static void SetUpTestSuite() { s3_ = std::make_unique<memrun::test::S3rver>(); }
  static void TearDownTestSuite() { s3_.reset(); }
  static inline std::unique_ptr<memrun::test::S3rver> s3_;
};

std::string random_bytes(size_t n, unsigned seed) {
  std::mt19937 rng(seed);
  std::string out(n, '\0');
  for (auto& c : out) c = static_cast<char>(rng());
  return out;
}

// Scattered ranges of an S3 object fetch only their chunks; again they are
// RAM hits; a replaced object (new ETag) is unavailable, then read anew.
TEST_F(S3Ranges, ScatteredRangesThenAReplacedObject) {
  const std::string results = std::string("s3://") + memrun::test::S3rver::kBucket + "/ranges";
  auto o = options();
  o.result_url = results;
  memrun::SharedWorkerContext ctx(o);
  const std::string v1 = random_bytes(10 * kChunk + 123, 1);
  const std::string url = ctx.upload_result(v1, "obj.bin");
  const std::pair<uint64_t, uint64_t> ranges[] = {
      {v1.size() - 100, 100}, {kChunk + 5, 50}, {6 * kChunk - 10, 20}};  // chunks 10; 1; 5 and 6
  for (auto [offset, length] : ranges) EXPECT_EQ(text(ctx.get_range(url, offset, length)), v1.substr(offset, length));
  EXPECT_EQ(ctx.cache_stats().remote_fetches, 4u);
  EXPECT_EQ(ctx.cache_stats().remote_bytes, 3 * kChunk + 123);
  for (auto [offset, length] : ranges) EXPECT_EQ(ctx.get_range(url, offset, length).tier(), memrun::Tier::kRam);
  EXPECT_EQ(ctx.cache_stats().remote_fetches, 4u);
  // Whole, from a context that read none of it by range (this one's whole
  // get would cache every chunk, and the next read must miss one).
  EXPECT_TRUE(memrun::SharedWorkerContext(o).get_or_fetch(url).view() == v1);

  const std::string v2 = random_bytes(10 * kChunk + 123, 2);
  ctx.upload_result(v2, "obj.bin");
  auto e = error_of([&] { ctx.get_range(url, 0, 10); });  // chunk 0 not cached: fetched pinned to v1
  EXPECT_EQ(e.code(), memrun::Code::kUnavailable) << e.what();
  EXPECT_TRUE(contains(e, "changed")) << e.what();
  EXPECT_EQ(text(ctx.get_range(url, 0, 10)), v2.substr(0, 10));
  EXPECT_EQ(text(ctx.get_range(url, kChunk + 5, 50)), v2.substr(kChunk + 5, 50)) << "v1's chunk is not served for v2";
}

// An S3 object streams whole, in reads across chunk boundaries; replaced
// while a stream reads it, the chunks not fetched yet are unavailable.
TEST_F(S3Ranges, AStreamReadsAnObjectWholeAndAReplacedOneIsUnavailable) {
  auto o = options();
  o.result_url = std::string("s3://") + memrun::test::S3rver::kBucket + "/streams";
  memrun::SharedWorkerContext ctx(o);
  const std::string v1 = random_bytes(6 * kChunk + 77, 1);
  const std::string url = ctx.upload_result(v1, "obj.bin");
  {
    memrun::StreamingObject stream = ctx.open_stream(url);
    ASSERT_EQ(stream.size(), v1.size());
    std::string all;
    for (uint64_t at = 0; at < v1.size(); at += 1500000)
      all += text(stream.read(at, std::min<uint64_t>(1500000, v1.size() - at)));
    EXPECT_TRUE(all == v1);
  }
  const std::string big = random_bytes(12 * kChunk, 2);
  const std::string url2 = ctx.upload_result(big, "obj2.bin");
  memrun::StreamingObject stream = ctx.open_stream(url2, memrun::StreamOptions{1});
  EXPECT_EQ(text(stream.read(0, 100)), big.substr(0, 100));
  ctx.upload_result(random_bytes(12 * kChunk, 3), "obj2.bin");
  auto e = error_of([&] { stream.read(11 * kChunk, 100); });
  EXPECT_EQ(e.code(), memrun::Code::kUnavailable) << e.what();
  EXPECT_TRUE(contains(e, "changed")) << e.what();
}

}  // namespace
