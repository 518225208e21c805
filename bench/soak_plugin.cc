// The soak bench's service (bench/soak.cc drives it). Ops, by payload:
//   {"op": "echo", "n": N}          replies {"n": N}
//   {"op": "sleep", "ms": N}        sleeps N ms (stops early if cancelled)
//   {"op": "fetch", "url": U}       reads U through the worker's tiered cache;
//                                   replies its size, the tier that served it
//                                   and the FNV-1a hash of every byte, so the
//                                   driver can check what came back
//   {"op": "crash"}                 kills the process with SIGSEGV, as a real
//                                   bug would: the poison request
// The budgets in the service JSON are small on purpose: the driver fetches
// more distinct bytes than `disk`, so the disk tier must evict.
#include <memrun/plugin.hpp>

#include <chrono>
#include <cstdint>
#include <thread>

namespace {

uint64_t fnv1a(std::string_view bytes) {
  uint64_t h = 0xcbf29ce484222325ULL;
  for (unsigned char c : bytes) h = (h ^ c) * 0x100000001b3ULL;
  return h;
}

nlohmann::json handle(memrun::sdk::Request& rq) {
  const auto op = rq.json.at("op").get<std::string>();
  if (op == "echo") return {{"n", rq.json.at("n")}};
  if (op == "sleep") {
    auto until = std::chrono::steady_clock::now() + std::chrono::milliseconds(rq.json.at("ms").get<int>());
    while (std::chrono::steady_clock::now() < until && !rq.host.cancelled())
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    return {{"slept", rq.json.at("ms")}};
  }
  if (op == "fetch") {
    auto blob = rq.host.get_or_fetch(rq.json.at("url").get<std::string>());
    return {{"size", blob.size}, {"tier", blob.tier}, {"fnv1a", fnv1a(blob.view())}};
  }
  if (op == "crash") {
    volatile int* nowhere = nullptr;
    *nowhere = 1;
  }
  throw memrun::Error(memrun::Code::kInvalidArgument, "unknown op " + op);
}

}  // namespace

MEMRUN_PLUGIN("soak", "1.0.0",
              R"({"name": "soak", "sticky_key": "k", "concurrency": 8, "memory": "24Mi", "disk": "32Mi",
                  "timeout_seconds": 120})",
              nullptr, handle, nullptr)
