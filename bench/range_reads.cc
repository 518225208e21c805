// Ranged reads against baselines measured in the same run: a footer (64 KiB)
// and three scattered 8 MiB ranges of one large object, read with get_range
// (cold: a fresh context, no disk tier; then warm: the same ranges again)
// for several chunk sizes, against the curl CLI fetching exactly those four
// ranges. Prints times, ratios and remote bytes; asserts nothing.
// MEMRUN_BENCH_DISK_DIR=DIR gives each cold context a disk tier in DIR
// (emptied first), so the chunks go to the object's partial entry too; then
// a restarted context on DIR reads the ranges again (from disk).
//
//   MEMRUN_BENCH_S3_URL=s3://… MEMRUN_BENCH_HTTP_URL=http://… build/bench/memrun_bench_range_reads SIZE_BYTES
// bench/run_range_reads.sh starts s3rver, uploads the object and sets both.
#include <memrun/context.hpp>

#include "timing.hpp"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <utility>
#include <vector>

using memrun::bench::Clock;
using memrun::bench::seconds_since;

namespace {


// The four ranges: the footer, then 8 MiB at a quarter, a half and three
// quarters of the object, none chunk-aligned.
std::vector<std::pair<uint64_t, uint64_t>> ranges_of(uint64_t size) {
  constexpr uint64_t kRange = 8 << 20;
  return {{size - (64 << 10), 64 << 10},
          {size / 4 + 12345, kRange},
          {size / 2 + 777, kRange},
          {size / 4 * 3 + 4097, kRange}};
}

// Median of `runs` runs of `f`; *first, if given, gets the first run's.
template <class F>
double median_seconds(int runs, F&& f, double* first = nullptr) {
  std::vector<double> t;
  for (int i = 0; i < runs; ++i) {
    const auto start = Clock::now();
    f();
    t.push_back(seconds_since(start));
  }
  if (first) *first = t[0];
  std::sort(t.begin(), t.end());
  return t[t.size() / 2];
}

}  // namespace

int main(int argc, char** argv) {
  const char* s3_url = std::getenv("MEMRUN_BENCH_S3_URL");
  const char* http_url = std::getenv("MEMRUN_BENCH_HTTP_URL");
  const char* disk_dir = std::getenv("MEMRUN_BENCH_DISK_DIR");
  if (argc < 2 || !s3_url || !http_url) {
    std::fprintf(stderr, "usage: MEMRUN_BENCH_S3_URL=… MEMRUN_BENCH_HTTP_URL=… %s SIZE_BYTES\n", argv[0]);
    return 2;
  }
  const uint64_t size = std::strtoull(argv[1], nullptr, 10);
  const auto ranges = ranges_of(size);
  uint64_t touched = 0;
  for (auto [o, l] : ranges) touched += l;
  constexpr int kRuns = 5;

  const double curl = median_seconds(kRuns, [&] {
    for (auto [o, l] : ranges) {
      const std::string cmd = "curl -sf -o /dev/null -r " + std::to_string(o) + "-" + std::to_string(o + l - 1) +
                              " '" + http_url + "'";
      if (std::system(cmd.c_str()) != 0) std::fprintf(stderr, "curl failed: %s\n", cmd.c_str());
    }
  });
  std::printf("object %.0f MiB; footer 64 KiB + 3 x 8 MiB = %.1f MiB touched\n", size / 1048576.0,
              touched / 1048576.0);
  std::printf("curl CLI, the 4 ranges one after the other: %.1f ms (median of %d)\n", curl * 1e3, kRuns);
  // The first cold run of a chunk size is the only one whose chunks land in
  // memory the process has not used: later runs reuse the buffers of the
  // runs before (src/remote/buffer.hpp), as a worker that has been serving
  // does. Both are printed.
  std::printf("%10s %12s %8s %16s %14s %12s %14s", "chunk", "cold ms", "x curl", "1st run x curl", "remote MiB",
              "warm ms", "warm remote B");
  if (disk_dir) std::printf(" %12s %14s", "restart ms", "restart remote");
  std::printf("\n");
  for (uint64_t chunk : {1ull << 20, 4ull << 20, 8ull << 20, 16ull << 20}) {
    uint64_t remote = 0, warm_remote = 0, restart_remote = 0;
    double warm = 0, first = 0, restart = 0;
    const double cold = median_seconds(kRuns, [&] {
      memrun::SharedWorkerContext::Options o;
      o.service = "bench";
      o.memory_budget_bytes = 1ull << 30;
      o.range_chunk_bytes = chunk;
      if (disk_dir) {
        std::filesystem::remove_all(std::string(disk_dir) + "/bench");
        o.disk_dir = std::string(disk_dir) + "/bench";
        o.disk_budget_bytes = 8ull << 30;
      }
      memrun::SharedWorkerContext ctx(o);
      for (auto [off, len] : ranges) ctx.get_range(s3_url, off, len);
      remote = ctx.cache_stats().remote_bytes;
      const auto start = Clock::now();
      for (auto [off, len] : ranges) ctx.get_range(s3_url, off, len);
      warm = seconds_since(start);
      warm_remote = ctx.cache_stats().remote_bytes - remote;
    }, &first);
    if (disk_dir) {  // the last cold run's disk entries, read by a new context
      memrun::SharedWorkerContext::Options o;
      o.service = "bench";
      o.memory_budget_bytes = 1ull << 30;
      o.range_chunk_bytes = chunk;
      o.disk_dir = std::string(disk_dir) + "/bench";
      o.disk_budget_bytes = 8ull << 30;
      memrun::SharedWorkerContext restarted(o);
      const auto start = Clock::now();
      for (auto [off, len] : ranges) restarted.get_range(s3_url, off, len);
      restart = seconds_since(start);
      restart_remote = restarted.cache_stats().remote_bytes;
    }
    std::printf("%7llu MiB %12.1f %8.2f %16.2f %14.1f %12.3f %14llu", static_cast<unsigned long long>(chunk >> 20),
                cold * 1e3, cold / curl, first / curl, remote / 1048576.0, warm * 1e3,
                static_cast<unsigned long long>(warm_remote));
    if (disk_dir) std::printf(" %12.3f %14llu", restart * 1e3, static_cast<unsigned long long>(restart_remote));
    std::printf("\n");
  }
  return 0;
}
