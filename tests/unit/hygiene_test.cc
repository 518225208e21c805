// URL, file and log hygiene, each case one a probe found: control characters
// in URLs, credentials in error messages, secrets and loose modes in the disk
// cache, a probe file left on a full disk, file:// reading outside its roots,
// S3 keys climbing out of their bucket, and log lines broken by a newline.
#include <memrun/cache_admin.hpp>
#include <memrun/context.hpp>
#include <memrun/logging.hpp>

#include "cache/disk_cache.hpp"
#include "support/temp_dir.hpp"

#include <gtest/gtest.h>
#include <spdlog/sinks/ostream_sink.h>
#include <spdlog/spdlog.h>

#include <sys/mount.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <csignal>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>

namespace fs = std::filesystem;
using memrun::Code;
using memrun::test::TempDir;

namespace {

constexpr const char* kSecretUrl = "http://alice:hunter2pass@127.0.0.1:9/data.bin?X-Amz-Signature=deadbeefcafe";

// The code of the Error `f` throws; kOk when it throws none.
template <class F>
std::pair<Code, std::string> error_of(F&& f) {
  try {
    f();
  } catch (const memrun::Error& e) {
    return {e.code(), e.what()};
  }
  return {Code::kOk, ""};
}

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

mode_t mode_of(const std::string& path) {
  struct stat st {};
  EXPECT_EQ(::stat(path.c_str(), &st), 0) << path;
  return st.st_mode & 07777;
}

memrun::SharedWorkerContext::Options with_roots(std::vector<std::string> roots) {
  memrun::SharedWorkerContext::Options o;
  o.service = "hygiene";
  o.memory_budget_bytes = 1 << 20;
  o.file_roots = std::move(roots);
  return o;
}

// ---- control characters -------------------------------------------------------

// A NUL used to key the caches by the whole string while the file (or libcurl)
// saw only the part before it; a newline failed as a transport error, retried.
TEST(UrlHygiene, ControlCharactersAreRefusedAsInvalidArgumentBeforeAnyTier) {
  TempDir root("memrun-hygiene");
  std::ofstream(root.path + "/a") << "A";
  memrun::SharedWorkerContext ctx(with_roots({root.path}));
  const std::string with_nul = "file://" + root.path + "/a" + std::string(1, '\0') + "/../other";
  auto [code, what] = error_of([&] { ctx.get_or_fetch(with_nul); });
  EXPECT_EQ(code, Code::kInvalidArgument) << what;
  EXPECT_EQ(ctx.cache_stats().remote_fetches, 0u) << "nothing was fetched for it";

  std::tie(code, what) = error_of([&] { ctx.get_or_fetch("http://127.0.0.1:9/x\nFORGED line"); });
  EXPECT_EQ(code, Code::kInvalidArgument) << "final, not retried as unavailable: " << what;
  EXPECT_EQ(what.find('\n'), std::string::npos) << what;
  EXPECT_EQ(ctx.get_or_fetch("file://" + root.path + "/a").view(), "A") << "the plain URL still works";
}

// ---- credentials in errors --------------------------------------------------------

TEST(UrlHygiene, AnErrorNamingACredentialedUrlNamesItRedacted) {
  memrun::SharedWorkerContext ctx(with_roots({}));
  auto [code, what] = error_of([&] { ctx.get_or_fetch(kSecretUrl); });  // nothing listens on port 9
  EXPECT_EQ(code, Code::kUnavailable) << what;
  EXPECT_NE(what.find("***@127.0.0.1:9"), std::string::npos) << what;
  for (const char* secret : {"hunter2pass", "deadbeefcafe"}) EXPECT_EQ(what.find(secret), std::string::npos) << what;
}

// ---- the disk cache's files --------------------------------------------------------

TEST(DiskCacheHygiene, MetaFilesKeepNoSecretAndEverythingIsOwnerOnlyWhateverTheUmask) {
  TempDir parent("memrun-hygiene");
  const std::string dir = parent.path + "/cache";
  const std::string url = "http://bob:pa55word@example.com/obj?token=tok123secret&X-Amz-Signature=sig456";
  const mode_t old_umask = ::umask(0);  // the loosest an operator could run with
  {
    memrun::internal::DiskCache cache({dir, 1 << 20});
    ASSERT_TRUE(cache.put(url, "bytes"));
  }
  ::umask(old_umask);
  EXPECT_EQ(mode_of(dir), 0700u);
  int files = 0;
  for (const auto& f : fs::recursive_directory_iterator(dir)) {
    const std::string path = f.path().string();
    if (f.is_directory()) {
      EXPECT_EQ(mode_of(path), 0700u) << path;
      continue;
    }
    ++files;
    EXPECT_EQ(mode_of(path), 0600u) << path;
    const std::string text = read_file(path);
    for (const char* secret : {"pa55word", "tok123secret", "sig456"})
      EXPECT_EQ(text.find(secret), std::string::npos) << secret << " in " << path << ": " << text;
  }
  EXPECT_GE(files, 3) << "data, meta and lock";

  // Entries are found by the full URL after a restart, and shown redacted.
  {
    memrun::internal::DiskCache cache({dir, 1 << 20});
    auto hit = cache.get(url);
    ASSERT_TRUE(hit);
    EXPECT_EQ(hit->view(), "bytes");
    EXPECT_FALSE(cache.get("http://bob:other@example.com/obj?token=tok123secret&X-Amz-Signature=sig456"));
  }
  memrun::CacheDirectory admin(dir);
  const auto listed = admin.list();
  ASSERT_EQ(listed.size(), 1u);
  EXPECT_EQ(listed[0].url, memrun::redact_credentials(url));
  const auto evicted = admin.evict_urls({url});
  EXPECT_EQ(evicted.removed.size(), 1u) << "the exact URL names its entry";
}

// The writability probe of a cache directory on a full filesystem used to
// stay behind (created, then its write failed). A 64 KiB tmpfs, filled;
// where mounting is not permitted, RLIMIT_FSIZE fails the write the same way.
TEST(DiskCacheHygiene, AStartOnAFullDiskLeavesNoProbeFile) {
  TempDir parent("memrun-hygiene");
  const std::string full = parent.path + "/full";
  fs::create_directories(full);
  const bool tmpfs = ::mount("tmpfs", full.c_str(), "tmpfs", 0, "size=64k") == 0;
  if (tmpfs) {
    std::ofstream fill(full + "/filler", std::ios::binary);
    const std::string block(4096, 'x');
    for (int i = 0; i < 64 && fill.write(block.data(), block.size()); ++i) fill.flush();
  }
  std::signal(SIGXFSZ, SIG_IGN);
  rlimit old{};
  ::getrlimit(RLIMIT_FSIZE, &old);
  rlimit tiny = old;
  tiny.rlim_cur = 1;
  if (!tmpfs) ::setrlimit(RLIMIT_FSIZE, &tiny);
  bool enabled = true;
  {
    memrun::internal::DiskCache cache({full, 1 << 20});
    enabled = cache.enabled();
  }
  if (!tmpfs) ::setrlimit(RLIMIT_FSIZE, &old);
  std::vector<std::string> left;
  for (const auto& f : fs::directory_iterator(full))
    if (f.path().filename().string().rfind(".probe.", 0) == 0) left.push_back(f.path().string());
  if (tmpfs) ::umount(full.c_str());
  EXPECT_FALSE(enabled) << (tmpfs ? "tmpfs" : "rlimit") << ": the tier is off on a full disk";
  EXPECT_TRUE(left.empty()) << left.front();
}

// ---- file:// roots -----------------------------------------------------------------

TEST(FileRoots, FileUrlsReadOnlyRegularFilesUnderTheirRoots) {
  TempDir root("memrun-hygiene");
  std::ofstream(root.path + "/ok.txt") << "fine";
  fs::create_directories(root.path + "/sub");
  fs::create_symlink("/etc/passwd", root.path + "/leak");
  ASSERT_EQ(::mkfifo((root.path + "/fifo").c_str(), 0600), 0);
  memrun::SharedWorkerContext ctx(with_roots({root.path}));
  EXPECT_EQ(ctx.get_or_fetch("file://" + root.path + "/ok.txt").view(), "fine");
  const std::vector<std::string> outside_roots{"/etc/passwd", root.path + "/leak",
                                               root.path + "/../" + fs::path(root.path).filename().string() + "-not/x",
                                               "/proc/self/environ"};
  for (const auto& outside : outside_roots) {
    auto [code, what] = error_of([&] { ctx.get_or_fetch("file://" + outside); });
    EXPECT_EQ(code, Code::kInvalidArgument) << "existing or not: " << outside << ": " << what;
  }
  for (const auto& odd : std::vector<std::string>{root.path + "/sub", root.path + "/fifo"}) {  // a FIFO must not block either
    auto [code, what] = error_of([&] { ctx.get_or_fetch("file://" + odd); });
    EXPECT_EQ(code, Code::kInvalidArgument) << odd << ": " << what;
  }
  // Even under "/" as a root, procfs files (whose sizes lie) are refused.
  memrun::SharedWorkerContext everything(with_roots({"/"}));
  auto [code, what] = error_of([&] { everything.get_or_fetch("file:///proc/self/environ"); });
  EXPECT_EQ(code, Code::kInvalidArgument) << what;
  // No roots at all: file:// reads nothing.
  memrun::SharedWorkerContext none(with_roots({}));
  std::tie(code, what) = error_of([&] { none.get_or_fetch("file://" + root.path + "/ok.txt"); });
  EXPECT_EQ(code, Code::kInvalidArgument) << what;
}

// ---- S3 keys ------------------------------------------------------------------------

TEST(S3Keys, AKeyThatClimbsOutOfItsBucketIsRefused) {
  ::setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:9", 1);  // nothing listens: a request would be unavailable
  memrun::SharedWorkerContext ctx(with_roots({}));
  for (const char* url : {"s3://bkt/../../tmp/x", "s3://bkt/a/../../other/x", "s3://bkt/.."}) {
    auto [code, what] = error_of([&] { ctx.get_or_fetch(url); });
    EXPECT_EQ(code, Code::kInvalidArgument) << url << ": " << what;
  }
  auto [code, what] = error_of([&] { ctx.get_or_fetch("s3://bkt/a/./b/../c"); });
  EXPECT_EQ(code, Code::kUnavailable) << "inside its bucket: asked for (of nobody here) " << what;
  ::unsetenv("AWS_ENDPOINT_URL");
}

// ---- log lines -----------------------------------------------------------------------

TEST(LogHygiene, ControlCharactersInAMessageCannotStartALineOfTheirOwn) {
  std::ostringstream out;
  auto previous = spdlog::default_logger();
  spdlog::set_default_logger(std::make_shared<spdlog::logger>("hygiene", std::make_shared<spdlog::sinks::ostream_sink_mt>(out)));
  memrun::configure_logging({"hygiene", "info", memrun::LogFormat::kText});
  spdlog::info("fetching {}", "http://x/a\n2026-01-01T00:00:00.000 error [memrun-host] forged\x1b[31m");
  spdlog::set_default_logger(previous);
  const std::string text = out.str();
  ASSERT_FALSE(text.empty());
  EXPECT_EQ(text.find('\n'), text.size() - 1) << "one line: " << text;
  EXPECT_EQ(text.find('\x1b'), std::string::npos) << text;
  EXPECT_NE(text.find("a\\n2026"), std::string::npos) << text;
  EXPECT_NE(text.find("\\x1b[31m"), std::string::npos) << text;
}

}  // namespace
