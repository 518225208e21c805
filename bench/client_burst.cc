// Client CPU and lost replies under a burst: N requests submitted at once to a
// running service, every future awaited. This process holds only the Client
// (the cluster and the worker run elsewhere), so its CPU time is the client's.
// Linear growth means CPU per request stays flat as N grows.
//
//   build/bench/memrun_bench_client_burst BOOTSTRAP SERVICE [N...]   (default 3000 10000 20000)
//
// bench/run_client_burst.sh starts `memrun dev-kafka` and a c_echo worker and runs it.
#include <memrun/memrun.hpp>

#include "timing.hpp"

#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>


#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

using memrun::bench::cpu_seconds;

int main(int argc, char** argv) {
  if (argc < 3) {
    std::fprintf(stderr, "usage: %s BOOTSTRAP SERVICE [N...]\n", argv[0]);
    return 2;
  }
  spdlog::set_level(spdlog::level::warn);
  std::vector<int> sizes;
  for (int i = 3; i < argc; ++i) {
    const int n = std::atoi(argv[i]);
    if (n < 1 || n > 1000000) {
      std::fprintf(stderr, "burst size %s out of range 1..1000000\n", argv[i]);
      return 2;
    }
    sizes.push_back(n);
  }
  if (sizes.empty()) sizes = {3000, 10000, 20000};

  memrun::ClientOptions options;
  options.kafka.bootstrap_servers = argv[1];
  options.kafka.properties = memrun::EmbeddedKafka::client_properties();
  options.timeout = std::chrono::seconds(300);
  memrun::Client client(options);
  const std::string service = argv[2];
  const std::string pad(200, 'x');

  std::printf("%8s %10s %12s %16s %8s\n", "burst", "wall s", "client CPU s", "CPU us/request", "lost");
  int lost_total = 0;
  for (int n : sizes) {
    const double cpu0 = cpu_seconds();
    const auto t0 = std::chrono::steady_clock::now();
    std::vector<std::future<memrun::Response>> futures;
    futures.reserve(static_cast<size_t>(n));
    for (int i = 0; i < n; ++i)
      futures.push_back(client.submit(service, nlohmann::json{{"user_id", i}, {"pad", pad}}));
    int lost = 0;
    for (auto& f : futures) lost += !f.get().ok();
    const double wall = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    const double cpu = cpu_seconds() - cpu0;
    std::printf("%8d %10.2f %12.2f %16.1f %8d\n", n, wall, cpu, cpu * 1e6 / n, lost);
    std::fflush(stdout);
    lost_total += lost;
  }
  return lost_total == 0 ? 0 : 1;
}
