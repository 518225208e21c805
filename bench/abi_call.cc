// Plugin call overhead through the C ABI: the worker's call of a plugin's
// handler (MemoryService::handle made by load_plugin: a memrun_call, the
// descriptor's handle pointer, host->reply copying the reply, the return
// code checked) against the same work as a direct C++ handler (the reply
// made from the payload in one copy), both called as the worker calls them,
// through MemoryService::handle with one RequestContext. Rounds alternate
// the two so a change in machine load hits both; the figures are medians
// of the rounds with [min-max].
//
//   build/bench/memrun_bench_abi_call PLUGIN.so [calls_per_round=1000000] [rounds=7]
#include <memrun/memrun.hpp>
#include <memrun/plugin_loader.hpp>

#include <nlohmann/json.hpp>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

namespace {

using Clock = std::chrono::steady_clock;

// What both handlers see: a fixed request.
class BenchRequest final : public memrun::RequestContext {
 public:
  BenchRequest(memrun::SharedWorkerContext& worker, std::string payload)
      : worker_(worker), payload_(std::move(payload)), json_(nlohmann::json::parse(payload_)) {}
  std::string_view payload() const override { return payload_; }
  const nlohmann::json& json() const override { return json_; }
  const std::string& key() const override { return key_; }
  const std::string& request_id() const override { return id_; }
  int32_t partition() const override { return 0; }
  int64_t offset() const override { return 0; }
  std::chrono::system_clock::time_point deadline() const override { return std::chrono::system_clock::time_point::max(); }
  bool cancelled() const override { return false; }
  memrun::SharedWorkerContext& worker() override { return worker_; }

 private:
  memrun::SharedWorkerContext& worker_;
  std::string payload_;
  nlohmann::json json_;
  std::string key_ = "7", id_ = "bench";
};

// ns per call of `handle`, over `calls` calls; the reply sizes are summed so
// the compiler cannot drop a call.
double ns_per_call(const memrun::RequestHandler& handle, memrun::RequestContext& rq, int calls, size_t& sink) {
  const auto t0 = Clock::now();
  for (int i = 0; i < calls; ++i) sink += handle(rq).body().size();
  return std::chrono::duration<double, std::nano>(Clock::now() - t0).count() / calls;
}

struct Summary {
  double median, min, max;
};
Summary summarise(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return {v[v.size() / 2], v.front(), v.back()};
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: %s PLUGIN.so [calls_per_round] [rounds]\n", argv[0]);
    return 2;
  }
  const int calls = argc > 2 ? std::atoi(argv[2]) : 1000000;
  const int rounds = argc > 3 ? std::atoi(argv[3]) : 7;
  if (calls < 1 || rounds < 1) {
    std::fprintf(stderr, "calls_per_round and rounds must be positive\n");
    return 2;
  }
  const memrun::MemoryService through_abi = memrun::load_plugin(argv[1])->service();
  memrun::RequestHandler direct = [](memrun::RequestContext& rq) {
    return memrun::Reply::raw(std::string(rq.payload()));
  };
  memrun::SharedWorkerContext::Options options;
  options.service = "abi_call";
  options.memory_budget_bytes = 1 << 20;
  memrun::SharedWorkerContext worker(options);
  BenchRequest rq(worker, R"({"user_id": 7, "pad": ")" + std::string(200, 'x') + R"("})");

  size_t sink = 0;
  (void)ns_per_call(direct, rq, calls / 10 + 1, sink);  // warm-up: caches, branch predictors, the allocator
  (void)ns_per_call(through_abi.handle, rq, calls / 10 + 1, sink);
  std::vector<double> direct_ns, abi_ns, overhead_ns;
  for (int r = 0; r < rounds; ++r) {
    direct_ns.push_back(ns_per_call(direct, rq, calls, sink));
    abi_ns.push_back(ns_per_call(through_abi.handle, rq, calls, sink));
    overhead_ns.push_back(abi_ns.back() - direct_ns.back());
  }
  const Summary d = summarise(direct_ns), a = summarise(abi_ns), o = summarise(overhead_ns);
  std::printf("handler call, %d calls x %d rounds, %zu-byte payload echoed (checksum %zu)\n", calls, rounds,
              rq.payload().size(), sink);
  std::printf("direct C++ handler   %7.1f ns/call [%.1f-%.1f]\n", d.median, d.min, d.max);
  std::printf("plugin via C ABI     %7.1f ns/call [%.1f-%.1f]\n", a.median, a.min, a.max);
  std::printf("ABI overhead         %7.1f ns/call [%.1f-%.1f] (target <= 100 ns)\n", o.median, o.min, o.max);
  return 0;
}
