#include <memrun/context.hpp>

#include "context/context_access.hpp"
#include "core/digest.hpp"
#include "support/wait.hpp"

#include <gtest/gtest.h>
#include <vector>
#include <filesystem>

#include <atomic>
#include <cstdio>
#include <fstream>
#include <thread>

namespace {
// file:// reads only under its roots; these tests' files are in the test temp dir.
memrun::SharedWorkerContext::Options under_temp(memrun::SharedWorkerContext::Options o) {
  o.file_roots = {testing::TempDir()};
  return o;
}
}  // namespace

TEST(ObjectStore, SetGetAndWrongType) {
  memrun::SharedWorkerContext ctx(under_temp({"test", 1 << 20, ""}));
  ctx.set_object("v", std::make_shared<std::vector<int>>(3, 7), 12);
  EXPECT_EQ(ctx.get_object<std::vector<int>>("v")->at(2), 7);
  try {
    ctx.get_object<std::string>("v");
    FAIL();
  } catch (const memrun::Error& e) {
    EXPECT_EQ(e.code(), memrun::Code::kTypeMismatch);
  }
  try {
    ctx.get_object<std::string>("absent");
    FAIL();
  } catch (const memrun::Error& e) {
    EXPECT_EQ(e.code(), memrun::Code::kNotFound);
  }
}

TEST(ObjectStore, ReplacedObjectStaysValidForHolders) {
  memrun::SharedWorkerContext ctx(under_temp({"test", 1 << 20, ""}));
  ctx.set_object("s", std::make_shared<std::string>("old"), 3);
  auto held = ctx.get_object<std::string>("s");
  ctx.set_object("s", std::make_shared<std::string>("new"), 3);
  EXPECT_EQ(*held, "old");
  EXPECT_EQ(*ctx.get_object<std::string>("s"), "new");
  EXPECT_EQ(ctx.stats().bytes, 3u);
}

TEST(ObjectStore, EvictsLeastRecentlyUsedButNeverPinned) {
  memrun::SharedWorkerContext ctx({"test", 100, ""});
  memrun::internal::ContextAccess::begin_init(ctx);
  ctx.set_object("pinned", std::make_shared<int>(1), 40);
  memrun::internal::ContextAccess::end_init(ctx);
  ctx.set_object("a", std::make_shared<int>(2), 30);
  ctx.set_object("b", std::make_shared<int>(3), 30);
  ctx.get_object<int>("a");                       // a is now more recent than b
  ctx.set_object("c", std::make_shared<int>(4), 30);  // 130 > 100: evict b
  EXPECT_NO_THROW(ctx.get_object<int>("a"));
  EXPECT_NO_THROW(ctx.get_object<int>("pinned"));
  EXPECT_THROW(ctx.get_object<int>("b"), memrun::Error);
  EXPECT_EQ(ctx.stats().evictions, 1u);
  EXPECT_LE(ctx.stats().bytes, 100u);
  // Larger than what the pinned objects leave: refused, nothing evicted.
  EXPECT_THROW(ctx.set_object("huge", std::make_shared<int>(5), 61), memrun::Error);
  EXPECT_EQ(ctx.stats().pinned_bytes, 40u);
}

TEST(ObjectStore, ConcurrentSetGetStaysWithinBudget) {
  memrun::SharedWorkerContext ctx({"test", 1000, ""});
  std::vector<std::thread> threads;
  std::atomic<int> errors{0};
  for (int t = 0; t < 8; ++t)
    threads.emplace_back([&, t] {
      for (int i = 0; i < 2000; ++i) {
        std::string name = "k" + std::to_string((i * 7 + t) % 50);
        ctx.set_object(name, std::make_shared<int>(i), 37);
        try {
          ctx.get_object<int>(name);
        } catch (const memrun::Error& e) {
          if (e.code() != memrun::Code::kNotFound) ++errors;  // evicted meanwhile is fine
        }
      }
    });
  for (auto& th : threads) th.join();
  EXPECT_EQ(errors.load(), 0);
  EXPECT_LE(ctx.stats().bytes, 1000u);
}

TEST(GetOrFetch, FileUrlThenRamHit) {
  std::string path = testing::TempDir() + "/memrun_blob_test.bin";
  { std::ofstream(path) << "hello blob"; }
  memrun::SharedWorkerContext ctx(under_temp({"test", 1 << 20, ""}));
  auto first = ctx.get_or_fetch("file://" + path);
  EXPECT_EQ(first.view(), "hello blob");
  EXPECT_EQ(first.tier(), memrun::Tier::kRemote);
  auto second = ctx.get_or_fetch("file://" + path);
  EXPECT_EQ(second.tier(), memrun::Tier::kRam);
  EXPECT_EQ(second.data(), first.data());  // same bytes, no copy
  std::remove(path.c_str());
}

// Fetches run on threads of their own; once the context is destroyed none
// of them is left, not even one still in its thread-exit cleanup (a detached
// one could overlap the process's exit: TSAN saw OpenSSL's cleanup race it).
TEST(GetOrFetch, NoFetchThreadOutlivesTheContext) {
  const auto threads = memrun::test::threads_in_process;
  std::string path = testing::TempDir() + "/memrun_flight_threads.bin";
  { std::ofstream(path) << "bytes"; }
  const size_t before = memrun::test::threads_baseline();
  for (int i = 0; i < 50; ++i) {
    {
      memrun::SharedWorkerContext ctx(under_temp({"test", 1 << 20, ""}));
      EXPECT_EQ(ctx.get_or_fetch("file://" + path).view(), "bytes");
    }
    ASSERT_LE(threads(), before) << "after context " << i;  // LE: a thread of an earlier test may end meanwhile
  }
  std::remove(path.c_str());
}

// The issue-15 pattern: each request fetches a dataset, decodes it and keeps
// the decoded object; the raw bytes are not read again. Before raw blobs were
// spare, dataset b's raw bytes pushed dataset a's decoded object out (LRU:
// raw a, decoded a, raw b, decoded b in a budget of two and a half).
TEST(GetOrFetch, RawBlobsNeverPushDecodedObjectsOut) {
  const std::string root = testing::TempDir() + "/memrun_spare_blobs";
  std::filesystem::remove_all(root);
  std::filesystem::create_directories(root);
  memrun::SharedWorkerContext ctx(under_temp({"test", 100, ""}));
  const auto use = [&](const std::string& name) {
    const std::string path = root + "/" + name;
    if (!std::filesystem::exists(path)) std::ofstream(path) << std::string(40, name[0]);
    try {
      return ctx.get_object<std::string>("decoded:" + name)->size() == 40;  // a hit
    } catch (const memrun::Error& e) {
      EXPECT_EQ(e.code(), memrun::Code::kNotFound);
    }
    const memrun::Blob raw = ctx.get_or_fetch("file://" + path);
    ctx.set_object("decoded:" + name, std::make_shared<std::string>(raw.view()), raw.size());
    return false;
  };
  EXPECT_FALSE(use("a"));
  EXPECT_FALSE(use("b"));
  EXPECT_TRUE(use("a")) << "b's raw bytes evicted a's decoded object";
  EXPECT_TRUE(use("b"));
  EXPECT_LE(ctx.stats().bytes, 100u);
  // While decoded objects leave room, the raw bytes stay in RAM.
  memrun::SharedWorkerContext roomy(under_temp({"test", 1000, ""}));
  roomy.get_or_fetch("file://" + root + "/a");
  EXPECT_EQ(roomy.get_or_fetch("file://" + root + "/a").tier(), memrun::Tier::kRam);
  std::filesystem::remove_all(root);
}

TEST(GetOrFetch, ExpectedDigestIsCheckedBeforeAnythingIsCached) {
  std::string path = testing::TempDir() + "/memrun_digest_test.bin";
  { std::ofstream(path) << "hello blob"; }
  // sha256("hello blob"), computed independently with sha256sum.
  const std::string good = "file://" + path + "#sha256=" + HELLO_BLOB_SHA256;
  const std::string bad = "file://" + path + "#sha256=" + std::string(64, '0');
  memrun::SharedWorkerContext ctx(under_temp({"test", 1 << 20, ""}));
  try {
    ctx.get_or_fetch(bad);
    ADD_FAILURE() << "a wrong digest was accepted";
  } catch (const memrun::Error& e) {
    EXPECT_EQ(e.code(), memrun::Code::kInvalidArgument);
    EXPECT_NE(std::string(e.what()).find("expected 000"), std::string::npos) << e.what();
  }
  EXPECT_EQ(ctx.stats().objects, 0u) << "the mismatching bytes were cached";
  EXPECT_EQ(ctx.get_or_fetch(good).tier(), memrun::Tier::kRemote);
  EXPECT_EQ(ctx.get_or_fetch(good).tier(), memrun::Tier::kRam);
  EXPECT_THROW(ctx.get_or_fetch(bad), memrun::Error) << "a RAM hit is checked too";
  EXPECT_THROW(ctx.get_or_fetch("file://" + path + "#md5=abc"), memrun::Error);
  std::remove(path.c_str());
}

TEST(GetOrFetch, RemoteThenRamAndAfterARestartFromDisk) {
  const std::string root = testing::TempDir() + "/memrun_tiers";
  std::filesystem::remove_all(root);
  std::filesystem::create_directories(root);
  const std::string path = root + "/source.bin";
  { std::ofstream(path) << std::string(100000, 'z'); }
  const std::string url = "file://" + path;
  const auto o = under_temp({"test", 1 << 20, "", root + "/cache", 64 << 20});
  {
    memrun::SharedWorkerContext ctx(o);
    std::vector<std::thread> threads;
    std::atomic<int> ok{0};
    for (int i = 0; i < 16; ++i)
      threads.emplace_back([&] { ok += ctx.get_or_fetch(url).size() == 100000; });
    for (auto& t : threads) t.join();
    EXPECT_EQ(ok.load(), 16);
    auto s = ctx.cache_stats();
    EXPECT_EQ(s.remote_fetches, 1u) << "single flight: one fetch for 16 callers";
    EXPECT_EQ(s.disk.writes, 1u) << "and one disk write";
    EXPECT_EQ(ctx.get_or_fetch(url).tier(), memrun::Tier::kRam);
  }
  std::filesystem::remove(path);  // the source is gone: only the disk tier can answer
  memrun::SharedWorkerContext restarted(o);
  auto blob = restarted.get_or_fetch(url);
  EXPECT_EQ(blob.tier(), memrun::Tier::kDisk);
  EXPECT_EQ(blob.view(), std::string(100000, 'z'));
  EXPECT_EQ(restarted.get_or_fetch(url).tier(), memrun::Tier::kRam);
  EXPECT_EQ(restarted.cache_stats().disk_hits, 1u);
  std::filesystem::remove_all(root);
}

TEST(GetOrFetch, ACorruptedDiskEntryFailsItsReaderOnceThenIsRefetched) {
  const std::string root = testing::TempDir() + "/memrun_corrupt";
  std::filesystem::remove_all(root);
  std::filesystem::create_directories(root);
  const std::string path = root + "/source.bin";
  const std::string bytes(6 << 20, 'q');
  { std::ofstream(path) << bytes; }
  const std::string url = "file://" + path;
  const auto o = under_temp({"test", 64 << 20, "", root + "/cache", 64 << 20});
  { memrun::SharedWorkerContext(o).get_or_fetch(url); }
  for (const auto& f : std::filesystem::recursive_directory_iterator(root + "/cache"))
    if (f.path().extension() == ".data") {
      std::fstream(f.path(), std::ios::in | std::ios::out | std::ios::binary).put('!');
    }
  memrun::SharedWorkerContext restarted(o);
  auto blob = restarted.get_or_fetch(url);
  EXPECT_EQ(blob.tier(), memrun::Tier::kDisk);
  EXPECT_EQ(static_cast<char>(blob.read(5 << 20, 1)[0]), 'q') << "the second chunk is intact";
  EXPECT_THROW(blob.data(), memrun::Error) << "the first is not";
  auto again = restarted.get_or_fetch(url);
  EXPECT_EQ(again.tier(), memrun::Tier::kRemote) << "dropped from RAM and disk, fetched anew";
  EXPECT_EQ(again.view(), bytes);
  EXPECT_EQ(restarted.cache_stats().disk.corrupt_dropped, 1u);
  std::filesystem::remove_all(root);
}

// A caller naming a wrong digest must not fail callers of the same URL that
// named none, however their fetches overlap.
TEST(GetOrFetch, ADigestMismatchIsOnlyTheErrorOfWhoNamedTheDigest) {
  const std::string path = testing::TempDir() + "/memrun_digest_flight.bin";
  { std::ofstream(path) << std::string(1 << 20, 'd'); }
  for (int round = 0; round < 20; ++round) {
    memrun::SharedWorkerContext ctx(under_temp({"test", 64 << 20, ""}));
    std::atomic<int> plain_ok{0}, wrong_failed{0};
    std::vector<std::thread> threads;
    for (int i = 0; i < 8; ++i) {
      threads.emplace_back([&] {
        try {
          ctx.get_or_fetch("file://" + path + "#sha256=" + std::string(64, 'a'));
        } catch (const memrun::Error&) {
          ++wrong_failed;
        }
      });
      threads.emplace_back([&] { plain_ok += ctx.get_or_fetch("file://" + path).size() == (1 << 20); });
    }
    for (auto& t : threads) t.join();
    ASSERT_EQ(plain_ok.load(), 8) << "round " << round;
    ASSERT_EQ(wrong_failed.load(), 8) << "round " << round;
  }
  std::remove(path.c_str());
}

// The object changed at its source after it was cached: a caller pinning
// the new digest gets the new bytes, and they replace the cached copy in RAM
// and on disk. A caller pinning a digest that no version has changes nothing.
TEST(GetOrFetch, AStaleCachedCopyIsReplacedOnlyWhenTheSourceHasThePinnedDigest) {
  const std::string root = testing::TempDir() + "/memrun_stale";
  std::filesystem::remove_all(root);
  std::filesystem::create_directories(root);
  const std::string path = root + "/source.bin", url = "file://" + path;
  const std::string v1(300000, '1'), v2(300000, '2');
  auto pinned = [&](const std::string& bytes) { return url + "#sha256=" + memrun::internal::sha256_hex(bytes); };
  { std::ofstream(path) << v1; }
  const auto o = under_temp({"test", 64 << 20, "", root + "/cache", 64 << 20});
  {
    memrun::SharedWorkerContext ctx(o);
    EXPECT_EQ(ctx.get_or_fetch(pinned(v1)).tier(), memrun::Tier::kRemote);
    { std::ofstream(path) << v2; }
    EXPECT_EQ(ctx.get_or_fetch(pinned(v1)).tier(), memrun::Tier::kRam) << "the cached copy serves its digest";
    EXPECT_THROW(ctx.get_or_fetch(url + "#sha256=" + std::string(64, 'e')), memrun::Error);
    EXPECT_EQ(ctx.get_or_fetch(url).view(), v1) << "a wrong digest dropped nothing";
    auto fresh = ctx.get_or_fetch(pinned(v2));
    EXPECT_EQ(fresh.tier(), memrun::Tier::kRemote);
    EXPECT_EQ(fresh.view(), v2);
    EXPECT_EQ(ctx.get_or_fetch(pinned(v2)).tier(), memrun::Tier::kRam);
    EXPECT_EQ(ctx.get_or_fetch(url).view(), v2) << "unpinned callers see the new bytes too";
  }
  std::filesystem::remove(path);
  memrun::SharedWorkerContext restarted(o);
  auto blob = restarted.get_or_fetch(pinned(v2));
  EXPECT_EQ(blob.tier(), memrun::Tier::kDisk) << "the disk entry was replaced as well";
  EXPECT_EQ(blob.view(), v2);
  std::filesystem::remove_all(root);
}

TEST(GetOrFetch, ErrorsAreClassified) {
  memrun::SharedWorkerContext ctx(under_temp({"test", 1 << 20, ""}));
  auto code_of = [&](const std::string& url) {
    try {
      ctx.get_or_fetch(url);
    } catch (const memrun::Error& e) {
      return e.code();
    }
    return memrun::Code::kOk;
  };
  EXPECT_EQ(code_of("file://" + testing::TempDir() + "/nonexistent/memrun/x"), memrun::Code::kNotFound);
  EXPECT_EQ(code_of("file:///nonexistent/memrun/x"), memrun::Code::kInvalidArgument) << "outside the roots";
  EXPECT_EQ(code_of("ftp://x/y"), memrun::Code::kInvalidArgument);
  EXPECT_EQ(code_of("file://relative"), memrun::Code::kInvalidArgument);
  EXPECT_EQ(code_of("http://127.0.0.1:1/x"), memrun::Code::kUnavailable);
}

TEST(UploadResult, WritesAtomicallyUnderTheResultDir) {
  std::string dir = testing::TempDir() + "/memrun_results";
  memrun::SharedWorkerContext ctx(under_temp({"test", 1 << 20, "file://" + dir}));
  std::string url = ctx.upload_result("result bytes", "job/1.out");
  EXPECT_EQ(url, "file://" + dir + "/job/1.out");
  EXPECT_EQ(ctx.get_or_fetch(url).view(), "result bytes");
  EXPECT_THROW(ctx.upload_result("x", "../escape"), memrun::Error);
  EXPECT_THROW(ctx.upload_result("x", "/abs"), memrun::Error);
  memrun::SharedWorkerContext none({"test", 1 << 20, ""});
  EXPECT_THROW(none.upload_result("x", "k"), memrun::Error);
}
