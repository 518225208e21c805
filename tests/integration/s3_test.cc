// The S3 remote tier against s3rver (npm), an S3-compatible server started
// here on 127.0.0.1, with awscli (Debian) as the independent client: what
// memrun uploads, aws reads back, and what aws uploads, memrun fetches.
#include <memrun/context.hpp>
#include <memrun/status.hpp>

#include "support/s3rver.hpp"
#include "support/subprocess.hpp"
#include "support/temp_dir.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>
#include <thread>
#include <vector>

using namespace std::chrono_literals;

namespace {

constexpr const char* kBucket = memrun::test::S3rver::kBucket;

std::string random_bytes(size_t n, unsigned seed) {
  std::mt19937 rng(seed);
  std::string out(n, '\0');
  for (auto& c : out) c = static_cast<char>(rng());
  return out;
}

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

class S3 : public testing::Test {
 protected:
  static void SetUpTestSuite() { s3_ = std::make_unique<memrun::test::S3rver>(); }
  static void TearDownTestSuite() { s3_.reset(); }  // stops s3rver

  std::pair<int, std::string> aws(std::vector<std::string> args) { return s3_->aws(args); }

  static inline std::unique_ptr<memrun::test::S3rver> s3_;
};

TEST_F(S3, UploadResultIsReadBackByAwscli) {
  memrun::SharedWorkerContext ctx({"s3test", 1 << 20, std::string("s3://") + kBucket + "/results"});
  const std::string bytes = random_bytes(3 << 20, 1);
  const std::string url = ctx.upload_result(bytes, "run-1/out.bin");
  EXPECT_EQ(url, std::string("s3://") + kBucket + "/results/run-1/out.bin");
  memrun::test::TempDir scratch("memrun-aws");
  const std::string local = scratch.path + "/out.bin";
  auto [code, out] = aws({"s3", "cp", url, local});
  ASSERT_EQ(code, 0) << out;
  EXPECT_EQ(read_file(local), bytes);
}

TEST_F(S3, ObjectWrittenByAwscliIsFetchedThenServedFromRam) {
  const std::string bytes = random_bytes(5 << 20, 2);
  memrun::test::TempDir scratch("memrun-aws");
  const std::string local = scratch.path + "/in put.bin";
  std::ofstream(local, std::ios::binary) << bytes;
  const std::string url = std::string("s3://") + kBucket + "/data/in put+1.bin";  // key needs encoding
  auto [code, out] = aws({"s3", "cp", local, url});
  ASSERT_EQ(code, 0) << out;

  memrun::SharedWorkerContext ctx({"s3test", 64 << 20, ""});
  memrun::Blob first = ctx.get_or_fetch(url);
  EXPECT_EQ(first.tier(), memrun::Tier::kRemote);
  ASSERT_EQ(first.size(), bytes.size());
  EXPECT_EQ(std::string(reinterpret_cast<const char*>(first.data()), first.size()), bytes);
  EXPECT_EQ(ctx.get_or_fetch(url).tier(), memrun::Tier::kRam);
}

// Endpoint and credentials given in the options (the host's config file)
// win over the environment, which here points at a port nobody serves.
TEST_F(S3, SettingsInTheOptionsWinOverTheEnvironment) {
  const std::string bytes = random_bytes(100000, 3);
  memrun::test::TempDir scratch("memrun-s3-settings");
  std::ofstream(scratch.path + "/x.bin", std::ios::binary) << bytes;
  const std::string url = std::string("s3://") + kBucket + "/settings/x.bin";
  auto [code, out] = aws({"s3", "cp", scratch.path + "/x.bin", url});
  ASSERT_EQ(code, 0) << out;

  ::setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:9", 1);
  memrun::SharedWorkerContext::Options o{"settings", 1 << 20, std::string("s3://") + kBucket + "/results"};
  o.s3 = {s3_->endpoint(), "us-east-1", "S3RVER", "S3RVER", ""};
  memrun::SharedWorkerContext ctx(o);
  const bool fetched = ctx.get_or_fetch(url).view() == bytes;
  const std::string written = ctx.upload_result("result", "r.txt");
  memrun::SharedWorkerContext from_env({"env", 1 << 20, ""});
  memrun::Code env_code = memrun::Code::kOk;
  try {
    from_env.get_or_fetch(url);
  } catch (const memrun::Error& e) {
    env_code = e.code();
  }
  ::setenv("AWS_ENDPOINT_URL", s3_->endpoint().c_str(), 1);
  EXPECT_TRUE(fetched);
  EXPECT_EQ(written, std::string("s3://") + kBucket + "/results/r.txt");
  EXPECT_EQ(env_code, memrun::Code::kUnavailable) << "without settings the environment's endpoint is used";
  auto [cat_code, cat] = aws({"s3", "cp", written, "-"});
  EXPECT_EQ(cat_code, 0) << cat;
  EXPECT_EQ(cat.rfind("result", 0), 0u) << cat;
}

// s3rver accepts any signature (checked: aws with a wrong secret reads an
// object), so signing is proven against AWS's examples and botocore in
// tests/unit/sigv4_test.cc, not here.
TEST_F(S3, LargeObjectArrivesInParallelRangesIntact) {
  const std::string bytes = random_bytes((40 << 20) + 12345, 3);  // 6 parts of 8 MiB, the last one short
  memrun::test::TempDir scratch("memrun-aws");
  const std::string local = scratch.path + "/big.bin";
  std::ofstream(local, std::ios::binary) << bytes;
  const std::string url = std::string("s3://") + kBucket + "/data/big.bin";
  auto [code, out] = aws({"s3", "cp", local, url});
  ASSERT_EQ(code, 0) << out;
  std::atomic<int> reports{0};
  std::atomic<uint64_t> last_done{0}, reported_total{0};
  memrun::test::TempDir cache("memrun-s3-cache");
  // The ranges go straight into the disk entry at their offsets.
  memrun::SharedWorkerContext::Options o{"s3test", 256 << 20, "", cache.path, 256 << 20};
  o.on_progress = [&](const std::string& u, uint64_t done, uint64_t total) {
    EXPECT_EQ(u, url);
    ++reports;
    last_done = std::max<uint64_t>(last_done, done);
    reported_total = total;
  };
  {
    memrun::SharedWorkerContext ctx(o);
    memrun::Blob blob = ctx.get_or_fetch(url);
    ASSERT_EQ(blob.size(), bytes.size());
    EXPECT_EQ(blob.tier(), memrun::Tier::kRemote);
    EXPECT_TRUE(std::equal(bytes.begin(), bytes.end(), reinterpret_cast<const char*>(blob.data())));
    EXPECT_EQ(reports.load(), 6) << "one progress report per part";
    EXPECT_EQ(last_done.load(), bytes.size());
    EXPECT_EQ(reported_total.load(), bytes.size());
    EXPECT_EQ(ctx.cache_stats().disk.writes, 1u);
    EXPECT_EQ(ctx.cache_stats().disk.bytes, bytes.size());
  }
  memrun::SharedWorkerContext restarted(o);
  memrun::Blob again = restarted.get_or_fetch(url);
  EXPECT_EQ(again.tier(), memrun::Tier::kDisk);
  EXPECT_EQ(again.view(), bytes) << "every chunk hashed during the download checks out";

  // A disk tier too small for the object: fetched into memory instead.
  memrun::test::TempDir small("memrun-s3-small");
  memrun::SharedWorkerContext tight({"s3test", 256 << 20, "", small.path, 1 << 20});
  EXPECT_EQ(tight.get_or_fetch(url).view(), bytes);
  EXPECT_EQ(tight.cache_stats().disk.not_cached, 1u);
}

TEST_F(S3, SmallAndPartSizedObjects) {
  memrun::test::TempDir scratch("memrun-aws");
  // (An empty object is the strict-range test's: s3rver mis-answers a range on one.)
  for (size_t size : {size_t{1}, size_t{8} << 20, (size_t{8} << 20) + 1}) {
    const std::string local = scratch.path + "/o" + std::to_string(size);
    const std::string bytes = random_bytes(size, 11);
    std::ofstream(local, std::ios::binary) << bytes;
    const std::string url = std::string("s3://") + kBucket + "/sizes/" + std::to_string(size);
    auto [code, out] = aws({"s3", "cp", local, url});
    ASSERT_EQ(code, 0) << out;
    memrun::test::TempDir cache("memrun-s3-cache");
    memrun::SharedWorkerContext ctx({"s3test", 64 << 20, "", cache.path, 64 << 20});
    EXPECT_EQ(ctx.get_or_fetch(url).view(), bytes) << size << " bytes";
  }
}

TEST_F(S3, LargeResultGoesAsMultipartUploadAndAwscliReadsIt) {
  memrun::SharedWorkerContext ctx({"s3test", 1 << 20, std::string("s3://") + kBucket + "/results"});
  const std::string bytes = random_bytes((70 << 20) + 7, 4);  // above the 64 MiB threshold: 9 parts
  const std::string url = ctx.upload_result(bytes, "big/out.bin");
  memrun::test::TempDir scratch("memrun-aws");
  const std::string local = scratch.path + "/big-out.bin";
  auto [code, out] = aws({"s3", "cp", url, local});
  ASSERT_EQ(code, 0) << out;
  EXPECT_TRUE(read_file(local) == bytes) << "multipart upload reassembled differently";
  // (s3rver has no ListMultipartUploads, so leftover uploads cannot be listed here.)
}

memrun::Error fetch_error(const std::string& url) {
  memrun::SharedWorkerContext ctx({"s3test", 1 << 20, ""});
  try {
    ctx.get_or_fetch(url);
  } catch (const memrun::Error& e) {
    return e;
  }
  ADD_FAILURE() << url << " was fetched";
  return memrun::Error(memrun::Code::kOk, "");
}

TEST_F(S3, MissingKeyIsNotFoundAndTheMessageHoldsNoSecret) {
  auto e = fetch_error(std::string("s3://") + kBucket + "/no/such/key");
  EXPECT_EQ(e.code(), memrun::Code::kNotFound) << e.what();
  EXPECT_NE(std::string(e.what()).find("s3://memrun-test/no/such/key"), std::string::npos) << e.what();
  EXPECT_EQ(std::string(e.what()).find("S3RVER"), std::string::npos) << "credential in a message: " << e.what();
  EXPECT_EQ(fetch_error("s3://bucket-without-key").code(), memrun::Code::kInvalidArgument);
}

TEST_F(S3, UnreachableStoreIsUnavailable) {
  ::setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:1", 1);
  auto e = fetch_error(std::string("s3://") + kBucket + "/x");
  ::setenv("AWS_ENDPOINT_URL", s3_->endpoint().c_str(), 1);
  EXPECT_EQ(e.code(), memrun::Code::kUnavailable) << e.what();
}

// Retriable failures (5xx) are retried with backoff; a store that never
// recovers is kUnavailable after the last attempt.
TEST(RemoteRetries, TransientServerErrorsAreRetriedPermanentOnesReported) {
  memrun::test::Subprocess server({"/usr/bin/python3", FLAKY_HTTP});
  auto port = server.wait_for("listening on ", 30s);
  ASSERT_TRUE(port) << server.output();
  const std::string base = "http://127.0.0.1:" + *port;
  memrun::SharedWorkerContext ctx({"retry", 1 << 20, ""});
  EXPECT_EQ(ctx.get_or_fetch(base + "/fail-2/x.bin").view(), "payload of x.bin");
  const auto start = std::chrono::steady_clock::now();
  auto e = fetch_error(base + "/always-503");
  EXPECT_EQ(e.code(), memrun::Code::kUnavailable) << e.what();
  EXPECT_NE(std::string(e.what()).find("503"), std::string::npos) << e.what();
  EXPECT_GE(std::chrono::steady_clock::now() - start, 600ms) << "gave up without backing off";
}

}  // namespace

// AWS S3 answers a ranged GET of an empty object with 416 (RFC 9110: there is
// no byte 0); the first range then goes again without a Range header.
TEST(RemoteRetries, AnEmptyS3ObjectIsFetchedDespiteThe416) {
  memrun::test::Subprocess server({"/usr/bin/python3", FLAKY_HTTP});
  auto port = server.wait_for("listening on ", 30s);
  ASSERT_TRUE(port) << server.output();
  const std::string endpoint = "http://127.0.0.1:" + *port;
  ::setenv("AWS_ENDPOINT_URL", endpoint.c_str(), 1);
  memrun::test::TempDir cache("memrun-s3-cache");
  memrun::SharedWorkerContext ctx({"retry", 1 << 20, "", cache.path, 1 << 20});
  memrun::Blob blob = ctx.get_or_fetch("s3://strict-range/empty");
  EXPECT_EQ(blob.size(), 0u);
  EXPECT_EQ(ctx.cache_stats().disk.writes, 1u) << "an empty object is an entry too";
  ::unsetenv("AWS_ENDPOINT_URL");
}

// Single flight against a server that counts: 50 threads ask for one URL at
// once; the server sees one GET, every thread gets the bytes, one disk write.
TEST(RemoteRetries, FiftyConcurrentCallersMakeOneRemoteGet) {
  memrun::test::Subprocess server({"/usr/bin/python3", FLAKY_HTTP});
  auto port = server.wait_for("listening on ", 30s);
  ASSERT_TRUE(port) << server.output();
  const std::string base = "http://127.0.0.1:" + *port;
  memrun::test::TempDir cache("memrun-flight");
  memrun::SharedWorkerContext ctx({"flight", 1 << 20, "", cache.path, 1 << 20});
  std::vector<std::thread> threads;
  std::atomic<int> ok{0};
  for (int i = 0; i < 50; ++i)
    threads.emplace_back([&] { ok += ctx.get_or_fetch(base + "/slow/x.bin").view() == "payload of /slow/x.bin"; });
  for (auto& t : threads) t.join();
  EXPECT_EQ(ok.load(), 50);
  memrun::SharedWorkerContext counter({"count", 1 << 20, ""});
  EXPECT_EQ(counter.get_or_fetch(base + "/hits/slow/x.bin").view(), "1") << "GETs the server saw";
  EXPECT_EQ(ctx.cache_stats().remote_fetches, 1u);
  EXPECT_EQ(ctx.cache_stats().disk.writes, 1u);
}

namespace {

// The misbehaving S3 objects of flaky_http.py: 20 MiB, byte i is i % 251.
std::string big_object() {
  std::string out(20 << 20, '\0');
  for (size_t i = 0; i < out.size(); ++i) out[i] = static_cast<char>(i % 251);
  return out;
}

// Runs `body` with the S3 tier pointed at flaky_http.py.
template <class F>
void with_flaky_s3(F&& body) {
  memrun::test::Subprocess server({"/usr/bin/python3", FLAKY_HTTP});
  auto port = server.wait_for("listening on ", 30s);
  ASSERT_TRUE(port) << server.output();
  const std::string endpoint = "http://127.0.0.1:" + *port;
  ::setenv("AWS_ENDPOINT_URL", endpoint.c_str(), 1);
  body(endpoint);
  ::unsetenv("AWS_ENDPOINT_URL");
}

}  // namespace

// A server without range support answers the first ranged GET with the whole
// object: that is the download, and no further part is asked for.
TEST(RemoteRetries, AServerThatIgnoresRangesStillYieldsTheWholeObject) {
  with_flaky_s3([](const std::string& endpoint) {
    memrun::test::TempDir cache("memrun-norange");
    memrun::SharedWorkerContext ctx({"norange", 64 << 20, "", cache.path, 64 << 20});
    memrun::Blob blob = ctx.get_or_fetch("s3://ignore-range/big");
    EXPECT_EQ(blob.view() == big_object(), true) << "size " << blob.size();
    EXPECT_EQ(ctx.cache_stats().disk.writes, 1u);
    memrun::SharedWorkerContext counter({"count", 1 << 20, ""});
    EXPECT_EQ(counter.get_or_fetch(endpoint + "/hits/ignore-range/big").view(), "1") << "GETs the server saw";
  });
}

// The object is replaced between its first part and the others: the later
// parts carry If-Match, the server refuses them, and the fetch fails
// retriably instead of caching a mix of two versions. A retry gets version 2.
TEST(RemoteRetries, AnObjectReplacedMidDownloadIsRetriableAndNeverMixed) {
  with_flaky_s3([](const std::string&) {
    memrun::test::TempDir cache("memrun-changing");
    memrun::SharedWorkerContext ctx({"changing", 64 << 20, "", cache.path, 64 << 20});
    try {
      ctx.get_or_fetch("s3://changing/big");
      ADD_FAILURE() << "parts of two versions were accepted";
    } catch (const memrun::Error& e) {
      EXPECT_EQ(e.code(), memrun::Code::kUnavailable) << e.what();
      EXPECT_NE(std::string(e.what()).find("changed during the download"), std::string::npos) << e.what();
    }
    EXPECT_EQ(ctx.cache_stats().disk.entries, 0u);
    EXPECT_EQ(ctx.stats().objects, 0u);
    EXPECT_EQ(ctx.get_or_fetch("s3://changing/big").view() == big_object(), true);
  });
}

// Three callers share one slow fetch. The first gives up at its deadline and
// the second is cancelled, both long before the bytes arrive; neither takes
// the fetch down with it: the third gets the bytes from the one GET, and
// they are cached for the callers that gave up.
TEST(RemoteRetries, CallersThatGiveUpLeaveTheSharedFetchToTheOthers) {
  with_flaky_s3([](const std::string& endpoint) {
    memrun::test::TempDir cache("memrun-giveup");
    memrun::SharedWorkerContext ctx({"giveup", 1 << 20, "", cache.path, 1 << 20});
    const std::string url = endpoint + "/sleep-1500/x.bin";
    auto error_of = [&](const memrun::FetchWait& wait) {
      const auto start = std::chrono::steady_clock::now();
      try {
        ctx.get_or_fetch(url, wait);
      } catch (const memrun::Error& e) {
        EXPECT_LT(std::chrono::steady_clock::now() - start, 1000ms) << "waited for the fetch: " << e.what();
        return e.code();
      }
      return memrun::Code::kOk;
    };
    std::atomic<bool> cancel{false};
    memrun::Code first = memrun::Code::kOk, second = memrun::Code::kOk;
    std::string third;
    std::thread a([&] { first = error_of({std::chrono::system_clock::now() + 200ms, {}}); });
    std::this_thread::sleep_for(50ms);
    std::thread b([&] { second = error_of({std::chrono::system_clock::time_point::max(), [&] { return cancel.load(); }}); });
    std::thread c([&] { third = std::string(ctx.get_or_fetch(url).view()); });
    std::this_thread::sleep_for(100ms);
    cancel = true;
    a.join();
    b.join();
    c.join();
    EXPECT_EQ(first, memrun::Code::kDeadlineExceeded);
    EXPECT_EQ(second, memrun::Code::kCancelled);
    EXPECT_EQ(third, "payload of /sleep-1500/x.bin");
    EXPECT_EQ(ctx.get_or_fetch(url).tier(), memrun::Tier::kRam);
    EXPECT_EQ(ctx.cache_stats().remote_fetches, 1u);
    EXPECT_EQ(ctx.cache_stats().disk.writes, 1u);
    memrun::SharedWorkerContext counter({"count", 1 << 20, ""});
    EXPECT_EQ(counter.get_or_fetch(endpoint + "/hits/sleep-1500/x.bin").view(), "1") << "GETs the server saw";
  });
}
