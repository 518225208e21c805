// Streaming reads against baselines measured in the same run, on one large
// remote object (s3rver):
//   - time to first byte: open_stream + read(0, 1) in a fresh context (no
//     disk tier), against the curl CLI fetching the first chunk (8 MiB) of
//     the same object over HTTP;
//   - full scan: open_stream, then chunk-aligned 8 MiB reads to the end,
//     against get_or_fetch of the whole object (today's parallel ranged
//     download into memory), as throughput; and when the scan's first read
//     returned, against when get_or_fetch returned.
// Each figure is the median of kRuns runs; prints, asserts nothing.
//
//   MEMRUN_BENCH_S3_URL=s3://… MEMRUN_BENCH_HTTP_URL=http://… build/bench/memrun_bench_stream_reads SIZE_BYTES [READ_AHEAD...]
// bench/run_stream_reads.sh starts s3rver, uploads the object and sets both.
#include <memrun/context.hpp>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

using Clock = std::chrono::steady_clock;

namespace {

constexpr uint64_t kChunk = 8 << 20;
constexpr int kRuns = 3;

double seconds_since(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

memrun::SharedWorkerContext::Options context_options() {
  memrun::SharedWorkerContext::Options o;
  o.service = "bench";
  o.memory_budget_bytes = 4ull << 30;
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
  std::printf("object %.0f MiB, chunks of %llu MiB, medians of %d runs\n", size / 1048576.0,
              static_cast<unsigned long long>(kChunk >> 20), kRuns);

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

  // Full scan.
  std::vector<double> whole;
  for (int i = 0; i < kRuns; ++i) {
    memrun::SharedWorkerContext ctx(context_options());
    const auto start = Clock::now();
    memrun::Blob b = ctx.get_or_fetch(s3_url);
    whole.push_back(seconds_since(start));
    if (b.size() != size) std::fprintf(stderr, "get_or_fetch: %zu bytes, not %llu\n", b.size(), static_cast<unsigned long long>(size));
  }
  const double w = median(whole);
  std::printf("get_or_fetch whole: %.0f ms, %.0f MB/s\n", w * 1e3, size / w / 1e6);
  std::printf("%12s %10s %10s %12s %16s\n", "read-ahead", "scan ms", "MB/s", "x whole", "first read ms");
  for (uint32_t window : windows) {
    std::vector<double> scan, first;
    for (int i = 0; i < kRuns; ++i) {
      memrun::SharedWorkerContext ctx(context_options());
      memrun::StreamOptions o;
      o.read_ahead_chunks = window;
      const auto start = Clock::now();
      memrun::StreamingObject stream = ctx.open_stream(s3_url, o);
      uint64_t sum = 0;
      for (uint64_t at = 0; at < size; at += kChunk) {
        memrun::Blob part = stream.read(at, std::min(kChunk, size - at));
        if (at == 0) first.push_back(seconds_since(start));
        sum += static_cast<uint64_t>(part.data()[part.size() - 1]);  // touch it
      }
      scan.push_back(seconds_since(start));
      if (sum == 1) std::printf(" ");
    }
    const double s = median(scan);
    std::printf("%12u %10.0f %10.0f %12.2f %16.1f\n", window, s * 1e3, size / s / 1e6, w / s, median(first) * 1e3);
  }
  std::printf("(x whole: the scan's throughput over get_or_fetch's, target >= 0.95; first read: when the scan's "
              "first 8 MiB were there, against %.0f ms for the whole)\n", w * 1e3);
  return 0;
}
