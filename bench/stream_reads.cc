// Streaming reads against baselines measured in the same run, on one large
// remote object (s3rver):
//   - time to first byte: open_stream + read(0, 1) in a fresh context (no
//     disk tier), against the curl CLI fetching the first chunk of the same
//     object over HTTP;
//   - full scan: open_stream, then chunk-aligned, chunk-sized reads to the end,
//     against get_or_fetch of the whole object (today's parallel ranged
//     download into memory) in the same round, as throughput; and when the
//     scan's first read returned, against when get_or_fetch returned.
// The chunk is the context's default, or MEMRUN_BENCH_CHUNK_MIB; the RAM
// budget 4 GiB, or MEMRUN_BENCH_MEMORY_MIB. Each
// figure is the median of kRuns runs; prints, asserts nothing.
//
//   MEMRUN_BENCH_S3_URL=s3://… MEMRUN_BENCH_HTTP_URL=http://… [MEMRUN_BENCH_CHUNK_MIB=N] build/bench/memrun_bench_stream_reads SIZE_BYTES [READ_AHEAD...]
// bench/run_stream_reads.sh starts s3rver, uploads the object and sets both.
#include <memrun/context.hpp>

#include "timing.hpp"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <tuple>
#include <vector>

using memrun::bench::Clock;
using memrun::bench::cpu_seconds;
using memrun::bench::seconds_since;

namespace {

constexpr int kRuns = 5;

// The chunk of ranged reads and streams: the library's default unless set.
const uint64_t kChunk = [] {
  const char* mib = std::getenv("MEMRUN_BENCH_CHUNK_MIB");
  return mib ? std::strtoull(mib, nullptr, 10) << 20 : memrun::SharedWorkerContext::Options{}.range_chunk_bytes;
}();

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

// The RAM budget: 4 GiB (the object stays in RAM) unless
// MEMRUN_BENCH_MEMORY_MIB says less, as for an object streamed because it is
// larger than what RAM may keep (then the RAM tier evicts chunks as the scan
// goes, and their buffers are reused).
uint64_t memory_budget() {
  const char* mib = std::getenv("MEMRUN_BENCH_MEMORY_MIB");
  return mib ? std::strtoull(mib, nullptr, 10) << 20 : 4ull << 30;
}

memrun::SharedWorkerContext::Options context_options() {
  memrun::SharedWorkerContext::Options o;
  o.service = "bench";
  o.memory_budget_bytes = memory_budget();
  o.range_chunk_bytes = kChunk;
  return o;
}

}  // namespace

int main(int argc, char** argv) {
  const char* s3_url = std::getenv("MEMRUN_BENCH_S3_URL");
  const char* http_url = std::getenv("MEMRUN_BENCH_HTTP_URL");
  if (argc < 2 || !s3_url || !http_url) {
    std::fprintf(stderr, "usage: MEMRUN_BENCH_S3_URL=… MEMRUN_BENCH_HTTP_URL=… %s SIZE_BYTES [READ_AHEAD...]\n",
                 argv[0]);
    return 2;
  }
  const uint64_t size = std::strtoull(argv[1], nullptr, 10);
  std::vector<uint32_t> windows;
  for (int i = 2; i < argc; ++i) windows.push_back(static_cast<uint32_t>(std::strtoul(argv[i], nullptr, 10)));
  if (windows.empty()) windows.push_back(memrun::StreamOptions{}.read_ahead_chunks);
  std::printf("object %.0f MiB, chunks of %llu MiB, RAM budget %llu MiB, medians of %d runs\n", size / 1048576.0,
              static_cast<unsigned long long>(kChunk >> 20), static_cast<unsigned long long>(memory_budget() >> 20),
              kRuns);

  // Time to first byte.
  std::vector<double> curl, first_byte;
  for (int i = 0; i < kRuns; ++i) {
    const std::string cmd = "curl -sf -o /dev/null -r 0-" + std::to_string(kChunk - 1) + " '" + http_url + "'";
    auto start = Clock::now();
    if (std::system(cmd.c_str()) != 0) std::fprintf(stderr, "curl failed: %s\n", cmd.c_str());
    curl.push_back(seconds_since(start));
    memrun::SharedWorkerContext ctx(context_options());
    start = Clock::now();
    memrun::StreamingObject stream = ctx.open_stream(s3_url);
    stream.read(0, 1);
    first_byte.push_back(seconds_since(start));
  }
  const double c = median(curl), f = median(first_byte);
  std::printf("first byte: stream %.1f ms, curl one chunk %.1f ms: %.2fx (target <= 1.5x)\n", f * 1e3, c * 1e3, f / c);

  // Full scan. Each round fetches the object whole and then scans it once
  // per read-ahead, so a drift of the server (s3rver's pace moves by 20 %
  // between minutes) meets both sides of a ratio; the ratio is taken per
  // round, and its median and range are printed.
  std::vector<double> whole_cpu;
  const auto fetch_whole = [&] {
    memrun::SharedWorkerContext ctx(context_options());
    const double cpu = cpu_seconds();
    const auto start = Clock::now();
    memrun::Blob b = ctx.get_or_fetch(s3_url);
    const double t = seconds_since(start);
    whole_cpu.push_back(cpu_seconds() - cpu);
    if (b.size() != size) std::fprintf(stderr, "get_or_fetch: %zu bytes, not %llu\n", b.size(), static_cast<unsigned long long>(size));
    return t;
  };
  // Seconds for the scan, and until its first chunk was there.
  const auto scan_once = [&](uint32_t window) {
    memrun::SharedWorkerContext ctx(context_options());
    memrun::StreamOptions o;
    o.read_ahead_chunks = window;
    const double cpu = cpu_seconds();
    const auto start = Clock::now();
    memrun::StreamingObject stream = ctx.open_stream(s3_url, o);
    double first = 0;
    uint64_t sum = 0;
    for (uint64_t at = 0; at < size; at += kChunk) {
      memrun::Blob part = stream.read(at, std::min(kChunk, size - at));
      if (at == 0) first = seconds_since(start);
      sum += static_cast<uint64_t>(part.data()[part.size() - 1]);  // touch it
    }
    const double t = seconds_since(start);
    if (sum == 1) std::printf(" ");
    return std::make_tuple(t, first, cpu_seconds() - cpu);
  };
  std::vector<double> whole;
  std::vector<std::vector<double>> scan(windows.size()), first(windows.size()), ratio(windows.size()),
      scan_cpu(windows.size());
  for (int i = 0; i < kRuns; ++i) {
    whole.push_back(fetch_whole());
    for (size_t w = 0; w < windows.size(); ++w) {
      const auto [t, f, cpu] = scan_once(windows[w]);
      scan[w].push_back(t);
      scan_cpu[w].push_back(cpu);
      first[w].push_back(f);
      ratio[w].push_back(whole.back() / t);
    }
  }
  const double w = median(whole);
  std::printf("get_or_fetch whole: %.0f ms, %.0f MB/s, this process's CPU %.2f s\n", w * 1e3, size / w / 1e6,
              median(whole_cpu));
  std::printf("%12s %10s %10s %22s %16s %8s\n", "read-ahead", "scan ms", "MB/s", "x whole [min-max]", "first read ms",
              "CPU s");
  for (size_t i = 0; i < windows.size(); ++i) {
    const double s = median(scan[i]);
    std::printf("%12u %10.0f %10.0f %10.2f [%.2f-%.2f] %16.1f %8.2f\n", windows[i], s * 1e3, size / s / 1e6,
                median(ratio[i]), *std::min_element(ratio[i].begin(), ratio[i].end()),
                *std::max_element(ratio[i].begin(), ratio[i].end()), median(first[i]) * 1e3, median(scan_cpu[i]));
  }
  std::printf("(x whole: per round, the whole fetch's time over the scan's, target >= 0.95; first read: when the scan's "
              "first chunk was there, against %.0f ms for the whole)\n", w * 1e3);
  return 0;
}
