// `memrun cache` (the real binary) against a cache directory a real
// SharedWorkerContext filled from file:// and http:// sources.
#include <memrun/context.hpp>

#include "support/subprocess.hpp"
#include "support/temp_dir.hpp"

#include <gtest/gtest.h>
#include <httplib.h>
#include <nlohmann/json.hpp>

#include <unistd.h>

#include <chrono>
#include <fstream>
#include <memory>
#include <string>
#include <thread>
#include <vector>

using namespace std::chrono_literals;
using memrun::test::TempDir;

namespace {

constexpr uint64_t kMiB = 1 << 20;

std::pair<int, std::string> cli(const std::vector<std::string>& args) {
  std::vector<std::string> argv{MEMRUN_CLI, "cache"};
  argv.insert(argv.end(), args.begin(), args.end());
  return memrun::test::run(argv, 120s);
}

bool contains(const std::string& text, const std::string& part) { return text.find(part) != std::string::npos; }

// An HTTP origin on a free port of 127.0.0.1, serving one object.
class Origin {
 public:
  explicit Origin(std::string body) : body_(std::move(body)) {
    server_.Get("/secret.bin", [this](const httplib::Request&, httplib::Response& res) {
      res.set_content(body_, "application/octet-stream");
    });
    port_ = server_.bind_to_any_port("127.0.0.1");
    thread_ = std::thread([this] { server_.listen_after_bind(); });  // bound: connections queue until it runs
  }
  ~Origin() {
    server_.stop();
    thread_.join();
  }
  int port() const { return port_; }

 private:
  std::string body_;
  httplib::Server server_;
  int port_ = 0;
  std::thread thread_;
};

// {root}/vectors filled by a worker's context: a 5 MiB file (two chunks),
// a small file and an HTTP object whose URL carries a password and a token,
// committed in that order.
class CacheCli : public ::testing::Test {
 protected:
  void SetUp() override {
    std::ofstream(sources_.path + "/big.bin", std::ios::binary) << std::string(5 * kMiB, 'b');
    std::ofstream(sources_.path + "/small.bin", std::ios::binary) << std::string(1000, 's');
    Origin origin(std::string(300, 'h'));
    const std::string host = "127.0.0.1:" + std::to_string(origin.port());
    secret_url_ = "http://user:hunter2@" + host + "/secret.bin?token=s3cr3t";
    secret_as_listed_ = "http://***@" + host + "/secret.bin?token=***";
    auto ctx = open_context();
    for (const auto& url : {"file://" + sources_.path + "/big.bin", "file://" + sources_.path + "/small.bin",
                            secret_url_}) {
      ctx->get_or_fetch(url);
      std::this_thread::sleep_for(20ms);  // distinct commit times, so "oldest first" is the order above
    }
    ASSERT_EQ(ctx->cache_stats().disk.entries, 3u);
  }

  // A worker's context on the cache directory: it holds the directory's lock.
  std::unique_ptr<memrun::SharedWorkerContext> open_context() {
    memrun::SharedWorkerContext::Options options;
    options.service = "vectors";
    options.disk_dir = dir();
    options.disk_budget_bytes = 64 * kMiB;
    options.file_roots = {sources_.path};
    return std::make_unique<memrun::SharedWorkerContext>(std::move(options));
  }

  std::string dir() const { return root_.path + "/vectors"; }
  std::vector<std::string> where() const { return {"--cache-root", root_.path, "--service", "vectors"}; }
  std::vector<std::string> with_where(std::vector<std::string> args) const {
    for (const auto& a : where()) args.push_back(a);
    return args;
  }

  TempDir root_{"memrun-cache-cli"}, sources_{"memrun-cache-src"};
  std::string secret_url_, secret_as_listed_;
};

TEST_F(CacheCli, LsPrintsATableOldestFirstWithCredentialsRedacted) {
  auto [code, out] = cli(with_where({"ls"}));
  ASSERT_EQ(code, 0) << out;
  EXPECT_TRUE(contains(out, "SIZE")) << out;
  EXPECT_TRUE(contains(out, "CHUNKS")) << out;
  EXPECT_FALSE(contains(out, "hunter2")) << out;
  EXPECT_FALSE(contains(out, "s3cr3t")) << out;
  EXPECT_TRUE(contains(out, secret_as_listed_)) << out;
  const auto big = out.find("big.bin"), small = out.find("small.bin"), secret = out.find("secret.bin");
  EXPECT_LT(big, small);
  EXPECT_LT(small, secret);
  EXPECT_TRUE(contains(out, "5.0MiB")) << out;

  std::tie(code, out) = cli({"ls", "--json", "--dir", dir()});
  ASSERT_EQ(code, 0) << out;
  const auto j = nlohmann::json::parse(out);
  ASSERT_EQ(j.size(), 3u);
  EXPECT_EQ(j[0]["size"], 5 * kMiB);
  EXPECT_EQ(j[0]["chunks"], 2);
  EXPECT_FALSE(contains(j[2]["url"].get<std::string>(), "hunter2"));
}

// A range read leaves a partial entry: ls shows the chunks it holds of all,
// and what it holds is what it takes.
TEST_F(CacheCli, LsShowsTheChunksAPartialEntryHolds) {
  Origin origin(std::string(300 << 10, 'p'));  // 5 chunks of 64 KiB, the last one short
  const std::string url = "http://127.0.0.1:" + std::to_string(origin.port()) + "/secret.bin";
  {
    memrun::SharedWorkerContext::Options options;
    options.service = "vectors";
    options.disk_dir = dir();
    options.disk_budget_bytes = 64 * kMiB;
    options.range_chunk_bytes = 64 << 10;
    memrun::SharedWorkerContext ctx(std::move(options));
    ASSERT_EQ(ctx.get_range(url, 100 << 10, 10).view(), std::string(10, 'p'));
  }
  auto [code, out] = cli(with_where({"ls"}));
  ASSERT_EQ(code, 0) << out;
  EXPECT_TRUE(contains(out, "1/5")) << out;
  std::tie(code, out) = cli({"ls", "--json", "--dir", dir()});
  ASSERT_EQ(code, 0) << out;
  const auto j = nlohmann::json::parse(out);
  ASSERT_EQ(j.size(), 4u);
  EXPECT_EQ(j[3]["size"], 300 << 10);
  EXPECT_EQ(j[3]["chunks"], 5);
  EXPECT_EQ(j[3]["chunks_held"], 1);
  EXPECT_EQ(j[3]["stored"], 64 << 10);
}

TEST_F(CacheCli, StatsSaysWhoHoldsTheDirectory) {
  auto [code, out] = cli(with_where({"stats"}));
  ASSERT_EQ(code, 0) << out;
  EXPECT_TRUE(contains(out, "entries     3")) << out;
  EXPECT_TRUE(contains(out, "held by     nobody")) << out;
  auto worker = open_context();
  std::tie(code, out) = cli(with_where({"stats", "--json"}));
  ASSERT_EQ(code, 0) << out;
  EXPECT_EQ(nlohmann::json::parse(out)["holder_pid"], ::getpid());
}

TEST_F(CacheCli, VerifyFailsOnAFlippedByteAndDropRepairsTheDirectory) {
  auto [code, out] = cli(with_where({"verify"}));
  ASSERT_EQ(code, 0) << out;
  EXPECT_TRUE(contains(out, "3 entries: 3 ok")) << out;

  std::tie(code, out) = cli({"ls", "--json", "--dir", dir()});
  const std::string big = nlohmann::json::parse(out)[0]["data_path"];
  {
    std::fstream f(big, std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(4 * kMiB + 5);
    f.put('!');
  }
  std::tie(code, out) = cli(with_where({"verify"}));
  EXPECT_EQ(code, 1) << out;
  EXPECT_TRUE(contains(out, "corrupt     file://" + sources_.path + "/big.bin: bytes 4194304-5242879")) << out;

  {
    auto worker = open_context();
    std::tie(code, out) = cli(with_where({"verify", "--drop"}));
    EXPECT_EQ(code, 1) << out;
    EXPECT_TRUE(contains(out, "pid " + std::to_string(::getpid()))) << out;
  }
  std::tie(code, out) = cli(with_where({"verify", "--drop"}));
  EXPECT_EQ(code, 0) << out;
  EXPECT_TRUE(contains(out, "(dropped)")) << out;
  std::tie(code, out) = cli(with_where({"verify"}));
  EXPECT_EQ(code, 0) << out;
  EXPECT_TRUE(contains(out, "2 entries: 2 ok")) << out;
}

TEST_F(CacheCli, EvictRemovesTheOldestDownToASizeAndIsRefusedWhileAWorkerRuns) {
  {
    auto worker = open_context();
    auto [code, out] = cli(with_where({"evict", "--all"}));
    EXPECT_EQ(code, 1) << out;
    EXPECT_TRUE(contains(out, "in use by worker pid " + std::to_string(::getpid()) + "; stop it first")) << out;
  }
  auto [code, out] = cli(with_where({"evict", "--to-bytes", "2Ki"}));
  ASSERT_EQ(code, 0) << out;
  EXPECT_TRUE(contains(out, "1 entry removed (5.0MiB)")) << out;
  std::tie(code, out) = cli(with_where({"ls"}));
  EXPECT_FALSE(contains(out, "big.bin")) << out;
  EXPECT_TRUE(contains(out, "small.bin")) << out;

  // A URL as ls printed it (redacted) names its entry.
  std::tie(code, out) = cli(with_where({"evict", "--url", secret_as_listed_}));
  EXPECT_EQ(code, 0) << out;
  EXPECT_TRUE(contains(out, "1 entry removed")) << out;
  std::tie(code, out) = cli(with_where({"evict", "--url", "file:///not/cached"}));
  EXPECT_EQ(code, 1) << out;
  EXPECT_TRUE(contains(out, "not cached: file:///not/cached")) << out;
}

TEST_F(CacheCli, BadUsageExitsTwoAndHelpListsTheOptions) {
  for (const auto& args : std::vector<std::vector<std::string>>{
           {},
           {"evict", "--dir", dir()},
           {"evict", "--dir", dir(), "--all", "--to-bytes", "1Gi"},
           {"evict", "--dir", dir(), "--to-bytes", "lots"},
           {"ls", "--service", "../etc"},
           {"ls", "--cache-root", root_.path},
           {"ls", "--dir", dir(), "--service", "vectors"},
           {"ls", "--dir", root_.path + "/missing"},
       }) {
    auto [code, out] = cli(args);
    EXPECT_EQ(code, 2) << ::testing::PrintToString(args) << "\n" << out;
  }
  auto [code, out] = cli({"--help"});
  EXPECT_EQ(code, 0) << out;
  for (const char* sub : {"ls", "stats", "verify", "evict"}) EXPECT_TRUE(contains(out, sub)) << out;
  std::tie(code, out) = cli({"evict", "--help"});
  EXPECT_EQ(code, 0) << out;
  for (const char* option : {"--url", "--all", "--to-bytes", "--cache-root", "--service", "--dir"})
    EXPECT_TRUE(contains(out, option)) << out;
}

}  // namespace
