// Request path: the memrun worker against a raw two-hop echo. One Client
// sends each target the same requests (client → request topic → worker or
// raw echo → reply topic → client) on the same cluster with the same
// settings; the first target is the baseline, and every other target's
// figures are printed as ratios of it, measured in the same round.
//
//   build/bench/memrun_bench_request_path BOOTSTRAP ROUND_TRIPS BURST RUNS LABEL=SERVICE:PID...
//
// Per target and round:
//   p50       of ROUND_TRIPS sequential requests (client-side latency)
//   burst     requests per second when BURST are submitted at once
//   CPU       µs per request of the target process over the burst: the sum
//             of its threads' run time in /proc/PID/task/*/schedstat (ns;
//             utime+stime in /proc/PID/stat counts 10 ms ticks, too coarse
//             for a raw echo's few ms per burst)
//   switches  context switches per request over the burst, voluntary and
//             not, summed over /proc/PID/task/*/status
// Rounds interleave the targets (round 1: A, B, C; round 2: A, B, C ...), so
// a change in machine load hits them alike. The table gives medians of the
// rounds with [min-max]; the ratios are taken per round, then summarised.
// bench/run_request_path.sh starts the cluster and the targets.
#include <memrun/memrun.hpp>

#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

namespace {

using Clock = std::chrono::steady_clock;

struct Target {
  std::string label, service;
  int pid = 0;
};

struct Figures {
  double p50_us = 0, per_second = 0, cpu_us_per_request = 0, switches_per_request = 0;
};

// Run time (ns) and context switches of every thread of `pid`.
struct ProcessTimes {
  double cpu_ns = 0;
  double switches = 0;
};

ProcessTimes process_times(int pid) {
  ProcessTimes t;
  const std::filesystem::path tasks = "/proc/" + std::to_string(pid) + "/task";
  std::error_code ec;
  for (const auto& task : std::filesystem::directory_iterator(tasks, ec)) {
    std::ifstream schedstat(task.path() / "schedstat");
    double run_ns = 0;
    if (schedstat >> run_ns) t.cpu_ns += run_ns;
    std::ifstream status(task.path() / "status");
    std::string line;
    while (std::getline(status, line)) {
      if (line.rfind("voluntary_ctxt_switches:", 0) == 0 || line.rfind("nonvoluntary_ctxt_switches:", 0) == 0)
        t.switches += std::atof(line.substr(line.find(':') + 1).c_str());
    }
  }
  if (ec) {
    std::fprintf(stderr, "cannot read %s: %s\n", tasks.c_str(), ec.message().c_str());
    std::exit(1);
  }
  return t;
}

double percentile(std::vector<double> v, double q) {
  std::sort(v.begin(), v.end());
  return v[static_cast<size_t>(q * static_cast<double>(v.size() - 1))];
}

struct Summary {
  double median, min, max;
};
Summary summarise(const std::vector<double>& v) {
  return {percentile(v, 0.5), *std::min_element(v.begin(), v.end()), *std::max_element(v.begin(), v.end())};
}

Figures measure(memrun::Client& client, const Target& target, int round_trips, int burst) {
  const std::string pad(1000, 'x');
  auto request = [&](int i) { return nlohmann::json{{"user_id", i % 64}, {"pad", pad}}; };
  int failed = 0;
  for (int i = 0; i < 20; ++i) failed += !client.submit(target.service, request(i)).get().ok();  // warm-up
  std::vector<double> latency;
  for (int i = 0; i < round_trips; ++i) {
    auto r = client.submit(target.service, request(i)).get();
    failed += !r.ok();
    latency.push_back(static_cast<double>(r.latency.count()));
  }
  const ProcessTimes before = process_times(target.pid);
  const auto t0 = Clock::now();
  std::vector<std::future<memrun::Response>> futures;
  futures.reserve(static_cast<size_t>(burst));
  for (int i = 0; i < burst; ++i) futures.push_back(client.submit(target.service, request(i)));
  for (auto& f : futures) failed += !f.get().ok();
  const double seconds = std::chrono::duration<double>(Clock::now() - t0).count();
  const ProcessTimes after = process_times(target.pid);
  if (failed) {
    std::fprintf(stderr, "%s: %d requests failed\n", target.label.c_str(), failed);
    std::exit(1);
  }
  return {percentile(latency, 0.5), burst / seconds, (after.cpu_ns - before.cpu_ns) / 1000.0 / burst,
          (after.switches - before.switches) / burst};
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 7) {
    std::fprintf(stderr, "usage: %s BOOTSTRAP ROUND_TRIPS BURST RUNS LABEL=SERVICE:PID (baseline first) LABEL=SERVICE:PID...\n",
                 argv[0]);
    return 2;
  }
  spdlog::set_level(spdlog::level::warn);
  const int round_trips = std::atoi(argv[2]), burst = std::atoi(argv[3]), runs = std::atoi(argv[4]);
  if (round_trips < 1 || burst < 1 || runs < 1) {
    std::fprintf(stderr, "ROUND_TRIPS, BURST and RUNS must be positive\n");
    return 2;
  }
  std::vector<Target> targets;
  for (int i = 5; i < argc; ++i) {
    const std::string spec = argv[i];
    const auto eq = spec.find('='), colon = spec.rfind(':');
    if (eq == std::string::npos || colon == std::string::npos || colon < eq) {
      std::fprintf(stderr, "bad target '%s': want LABEL=SERVICE:PID\n", spec.c_str());
      return 2;
    }
    targets.push_back({spec.substr(0, eq), spec.substr(eq + 1, colon - eq - 1), std::atoi(spec.c_str() + colon + 1)});
  }

  memrun::ClientOptions options;
  options.kafka.bootstrap_servers = argv[1];
  options.kafka.properties = memrun::EmbeddedKafka::client_properties();
  options.timeout = std::chrono::seconds(120);
  // Replies spread over 4 partitions: a burst's replies (BURST x ~1.1 KiB)
  // outgrow the mock cluster's per-partition log while the reader shares 2
  // cores with the worker and the cluster (docs/performance.md).
  options.reply_partitions = 4;
  memrun::Client client(options);
  for (const auto& t : targets) client.set_sticky_key(t.service, "user_id");

  // results[target][round]
  std::vector<std::vector<Figures>> results(targets.size());
  for (int run = 0; run < runs; ++run) {
    for (size_t t = 0; t < targets.size(); ++t) {
      results[t].push_back(measure(client, targets[t], round_trips, burst));
      const Figures& f = results[t].back();
      std::fprintf(stderr, "round %d %-10s p50 %7.0f us  %8.0f/s  %7.1f us CPU/req  %5.2f switches/req\n", run + 1,
                   targets[t].label.c_str(), f.p50_us, f.per_second, f.cpu_us_per_request, f.switches_per_request);
    }
  }

  auto column = [&](size_t t, double Figures::*field) {
    std::vector<double> v;
    for (const auto& f : results[t]) v.push_back(f.*field);
    return summarise(v);
  };
  auto ratio_column = [&](size_t t, double Figures::*field) {
    std::vector<double> v;
    for (int r = 0; r < runs; ++r) v.push_back(results[t][r].*field / results[0][r].*field);
    return summarise(v);
  };
  auto cell = [](Summary s, const char* fmt) {
    auto text = [fmt](double v) {
      char buf[32];
      std::snprintf(buf, sizeof buf, fmt, v);
      return std::string(buf);
    };
    return text(s.median) + " [" + text(s.min) + "-" + text(s.max) + "]";
  };
  std::printf("request path, %d sequential round trips and a burst of %d, 1 KiB payloads, medians of %d rounds "
              "[min-max]\n",
              round_trips, burst, runs);
  std::printf("%-10s %-22s %-24s %-22s %-22s\n", "target", "p50 us", "burst req/s", "CPU us/request",
              "switches/request");
  for (size_t t = 0; t < targets.size(); ++t)
    std::printf("%-10s %-22s %-24s %-22s %-22s\n", targets[t].label.c_str(),
                cell(column(t, &Figures::p50_us), "%.0f").c_str(),
                cell(column(t, &Figures::per_second), "%.0f").c_str(),
                cell(column(t, &Figures::cpu_us_per_request), "%.1f").c_str(),
                cell(column(t, &Figures::switches_per_request), "%.2f").c_str());
  std::printf("ratios to %s, per round:\n", targets[0].label.c_str());
  for (size_t t = 1; t < targets.size(); ++t)
    std::printf("%-10s %-22s %-24s %-22s %-22s\n", targets[t].label.c_str(),
                cell(ratio_column(t, &Figures::p50_us), "%.2fx").c_str(),
                cell(ratio_column(t, &Figures::per_second), "%.2fx").c_str(),
                cell(ratio_column(t, &Figures::cpu_us_per_request), "%.1fx").c_str(),
                cell(ratio_column(t, &Figures::switches_per_request), "%.1fx").c_str());
  return 0;
}
