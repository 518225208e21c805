// echo — the reference plugin written with plugin.hpp.
//
// Replies with the request, the sticky-key fields it was routed by and how many
// requests this worker has served: the counter lives in the worker's object
// store, set once by init, so it shows warm per-worker state.
#include <memrun/plugin.hpp>

#include <atomic>

namespace {

using Counter = std::atomic<uint64_t>;

void init(memrun::sdk::Host& host) {
  host.make_object<Counter>("echo.served", sizeof(Counter), 0u);
  host.info("echo ready");
}

nlohmann::json handle(memrun::sdk::Request& rq) {
  if (rq.json.contains("fail"))
    throw memrun::Error(memrun::Code::kInvalidArgument, "asked to fail: " + rq.json["fail"].dump());
  auto* served = rq.host.get_object<Counter>("echo.served");
  uint64_t n = served->fetch_add(1) + 1;
  return {{"echo", rq.json}, {"served_by_this_worker", n}};
}

}  // namespace

MEMRUN_PLUGIN("echo", "1.0.0", R"({"name": "echo", "sticky_key": "user_id", "concurrency": 8})", init,
              handle, nullptr)
