// The tiered cache against baselines measured in the same run:
//   RAM hit        ns per get_object / get_or_fetch hit, 1 and 2 threads
//   disk hit, hot  time to first byte; touching the blob vs memcpy of a RAM buffer
//   disk hit, cold same after posix_fadvise(DONTNEED) vs an O_DIRECT sequential read
//   remote         get_or_fetch of s3://… vs the curl CLI on the same object
//                  (only with MEMRUN_BENCH_S3_URL and MEMRUN_BENCH_HTTP_URL set;
//                  bench/run_cache_tiers.sh starts s3rver and sets them)
//   policy         hit ratio of SIEVE vs LRU on Zipf traces with and without scans
//
//   build/bench/memrun_bench_cache_tiers [dir=/var/tmp] [size_mib=1024]
#include <memrun/context.hpp>

#include "cache/disk_cache.hpp"
#include "timing.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <spdlog/spdlog.h>

#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <memory>
#include <random>
#include <string>
#include <thread>
#include <vector>

namespace fs = std::filesystem;
using memrun::bench::Clock;
using memrun::bench::seconds_since;

namespace {

// file:// reads only under its roots; the benchmark reads its own files wherever it was pointed.
memrun::SharedWorkerContext::Options reading_anywhere(memrun::SharedWorkerContext::Options o) {
  o.file_roots = {"/"};
  return o;
}

// Reads one byte per 4 KiB page and sums them, so the work is touching memory.
uint64_t touch(const std::byte* p, size_t n) {
  uint64_t sum = 0;
  for (size_t i = 0; i < n; i += 4096) sum += static_cast<uint8_t>(p[i]);
  return sum;
}

// Reads every byte (8 at a time), the way a scan over a dataset would.
uint64_t scan(const std::byte* p, size_t n) {
  uint64_t sum = 0;
  for (size_t i = 0; i + 8 <= n; i += 8) {
    uint64_t v;
    std::memcpy(&v, p + i, 8);
    sum += v;
  }
  return sum;
}

void ram_hits() {
  memrun::SharedWorkerContext ctx(reading_anywhere({"bench", 1ull << 30, ""}));
  ctx.set_object("table", std::make_shared<std::vector<int>>(1000, 7), 4000);
  const std::string path = fs::temp_directory_path() / "memrun_bench_small.bin";
  { FILE* f = std::fopen(path.c_str(), "w"); std::fputs("small", f); std::fclose(f); }
  const std::string url = "file://" + path;
  ctx.get_or_fetch(url);
  constexpr int kOps = 2'000'000;
  for (int threads : {1, 2}) {
    auto run = [&](auto op) {
      std::vector<std::thread> pool;
      auto start = Clock::now();
      for (int t = 0; t < threads; ++t)
        pool.emplace_back([&] {
          for (int i = 0; i < kOps; ++i) op();
        });
      for (auto& t : pool) t.join();
      return seconds_since(start) * 1e9 / kOps;  // ns per op per thread
    };
    const double obj = run([&] { (void)ctx.get_object<std::vector<int>>("table"); });
    const double blob = run([&] { (void)ctx.get_or_fetch(url); });
    std::printf("RAM hit, %d thread(s): get_object %.0f ns, get_or_fetch %.0f ns per call\n", threads, obj, blob);
  }
  fs::remove(path);
}

void disk_hits(const std::string& dir, size_t size) {
  const std::string root = dir + "/memrun-bench-cache";
  fs::remove_all(root);
  fs::create_directories(root);
  const std::string source = root + "/source.bin";
  {
    std::vector<char> chunk(8 << 20);
    std::mt19937_64 rng(1);
    for (auto& c : chunk) c = static_cast<char>(rng());
    FILE* f = std::fopen(source.c_str(), "w");
    for (size_t done = 0; done < size; done += chunk.size()) std::fwrite(chunk.data(), 1, std::min(chunk.size(), size - done), f);
    std::fclose(f);
  }
  const std::string url = "file://" + source;
  const auto o = reading_anywhere({"bench", 4ull << 30, "", root + "/cache", 4ull << 30});
  {
    memrun::SharedWorkerContext first(o);
    first.get_or_fetch(url);  // remote (file) → disk
  }
  const double gib = static_cast<double>(size) / (1 << 30);

  // Hot: a restarted context finds the entry on disk; the page cache has it.
  // In its own scope: a live context holds the cache directory (and maps the
  // entry from its RAM tier), so the cold part below needs it gone.
  {
    memrun::SharedWorkerContext hot(o);
    auto t0 = Clock::now();
    memrun::Blob blob = hot.get_or_fetch(url);
    volatile auto first_byte = static_cast<uint8_t>(blob.read(0, 1)[0]);  // checks the first chunk only
    (void)first_byte;
    const double ttfb = seconds_since(t0);
    auto t1 = Clock::now();
    volatile uint64_t s1 = scan(blob.data(), blob.size());  // data() checks the remaining chunks first
    const double scan_s = seconds_since(t1);
    auto t1b = Clock::now();
    volatile uint64_t s1b = scan(blob.data(), blob.size());  // pages mapped, chunks checked
    const double rescan_s = seconds_since(t1b);
    (void)s1b;
    std::vector<std::byte> ram(size), copy(size);
    std::memset(ram.data(), 1, size);
    std::memset(copy.data(), 0, size);  // fault both in before timing
    auto t2 = Clock::now();
    std::memcpy(copy.data(), ram.data(), size);
    const double memcpy_s = seconds_since(t2);
    (void)s1;
    std::printf("disk hit, page cache hot, %.2f GiB (%s): first byte after %.3f ms (read(0, 1): checks the "
                "first chunk's XXH3 only); first pass, checking and reading every byte (this maps every page) %.2f GB/s; "
                "second pass %.2f GB/s vs memcpy %.2f GB/s: ratio %.2f\n",
                gib, blob.tier() == memrun::Tier::kDisk ? "disk tier" : "NOT a disk hit", ttfb * 1e3,
                size / scan_s / 1e9, size / rescan_s / 1e9, size / memcpy_s / 1e9, (size / rescan_s) / (size / memcpy_s));
  }

  // Cold: drop the entry's pages, read it again through a fresh context.
  std::string data_file;
  for (const auto& f : fs::recursive_directory_iterator(root + "/cache"))
    if (f.path().extension() == ".data") data_file = f.path().string();
  auto drop = [&](const std::string& p) {
    int fd = ::open(p.c_str(), O_RDONLY);
    ::fdatasync(fd);
    ::posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED);
    ::close(fd);
  };
  drop(data_file);
  memrun::SharedWorkerContext cold(o);
  auto t3 = Clock::now();
  memrun::Blob cold_blob = cold.get_or_fetch(url);
  volatile uint64_t s2 = touch(cold_blob.data(), cold_blob.size());
  (void)s2;
  const double cold_s = seconds_since(t3);
  const memrun::Tier cold_tier = cold_blob.tier();
  cold_blob = memrun::Blob();
  drop(data_file);
  auto t4 = Clock::now();
  int fd = ::open(data_file.c_str(), O_RDONLY | O_DIRECT);
  size_t direct_bytes = 0;
  if (fd >= 0) {
    void* buf = nullptr;
    ::posix_memalign(&buf, 4096, 8 << 20);
    for (ssize_t n; (n = ::read(fd, buf, 8 << 20)) > 0;) direct_bytes += static_cast<size_t>(n);
    std::free(buf);
    ::close(fd);
  }
  const double direct_s = seconds_since(t4);
  std::printf("disk hit, page cache cold (%s): get_or_fetch + reading every page %.2f GB/s vs O_DIRECT sequential "
              "read %.2f GB/s (%zu bytes): ratio %.2f\n",
              cold_tier == memrun::Tier::kDisk ? "disk tier" : "NOT a disk hit", size / cold_s / 1e9, direct_bytes / direct_s / 1e9, direct_bytes, (size / cold_s) / (direct_bytes / direct_s));
  fs::remove_all(root);
}

void remote(const std::string& bench_dir) {
  const char* s3_url = std::getenv("MEMRUN_BENCH_S3_URL");
  const char* http_url = std::getenv("MEMRUN_BENCH_HTTP_URL");
  if (!s3_url || !http_url) {
    std::printf("remote: skipped (run bench/run_cache_tiers.sh, which starts s3rver)\n");
    return;
  }
  // Into memory (no disk tier) vs curl writing to /dev/null.
  memrun::SharedWorkerContext ctx(reading_anywhere({"bench", 8ull << 30, ""}));
  auto t0 = Clock::now();
  memrun::Blob blob = ctx.get_or_fetch(s3_url);
  const double ours = seconds_since(t0);
  auto t1 = Clock::now();
  const std::string cmd = std::string("curl -sf -o /dev/null ") + http_url;
  const int rc = std::system(cmd.c_str());
  const double curl = seconds_since(t1);
  std::printf("remote: %zu bytes from s3rver into memory: get_or_fetch %.2f s (%.0f MB/s) vs curl CLI to /dev/null "
              "%.2f s (%.0f MB/s, rc %d): ratio %.2f\n",
              blob.size(), ours, blob.size() / ours / 1e6, curl, blob.size() / curl / 1e6, rc, curl / ours);

  // Into the disk tier (ranges written at their offsets, hashed, fsynced,
  // committed) vs curl writing a file and fsyncing it.
  const std::string dir = bench_dir + "/memrun-bench-remote";
  fs::remove_all(dir);
  memrun::SharedWorkerContext disk(reading_anywhere({"bench", 8ull << 30, "", dir + "/cache", 8ull << 30}));
  auto t2 = Clock::now();
  memrun::Blob cached = disk.get_or_fetch(s3_url);
  const double ours_disk = seconds_since(t2);
  auto t3 = Clock::now();
  const std::string cmd_disk = "curl -sf -o " + dir + "/curl.bin " + http_url + " && sync " + dir + "/curl.bin";
  const int rc_disk = std::system(cmd_disk.c_str());
  const double curl_disk = seconds_since(t3);
  std::printf("remote: %zu bytes from s3rver into the disk tier: get_or_fetch %.2f s (%.0f MB/s, %llu disk write) vs "
              "curl CLI to a file + sync %.2f s (%.0f MB/s, rc %d): ratio %.2f\n",
              cached.size(), ours_disk, cached.size() / ours_disk / 1e6,
              static_cast<unsigned long long>(disk.cache_stats().disk.writes), curl_disk,
              cached.size() / curl_disk / 1e6, rc_disk, curl_disk / ours_disk);
  fs::remove_all(dir);
}

// Zipf(alpha) over n keys by inverse CDF.
struct Zipf {
  std::vector<double> cdf;
  Zipf(size_t n, double alpha) {
    double sum = 0;
    for (size_t i = 1; i <= n; ++i) cdf.push_back(sum += 1.0 / std::pow(static_cast<double>(i), alpha));
    for (auto& c : cdf) c /= sum;
  }
  size_t operator()(std::mt19937_64& rng) const {
    double u = std::uniform_real_distribution<double>(0, 1)(rng);
    return static_cast<size_t>(std::lower_bound(cdf.begin(), cdf.end(), u) - cdf.begin());
  }
};

double hit_ratio(memrun::internal::DiskCache::Policy policy, double alpha, bool scans, const std::string& dir) {
  const std::string root = dir + "/memrun-bench-policy";
  fs::remove_all(root);
  constexpr size_t kKeys = 5000, kOps = 30000, kEntry = 64;
  memrun::internal::DiskCache cache({root, kKeys / 10 * kEntry, policy});  // room for 10% of the keys
  Zipf zipf(kKeys, alpha);
  std::mt19937_64 rng(42);
  const std::string value(kEntry, 'v');
  size_t hits = 0, scan_key = kKeys;
  for (size_t op = 0; op < kOps; ++op) {
    std::string key;
    if (scans && op % 1000 < 200) key = "scan:" + std::to_string(scan_key++);  // one-off keys
    else key = "k:" + std::to_string(zipf(rng));
    if (cache.get(key)) ++hits;
    else cache.put(key, value);
  }
  fs::remove_all(root);
  return static_cast<double>(hits) / kOps;
}

void policies(const std::string& dir) {
  using P = memrun::internal::DiskCache::Policy;
  for (double alpha : {0.9, 1.1})
    for (bool scans : {false, true}) {
      const double sieve = hit_ratio(P::kSieve, alpha, scans, dir), lru = hit_ratio(P::kLru, alpha, scans, dir);
      std::printf("policy: Zipf(%.1f)%s, cache = 10%% of 5000 keys: SIEVE hit ratio %.3f vs LRU %.3f (ratio %.2f)\n",
                  alpha, scans ? " + 20% one-off scan keys" : "", sieve, lru, sieve / lru);
    }
}

}  // namespace

int main(int argc, char** argv) {
  spdlog::set_level(spdlog::level::warn);
  const std::string dir = argc > 1 ? argv[1] : "/var/tmp";
  const size_t size = (argc > 2 ? std::stoull(argv[2]) : 1024) << 20;
  ram_hits();
  disk_hits(dir, size);
  remote(dir);
  policies("/dev/shm");  // many tiny entries: fsync-free tmpfs keeps the trace fast
  return 0;
}
