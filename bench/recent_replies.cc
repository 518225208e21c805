// The recent-replies window's cost per request (one find, one remember, as
// HandlerRunner::run does) once the window is full, against the plain design
// measured in the same run: one mutex over an unordered_map of id and body
// strings and a deque of ids, oldest out first.
//
//   build/bench/memrun_bench_recent_replies [THREADS=16] [BODY_BYTES=1024] [REQUESTS_PER_THREAD=20000]
//
// CPU ns are the process's (CLOCK_PROCESS_CPUTIME_ID), so threads waiting
// for a lock count only while they spin; ids are made outside the timing.
#include "runtime/recent_replies.hpp"

#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <deque>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <type_traits>
#include <unordered_map>
#include <vector>

namespace {

using memrun::internal::RecentReplies;
constexpr size_t kWindow = 10000;  // MemoryService::dedup_window's default

class PlainWindow {
 public:
  std::optional<std::string> find(const std::string& id) const {
    std::lock_guard lock(mu_);
    auto it = outcomes_.find(id);
    if (it == outcomes_.end()) return std::nullopt;
    return it->second;
  }
  void remember(const std::string& id, const std::string& body) {
    std::lock_guard lock(mu_);
    if (!outcomes_.emplace(id, body).second) return;
    order_.push_back(id);
    if (order_.size() > kWindow) {
      outcomes_.erase(order_.front());
      order_.pop_front();
    }
  }

 private:
  mutable std::mutex mu_;
  std::unordered_map<std::string, std::string> outcomes_;
  std::deque<std::string> order_;
};

double cpu_ns() {
  timespec t{};
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
  return static_cast<double>(t.tv_sec) * 1e9 + static_cast<double>(t.tv_nsec);
}

// ns of CPU per request over `per_thread` requests on each of `threads`
// threads, after enough to fill the window.
template <typename Window>
double measure(Window& window, int threads, int per_thread, const std::string& body) {
  std::vector<std::vector<std::string>> ids(static_cast<size_t>(threads));
  const int fill = static_cast<int>(kWindow) / threads + 1;
  for (int t = 0; t < threads; ++t)
    for (int i = 0; i < fill + per_thread; ++i) {
      char id[64];
      std::snprintf(id, sizeof id, "%08x-0000-4000-8000-%012d", t, i);  // uuid-shaped, as Client's
      ids[static_cast<size_t>(t)].emplace_back(id);
    }
  auto run = [&](int t, int from, int to) {
    for (int i = from; i < to; ++i) {
      const std::string& id = ids[static_cast<size_t>(t)][static_cast<size_t>(i)];
      if (window.find(id)) std::abort();  // every id is new
      if constexpr (std::is_same_v<Window, RecentReplies>) window.remember(id, memrun::Code::kOk, body);
      else window.remember(id, body);
    }
  };
  auto all = [&](int from, int to) {
    std::vector<std::thread> running;
    for (int t = 0; t < threads; ++t) running.emplace_back(run, t, from, to);
    for (auto& th : running) th.join();
  };
  all(0, fill);
  const double before = cpu_ns();
  all(fill, fill + per_thread);
  return (cpu_ns() - before) / (static_cast<double>(threads) * per_thread);
}

}  // namespace

int main(int argc, char** argv) {
  const int threads = argc > 1 ? std::atoi(argv[1]) : 16;
  const size_t body_bytes = argc > 2 ? static_cast<size_t>(std::atol(argv[2])) : 1024;
  const int per_thread = argc > 3 ? std::atoi(argv[3]) : 20000;
  if (threads < 1 || per_thread < 1) {
    std::fprintf(stderr, "usage: %s [THREADS>=1] [BODY_BYTES] [REQUESTS_PER_THREAD>=1]\n", argv[0]);
    return 2;
  }
  const std::string body(body_bytes, 'x');
  for (int round = 1; round <= 3; ++round) {
    PlainWindow plain;
    RecentReplies window(kWindow, 64 << 20);
    const double plain_ns = measure(plain, threads, per_thread, body);
    const double window_ns = measure(window, threads, per_thread, body);
    std::printf("round %d: %d threads, %zu-byte bodies: RecentReplies %.0f ns, plain map %.0f ns per request (%.2fx)\n",
                round, threads, body_bytes, window_ns, plain_ns, window_ns / plain_ns);
  }
}
