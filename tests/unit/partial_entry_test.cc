// The disk tier's partial entries (DiskCache::put_chunk / get_range): one
// sparse file per object holding the chunks ranged reads fetched, with a
// checksum per chunk held and the object's version in its meta.
#include "cache/disk_cache.hpp"
#include "cache/entry_files.hpp"

#include <memrun/cache_admin.hpp>
#include <memrun/context.hpp>
#include <memrun/status.hpp>

#include "support/temp_dir.hpp"

#include <gtest/gtest.h>

#include <sys/stat.h>

#include <filesystem>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

using memrun::internal::DiskCache;
namespace fs = std::filesystem;
using memrun::test::files_under;
using memrun::test::TempDir;

namespace {

constexpr uint64_t kChunk = 64 << 10;
constexpr uint64_t kSize = 10 * kChunk + 100;  // 11 chunks, the last of 100 bytes
const std::string kUrl = "https://example.test/object?X-Amz-Signature=secret";
const DiskCache::Version kV1{"\"v1\"", kSize, kChunk};

// Byte i of the object is i % 251; `salt` makes another version of it.
std::string object_bytes(uint64_t offset, uint64_t length, int salt = 0) {
  std::string out(length, '\0');
  for (uint64_t i = 0; i < length; ++i) out[i] = static_cast<char>((offset + i + salt) % 251);
  return out;
}

std::string chunk_of(uint64_t index, int salt = 0) {
  const uint64_t offset = index * kChunk;
  return object_bytes(offset, std::min(kChunk, kSize - offset), salt);
}

std::string text(const memrun::Blob& b) { return std::string(b.view()); }

// Disk blocks the file takes, in bytes.
uint64_t allocated(const fs::path& path) {
  struct stat st {};
  return ::stat(path.c_str(), &st) == 0 ? static_cast<uint64_t>(st.st_blocks) * 512 : 0;
}

}  // namespace

// Chunks land in one sparse file; a range is served only when every chunk
// under it is held, as a slice of the one mapping (across chunks too); the
// whole object is no hit until the last chunk is in, then a mapping of that
// same file.
TEST(PartialEntry, OneSparseFileHoldsTheChunksAndServesRangesOfWhatItHolds) {
  TempDir dir("memrun-partial");
  DiskCache cache({dir.path, 100 * kChunk});
  ASSERT_TRUE(cache.put_chunk(kUrl, kV1, 3, chunk_of(3)));
  ASSERT_TRUE(cache.put_chunk(kUrl, kV1, 4, chunk_of(4)));
  ASSERT_TRUE(cache.put_chunk(kUrl, kV1, 4, chunk_of(4))) << "held already";
  ASSERT_EQ(cache.version(kUrl), kV1);

  auto across = cache.get_range(kUrl, kV1, 3 * kChunk + 10, kChunk + 20);
  ASSERT_TRUE(across);
  EXPECT_EQ(across->tier(), memrun::Tier::kDisk);
  EXPECT_EQ(text(*across), object_bytes(3 * kChunk + 10, kChunk + 20));
  auto inside = cache.get_range(kUrl, kV1, 4 * kChunk, 5);
  ASSERT_TRUE(inside);
  EXPECT_EQ(inside->data(), across->data() + kChunk - 10) << "both slices of one mapping";
  EXPECT_FALSE(cache.get_range(kUrl, kV1, 4 * kChunk, kChunk + 1)) << "chunk 5 is not held";
  EXPECT_FALSE(cache.get_range(kUrl, kV1, 0, 1));
  EXPECT_FALSE(cache.get_range(kUrl, DiskCache::Version{"\"v2\"", kSize, kChunk}, 3 * kChunk, 1));
  EXPECT_FALSE(cache.get_range(kUrl, DiskCache::Version{"\"v1\"", kSize, 2 * kChunk}, 3 * kChunk, 1));
  EXPECT_FALSE(cache.get(kUrl)) << "not whole yet";

  const auto data = files_under(dir.path, ".data");
  ASSERT_EQ(data.size(), 1u);
  EXPECT_EQ(fs::file_size(data[0]), kSize);
  EXPECT_LT(allocated(data[0]), 4 * kChunk) << "sparse: only the chunks held take blocks";
  EXPECT_EQ(files_under(dir.path, ".meta").size(), 1u);
  EXPECT_EQ(cache.stats().bytes, 2 * kChunk) << "charged for the chunks held";
  EXPECT_EQ(cache.stats().entries, 1u);

  for (uint64_t i = 0; i < 11; ++i) ASSERT_TRUE(cache.put_chunk(kUrl, kV1, i, chunk_of(i)));
  auto whole = cache.get(kUrl);
  ASSERT_TRUE(whole);
  EXPECT_EQ(text(*whole), object_bytes(0, kSize));
  EXPECT_EQ(whole->data() + 3 * kChunk + 10, across->data()) << "the same mapping, no copy";
  EXPECT_EQ(cache.stats().bytes, kSize);
  EXPECT_EQ(files_under(dir.path, ".data").size(), 1u);
}

// A restart keeps the chunks held and the version; each is checked on its
// first read, and a corrupted one drops the entry instead of being served.
TEST(PartialEntry, ARestartKeepsTheChunksHeldAndChecksThemOnFirstRead) {
  TempDir dir("memrun-partial");
  {
    DiskCache cache({dir.path, 100 * kChunk});
    for (uint64_t i : {1, 2, 7}) ASSERT_TRUE(cache.put_chunk(kUrl, kV1, i, chunk_of(i)));
  }
  {
    DiskCache cache({dir.path, 100 * kChunk});
    EXPECT_EQ(cache.version(kUrl), kV1);
    EXPECT_EQ(cache.stats().bytes, 3 * kChunk);
    auto r = cache.get_range(kUrl, kV1, kChunk, 2 * kChunk);
    ASSERT_TRUE(r);
    EXPECT_EQ(text(*r), object_bytes(kChunk, 2 * kChunk));
    EXPECT_FALSE(cache.get_range(kUrl, kV1, 3 * kChunk, 1));
    // More chunks after the restart join the same entry.
    ASSERT_TRUE(cache.put_chunk(kUrl, kV1, 3, chunk_of(3)));
    EXPECT_EQ(text(*cache.get_range(kUrl, kV1, kChunk, 3 * kChunk)), object_bytes(kChunk, 3 * kChunk));
  }
  // One byte of chunk 7, behind the cache's back.
  {
    std::fstream io(files_under(dir.path, ".data")[0], std::ios::in | std::ios::out | std::ios::binary);
    io.seekp(static_cast<std::streamoff>(7 * kChunk + 9));
    io.put('\x7f');
  }
  DiskCache cache({dir.path, 100 * kChunk});
  EXPECT_EQ(text(*cache.get_range(kUrl, kV1, 3 * kChunk, 5)), object_bytes(3 * kChunk, 5))
      << "the chunk written after the first restart was kept too";
  try {
    cache.get_range(kUrl, kV1, 7 * kChunk, 100);
    ADD_FAILURE() << "a corrupted chunk was served";
  } catch (const memrun::Error& e) {
    EXPECT_EQ(e.code(), memrun::Code::kUnavailable) << e.what();
  }
  EXPECT_TRUE(cache.drop_if_corrupt(kUrl));
  EXPECT_FALSE(cache.version(kUrl));
  EXPECT_EQ(cache.stats().corrupt_dropped, 1u);
  EXPECT_TRUE(files_under(dir.path, ".data").empty());
}

// Another version replaces the entry (nothing of the old one is served
// under the new version); an entry written whole takes no chunk; eviction
// drops a partial entry whole and frees what it held.
TEST(PartialEntry, AnotherVersionReplacesItAndEvictionDropsItWhole) {
  TempDir dir("memrun-partial");
  DiskCache cache({dir.path, 5 * kChunk});
  ASSERT_TRUE(cache.put_chunk(kUrl, kV1, 0, chunk_of(0)));
  ASSERT_TRUE(cache.put_chunk(kUrl, kV1, 1, chunk_of(1)));
  const DiskCache::Version v2{"\"v2\"", kSize, kChunk};
  ASSERT_TRUE(cache.put_chunk(kUrl, v2, 1, chunk_of(1, 7)));
  EXPECT_EQ(cache.version(kUrl), v2);
  EXPECT_FALSE(cache.get_range(kUrl, kV1, 0, 1));
  EXPECT_FALSE(cache.get_range(kUrl, v2, 0, 1)) << "chunk 0 of v1 is gone with its entry";
  EXPECT_EQ(text(*cache.get_range(kUrl, v2, kChunk, 10)), object_bytes(kChunk, 10, 7));
  EXPECT_EQ(cache.stats().bytes, kChunk);

  // A version in use (a Blob maps it) is not replaced: the chunk is not stored.
  auto held = cache.get_range(kUrl, v2, kChunk, 10);
  EXPECT_FALSE(cache.put_chunk(kUrl, kV1, 0, chunk_of(0)));
  EXPECT_EQ(cache.version(kUrl), v2);
  held.reset();

  ASSERT_TRUE(cache.put("https://example.test/whole", std::string(kChunk, 'w')));
  EXPECT_FALSE(cache.put_chunk("https://example.test/whole", kV1, 0, chunk_of(0)));
  EXPECT_FALSE(cache.version("https://example.test/whole"));

  // Room for 5 chunks: 5 of another object evict the partial one, whole.
  const std::string other = "https://example.test/other";
  for (uint64_t i = 0; i < 5; ++i) ASSERT_TRUE(cache.put_chunk(other, kV1, i, chunk_of(i)));
  EXPECT_FALSE(cache.version(kUrl));
  EXPECT_LE(cache.stats().bytes, 5 * kChunk);
  EXPECT_EQ(cache.stats().evictions, 2u) << "the partial entry and the whole one";
  EXPECT_EQ(files_under(dir.path, ".data").size(), 1u);
}

// Chunks of one object written at once by several threads all land, and
// the meta lists every one of them after a restart.
TEST(PartialEntry, ChunksWrittenInParallelAreAllListedInTheMeta) {
  TempDir dir("memrun-partial");
  {
    DiskCache cache({dir.path, 100 * kChunk});
    std::vector<std::thread> threads;
    for (uint64_t i = 0; i < 11; ++i)
      threads.emplace_back([&, i] { EXPECT_TRUE(cache.put_chunk(kUrl, kV1, i, chunk_of(i))); });
    for (auto& t : threads) t.join();
  }
  DiskCache cache({dir.path, 100 * kChunk});
  auto whole = cache.get(kUrl);
  ASSERT_TRUE(whole) << "every chunk listed";
  EXPECT_EQ(text(*whole), object_bytes(0, kSize));
  const auto listed = memrun::CacheDirectory(dir.path).list();
  ASSERT_EQ(listed.size(), 1u);
  EXPECT_EQ(listed[0].chunks_held, 11u);
}

// `memrun cache` sees what a partial entry holds, checks only those chunks,
// and the meta keeps no secret of the URL.
TEST(PartialEntry, TheOperatorsViewShowsAndChecksTheChunksHeld) {
  TempDir dir("memrun-partial");
  {
    DiskCache cache({dir.path, 100 * kChunk});
    for (uint64_t i : {0, 10}) ASSERT_TRUE(cache.put_chunk(kUrl, kV1, i, chunk_of(i)));
  }
  memrun::CacheDirectory admin(dir.path);
  const auto listed = admin.list();
  ASSERT_EQ(listed.size(), 1u);
  EXPECT_EQ(listed[0].size, kSize);
  EXPECT_EQ(listed[0].chunks, 11u);
  EXPECT_EQ(listed[0].chunks_held, 2u);
  EXPECT_EQ(listed[0].stored, kChunk + 100);
  EXPECT_EQ(admin.stats().bytes, kChunk + 100);
  EXPECT_EQ(listed[0].url.find("secret"), std::string::npos) << listed[0].url;
  std::ifstream meta(files_under(dir.path, ".meta")[0]);
  const std::string m((std::istreambuf_iterator<char>(meta)), std::istreambuf_iterator<char>());
  EXPECT_EQ(m.find("secret"), std::string::npos) << m;
  auto results = admin.verify({});
  ASSERT_EQ(results.size(), 1u);
  EXPECT_EQ(results[0].status, memrun::CacheVerifyResult::Status::kOk) << results[0].problem;
  {
    std::fstream io(files_under(dir.path, ".data")[0], std::ios::in | std::ios::out | std::ios::binary);
    io.seekp(static_cast<std::streamoff>(10 * kChunk + 3));
    io.put('\x01');
  }
  results = admin.verify({});
  ASSERT_EQ(results.size(), 1u);
  EXPECT_EQ(results[0].status, memrun::CacheVerifyResult::Status::kCorrupt);
  EXPECT_EQ(results[0].bad_offset, 10 * kChunk);
}

// Bad calls store nothing: a chunk of the wrong length, an index past the
// end, a chunk size of zero.
TEST(PartialEntry, AChunkThatDoesNotFitItsVersionIsNotStored) {
  TempDir dir("memrun-partial");
  DiskCache cache({dir.path, 100 * kChunk});
  EXPECT_FALSE(cache.put_chunk(kUrl, kV1, 0, chunk_of(0).substr(1)));
  EXPECT_FALSE(cache.put_chunk(kUrl, kV1, 11, "x"));
  EXPECT_FALSE(cache.put_chunk(kUrl, DiskCache::Version{"", kSize, 0}, 0, chunk_of(0)));
  EXPECT_FALSE(cache.version(kUrl));
  EXPECT_TRUE(files_under(dir.path, ".data").empty());
  EXPECT_FALSE(cache.get_range(kUrl, kV1, kSize, 1));
}
