// CacheDirectory and DirLock over directories a real DiskCache wrote.
#include <memrun/cache_admin.hpp>

#include "cache/dir_lock.hpp"
#include "cache/disk_cache.hpp"
#include "cache/entry_files.hpp"
#include "core/digest.hpp"

#include "support/temp_dir.hpp"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <functional>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

using memrun::CacheDirectory;
using memrun::CacheVerifyResult;
using memrun::internal::DirLock;
using memrun::internal::DiskCache;
using memrun::test::TempDir;
namespace fs = std::filesystem;

namespace {

constexpr uint64_t kMiB = 1 << 20;
constexpr size_t kChunk = 1024;

std::string data_of(const std::string& dir, const std::string& url) {
  return memrun::internal::entry_data_path(dir, memrun::internal::sha256_hex(url));
}
std::string meta_of(const std::string& dir, const std::string& url) {
  return memrun::internal::entry_meta_path(dir, memrun::internal::sha256_hex(url));
}
std::string shard_of(const std::string& dir, const std::string& url) {
  return fs::path(data_of(dir, url)).parent_path().string();
}

// Commits within one test land in the same few milliseconds; an explicit age
// makes "oldest first" something to check rather than a tie.
void set_committed(const std::string& dir, const std::string& url, int seconds_ago) {
  fs::last_write_time(meta_of(dir, url), fs::file_time_type::clock::now() - std::chrono::seconds(seconds_ago));
}

// Writes `urls` through a real DiskCache (then closed), each `size` bytes,
// the first the oldest.
void fill_cache(const std::string& dir, const std::vector<std::string>& urls, size_t size) {
  {
    DiskCache cache({dir, 64 * kMiB, DiskCache::Policy::kSieve, kChunk});
    for (const auto& url : urls) ASSERT_TRUE(cache.put(url, std::string(size, url.back())));
  }
  for (size_t i = 0; i < urls.size(); ++i) set_committed(dir, urls[i], static_cast<int>(100 * (urls.size() - i)));
}

std::vector<std::string> urls_of(const std::vector<memrun::CacheEntryInfo>& entries) {
  std::vector<std::string> out;
  for (const auto& e : entries) out.push_back(e.url);
  return out;
}

void write_file(const std::string& path, const std::string& text) { std::ofstream(path, std::ios::binary) << text; }

}  // namespace

TEST(DirLock, ExcludesASecondHolderEvenInOneProcessAndNamesThePid) {
  TempDir dir("memrun-lock");
  std::optional<DirLock> first(dir.path);
  ASSERT_TRUE(first->held()) << first->error();
  DirLock second(dir.path);
  EXPECT_EQ(second.state(), DirLock::State::kInUse);
  EXPECT_EQ(second.holder(), ::getpid());
  first.reset();
  DirLock third(dir.path);
  EXPECT_TRUE(third.held()) << "released with its holder";
}

TEST(DirLock, HolderOfLooksWithoutTakingTheLock) {
  TempDir dir("memrun-lock");
  EXPECT_EQ(DirLock::holder_of(dir.path), std::nullopt) << "no lock file yet";
  { DirLock once(dir.path); }
  EXPECT_EQ(DirLock::holder_of(dir.path), std::nullopt) << "a lock file nobody holds";
  DirLock held(dir.path);
  ASSERT_TRUE(held.held());
  EXPECT_EQ(DirLock::holder_of(dir.path), ::getpid());
  EXPECT_EQ(DirLock::holder_of(dir.path), ::getpid()) << "looking did not release it";
  EXPECT_EQ(DirLock(dir.path).state(), DirLock::State::kInUse);
}

TEST(DirLock, ADiskCacheOnAHeldDirectoryIsOffAndSaysWhoHoldsIt) {
  TempDir dir("memrun-lock");
  DirLock other(dir.path);
  ASSERT_TRUE(other.held());
  DiskCache cache({dir.path, 10 * kMiB});
  EXPECT_FALSE(cache.enabled());
  EXPECT_TRUE(cache.stats().dir_in_use);
  EXPECT_EQ(cache.stats().dir_holder_pid, ::getpid());
  EXPECT_FALSE(cache.put("file:///a", "a"));

  DiskCache first({dir.path + "/own", 10 * kMiB});
  ASSERT_TRUE(first.enabled());
  DiskCache second({dir.path + "/own", 10 * kMiB});
  EXPECT_FALSE(second.enabled()) << "two caches on one directory";
}

TEST(CacheDirectory, ListsAndCountsWhatADiskCacheWroteAndWhatCrashesLeft) {
  TempDir dir("memrun-admin");
  const std::string secret = "https://user:hunter2@example.com/b";
  fill_cache(dir.path, {"file:///a", secret, "file:///c"}, 3000);
  write_file(data_of(dir.path, "file:///a") + ".77.1.tmp", "partial");
  write_file(shard_of(dir.path, "file:///c") + "/" + std::string(64, 'f') + ".data", "uncommitted");
  write_file(dir.path + "/inflight.0.journal", "not a cache file");

  CacheDirectory cache(dir.path);
  const auto entries = cache.list();
  EXPECT_EQ(urls_of(entries), (std::vector<std::string>{"file:///a", "https://***@example.com/b", "file:///c"}))
      << "oldest first, the secret never written down";
  EXPECT_EQ(entries[1].size, 3000u);
  EXPECT_EQ(entries[1].chunks, 3u);
  EXPECT_EQ(entries[1].data_path, data_of(dir.path, secret));
  EXPECT_LT(entries[0].modified, entries[1].modified);

  auto s = cache.stats();
  EXPECT_EQ(s.entries, 3u);
  EXPECT_EQ(s.bytes, 9000u);
  EXPECT_EQ(s.temp_files, 1u);
  EXPECT_EQ(s.temp_bytes, 7u);
  EXPECT_EQ(s.orphans, 1u);
  EXPECT_EQ(s.holder_pid, std::nullopt);
  {
    DiskCache worker({dir.path, 64 * kMiB});  // removes the leftovers as it opens
    s = cache.stats();
    EXPECT_EQ(s.holder_pid, ::getpid());
    EXPECT_EQ(s.temp_files, 0u);
    EXPECT_EQ(s.orphans, 0u);
    EXPECT_EQ(cache.list().size(), 3u) << "reading needs no lock";
  }
  EXPECT_THROW(CacheDirectory(dir.path + "/none"), memrun::Error);
}

TEST(CacheDirectory, VerifyFindsAFlippedByteInItsChunkAndDropRemovesTheEntry) {
  TempDir dir("memrun-admin");
  fill_cache(dir.path, {"file:///good", "file:///bad"}, 4000);
  {
    std::fstream f(data_of(dir.path, "file:///bad"), std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(2500);
    f.put('!');  // in the third chunk: bytes 2048-3071
  }
  CacheDirectory cache(dir.path);
  uint64_t last_done = 0, last_total = 0;
  auto results = cache.verify({.progress = [&](uint64_t done, uint64_t total) {
    EXPECT_GE(done, last_done);
    last_done = done;
    last_total = total;
  }});
  EXPECT_EQ(last_done, 8000u);
  EXPECT_EQ(last_total, 8000u);
  ASSERT_EQ(results.size(), 2u);
  EXPECT_EQ(results[0].status, CacheVerifyResult::Status::kOk);
  EXPECT_EQ(results[1].status, CacheVerifyResult::Status::kCorrupt);
  EXPECT_EQ(results[1].url, "file:///bad");
  EXPECT_EQ(results[1].bad_offset, 2048u);
  EXPECT_EQ(results[1].bad_length, 1024u);
  EXPECT_NE(results[1].problem.find("bytes 2048-3071"), std::string::npos) << results[1].problem;
  EXPECT_FALSE(results[1].dropped);
  EXPECT_TRUE(fs::exists(meta_of(dir.path, "file:///bad"))) << "verify without drop changes nothing";

  results = cache.verify({.drop = true});
  ASSERT_EQ(results.size(), 2u);
  EXPECT_TRUE(results[1].dropped);
  EXPECT_FALSE(fs::exists(meta_of(dir.path, "file:///bad")));
  EXPECT_FALSE(fs::exists(data_of(dir.path, "file:///bad")));
  EXPECT_EQ(urls_of(cache.list()), std::vector<std::string>{"file:///good"});
  results = cache.verify({});
  ASSERT_EQ(results.size(), 1u);
  EXPECT_EQ(results[0].status, CacheVerifyResult::Status::kOk);
}

namespace {

// file:///a (100 bytes) cached in `dir`, its meta then claiming `format`;
// the meta's path.
std::string cached_as_format(const std::string& dir, int format) {
  fill_cache(dir, {"file:///a"}, 100);
  const std::string meta = meta_of(dir, "file:///a");
  std::stringstream in;
  in << std::ifstream(meta).rdbuf();
  std::string text = in.str();
  const std::string current = "\"format\":" + std::to_string(memrun::internal::kEntryFormat);
  text.replace(text.find(current), current.size(), "\"format\":" + std::to_string(format));
  write_file(meta, text);
  return meta;
}

}  // namespace

// Format 1 kept the URL in clear, credentials and all: such a meta is
// unreadable, so the first worker to start removes it.
TEST(CacheDirectory, AFormat1MetaWithTheUrlInClearIsUnreadable) {
  TempDir dir("memrun-admin");
  const std::string meta = cached_as_format(dir.path, 1);

  CacheDirectory cache(dir.path);
  EXPECT_TRUE(cache.list().empty());
  EXPECT_EQ(cache.stats().orphans, 1u);
  auto results = cache.verify({});
  ASSERT_EQ(results.size(), 1u);
  EXPECT_EQ(results[0].status, CacheVerifyResult::Status::kUnreadableMeta);
  EXPECT_EQ(results[0].url, "");
  EXPECT_EQ(results[0].data_path, data_of(dir.path, "file:///a"));
  EXPECT_NE(results[0].problem.find("meta format 1"), std::string::npos) << results[0].problem;
  results = cache.verify({.drop = true});
  EXPECT_TRUE(results[0].dropped);
  EXPECT_FALSE(fs::exists(meta));
}

// Format 2 (before partial entries) is format 3 without them: an entry
// written by the previous release is still served after an upgrade.
TEST(CacheDirectory, AFormat2MetaStillReads) {
  TempDir dir("memrun-admin");
  cached_as_format(dir.path, 2);
  const auto listed = CacheDirectory(dir.path).list();
  ASSERT_EQ(listed.size(), 1u);
  EXPECT_EQ(listed[0].stored, 100u);
  EXPECT_EQ(listed[0].chunks_held, listed[0].chunks);
  memrun::internal::DiskCache cache({dir.path, 1 << 20});
  ASSERT_TRUE(cache.get("file:///a"));
  EXPECT_EQ(cache.get("file:///a")->size(), 100u);
}

TEST(CacheDirectory, EvictToBytesRemovesTheOldestFirst) {
  TempDir dir("memrun-admin");
  fill_cache(dir.path, {"file:///1", "file:///2", "file:///3"}, 1000);
  CacheDirectory cache(dir.path);
  auto r = cache.evict_to_bytes(1500);
  EXPECT_EQ(urls_of(r.removed), (std::vector<std::string>{"file:///1", "file:///2"}));
  EXPECT_EQ(r.bytes_removed, 2000u);
  EXPECT_EQ(r.bytes_left, 1000u);
  EXPECT_EQ(urls_of(cache.list()), std::vector<std::string>{"file:///3"});
  r = cache.evict_to_bytes(1000);
  EXPECT_TRUE(r.removed.empty()) << "already small enough";

  DiskCache reopened({dir.path, 64 * kMiB});
  EXPECT_EQ(reopened.stats().entries, 1u) << "a worker opening it later finds what is left";
  EXPECT_EQ(reopened.get("file:///3")->view(), std::string(1000, '3'));
}

TEST(CacheDirectory, EvictUrlsAndAllRemoveEntriesAndLeftovers) {
  TempDir dir("memrun-admin");
  fill_cache(dir.path, {"file:///1", "file:///2", "file:///3"}, 10);
  CacheDirectory cache(dir.path);
  auto r = cache.evict_urls({"file:///3", "file:///nope", "file:///1"});
  EXPECT_EQ(urls_of(r.removed), (std::vector<std::string>{"file:///1", "file:///3"}));
  EXPECT_EQ(r.not_found, std::vector<std::string>{"file:///nope"});
  EXPECT_EQ(r.bytes_left, 10u);
  write_file(data_of(dir.path, "file:///1") + ".9.9.tmp", "partial");
  r = cache.evict_all();
  EXPECT_EQ(urls_of(r.removed), std::vector<std::string>{"file:///2"});
  EXPECT_EQ(r.leftovers_removed, 1u);
  const auto s = cache.stats();
  EXPECT_EQ(s.entries + s.temp_files + s.orphans, 0u);
}

TEST(CacheDirectory, ChangesAreRefusedNamingThePidWhileADiskCacheHoldsTheDirectory) {
  TempDir dir("memrun-admin");
  fill_cache(dir.path, {"file:///1"}, 10);
  CacheDirectory cache(dir.path);
  DiskCache worker({dir.path, 64 * kMiB});
  ASSERT_TRUE(worker.enabled());
  const std::string pid = "pid " + std::to_string(::getpid());
  auto refused = [&](const std::function<void()>& change) {
    try {
      change();
      ADD_FAILURE() << "not refused";
    } catch (const memrun::Error& e) {
      EXPECT_EQ(e.code(), memrun::Code::kUnavailable);
      EXPECT_NE(std::string(e.what()).find(pid), std::string::npos) << e.what();
    }
  };
  refused([&] { cache.evict_all(); });
  refused([&] { cache.evict_to_bytes(0); });
  refused([&] { cache.evict_urls({"file:///1"}); });
  refused([&] { cache.verify({.drop = true}); });
  EXPECT_EQ(cache.verify({}).size(), 1u) << "a read-only check runs beside the worker";
  EXPECT_TRUE(worker.get("file:///1")) << "nothing was removed";
}

// Found with tests/fuzz/cache_entry.cc: the meta's numbers were converted,
// not read, so a chunk of 1024.9 read as 1024, a checksum of -1 as 2^64-1,
// and a size of 1e300 was undefined behaviour. Such a meta is not ours.
TEST(CacheDirectory, AMetaWhoseNumbersAreNotTheIntegersWrittenIsUnreadable) {
  TempDir dir("memrun-admin");
  fill_cache(dir.path, {"file:///a"}, 100);
  const std::string meta = meta_of(dir.path, "file:///a");
  const std::string hash = memrun::internal::sha256_hex("file:///a");
  std::stringstream in;
  in << std::ifstream(meta).rdbuf();
  const auto good = nlohmann::json::parse(in.str());
  ASSERT_EQ(memrun::internal::read_entry_meta(dir.path, hash).status, memrun::internal::MetaRead::Status::kOk);
  const std::vector<std::pair<nlohmann::json::json_pointer, nlohmann::json>> edits = {
      {"/chunk"_json_pointer, 1024.9}, {"/xxh3/0"_json_pointer, -1}, {"/size"_json_pointer, 100.0},
      {"/size"_json_pointer, 1e300}, {"/format"_json_pointer, 1.5}};
  for (const auto& [where, value] : edits) {
    nlohmann::json bad = good;
    bad[where] = value;
    write_file(meta, bad.dump());
    EXPECT_EQ(memrun::internal::read_entry_meta(dir.path, hash).status, memrun::internal::MetaRead::Status::kBad)
        << bad.dump();
  }
}
