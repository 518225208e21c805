// A plugin whose failures the runtime tests control through the payload:
//   {"op": "throw"}                        always throws std::runtime_error
//   {"op": "throw", "ms": N}               the same after sleeping N ms (or until released)
//   {"op": "flaky", "id": X, "fails": N}   unavailable N times per id, then ok
//   {"op": "count", "id": X}               how often this id ran here
//   {"op": "sleep", "ms": N}               sleeps N ms (stops early if cancelled);
//                                          replies with the most handlers seen
//                                          running at once in this worker and
//                                          whether it saw cancelled()
//   {"op": "sleep", "ms": N, "stubborn": true}  the same, ignoring cancellation
// Any op also takes, so that tests wait on the handler instead of sleeping:
//   "entered": PATH   appends a line to PATH when the handler begins
//   "release": PATH   (sleep) returns as soon as PATH exists, at most after ms
// and every reply carries "seq": the order in which handlers began here.
#include <memrun/plugin.hpp>

#include <fstream>
#include <map>
#include <mutex>
#include <thread>
#include <unistd.h>

namespace {

struct Runs {
  std::mutex mu;
  std::map<std::string, int> by_id;
  int running = 0;
  int max_running = 0;
  int began = 0;
  int bump(const std::string& id) {
    std::lock_guard lock(mu);
    return ++by_id[id];
  }
};

void init(memrun::sdk::Host& host) { host.make_object<Runs>("runs", sizeof(Runs)); }

nlohmann::json run_op(memrun::sdk::Request& rq, Runs* runs);

nlohmann::json handle(memrun::sdk::Request& rq) {
  auto* runs = rq.host.get_object<Runs>("runs");
  int seq = 0;
  {
    std::lock_guard lock(runs->mu);
    seq = ++runs->began;
  }
  if (rq.json.contains("entered")) std::ofstream(rq.json.at("entered").get<std::string>(), std::ios::app) << seq << "\n";
  nlohmann::json reply = run_op(rq, runs);
  reply["seq"] = seq;
  return reply;
}

nlohmann::json run_op(memrun::sdk::Request& rq, Runs* runs) {
  const auto op = rq.json.at("op").get<std::string>();
  const std::string release = rq.json.value("release", "");
  auto released = [&] { return !release.empty() && ::access(release.c_str(), F_OK) == 0; };
  const auto until = std::chrono::steady_clock::now() + std::chrono::milliseconds(rq.json.value("ms", 0));
  if (op == "throw") {
    while (std::chrono::steady_clock::now() < until && !released())
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
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
    while (std::chrono::steady_clock::now() < until && !released() &&
           (stubborn || !(cancelled = rq.host.cancelled())))
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
