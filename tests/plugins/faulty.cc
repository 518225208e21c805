// A plugin whose failures the runtime tests control through the payload:
//   {"op": "throw"}                        always throws std::runtime_error
//   {"op": "throw", "ms": N}               the same after sleeping N ms
//   {"op": "flaky", "id": X, "fails": N}   unavailable N times per id, then ok
//   {"op": "count", "id": X}               how often this id ran here
//   {"op": "sleep", "ms": N}               sleeps N ms (stops early if cancelled);
//                                          replies with the most handlers seen
//                                          running at once in this worker and
//                                          whether it saw cancelled()
//   {"op": "sleep", "ms": N, "stubborn": true}  the same, ignoring cancellation
#include <memrun/plugin.hpp>

#include <map>
#include <mutex>
#include <thread>

namespace {

struct Runs {
  std::mutex mu;
  std::map<std::string, int> by_id;
  int running = 0;
  int max_running = 0;
  int bump(const std::string& id) {
    std::lock_guard lock(mu);
    return ++by_id[id];
  }
};

void init(memrun::sdk::Host& host) { host.make_object<Runs>("runs", sizeof(Runs)); }

nlohmann::json handle(memrun::sdk::Request& rq) {
  const auto op = rq.json.at("op").get<std::string>();
  auto* runs = rq.host.get_object<Runs>("runs");
  if (op == "throw") {
    std::this_thread::sleep_for(std::chrono::milliseconds(rq.json.value("ms", 0)));
    throw std::runtime_error("boom");
  }
  if (op == "flaky") {
    int n = runs->bump("flaky/" + rq.json.at("id").get<std::string>());
    if (n <= rq.json.at("fails").get<int>())
      throw memrun::Error(memrun::Code::kUnavailable, "transient failure " + std::to_string(n));
    return {{"attempts", n}};
  }
  if (op == "count") return {{"runs", runs->bump("count/" + rq.json.at("id").get<std::string>())}};
  if (op == "sleep") {
    {
      std::lock_guard lock(runs->mu);
      runs->max_running = std::max(runs->max_running, ++runs->running);
    }
    const bool stubborn = rq.json.value("stubborn", false);
    bool cancelled = false;
    auto until = std::chrono::steady_clock::now() + std::chrono::milliseconds(rq.json.at("ms").get<int>());
    while (std::chrono::steady_clock::now() < until && (stubborn || !(cancelled = rq.host.cancelled())))
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    std::lock_guard lock(runs->mu);
    --runs->running;
    return {{"slept", rq.json["ms"]}, {"max_running", runs->max_running}, {"cancelled", cancelled}};
  }
  throw memrun::Error(memrun::Code::kInvalidArgument, "unknown op " + op);
}

}  // namespace

MEMRUN_PLUGIN("faulty", "1.0.0", R"({"name": "faulty", "sticky_key": "k", "concurrency": 4})", init, handle,
              nullptr)
