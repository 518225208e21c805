// Waiting for a fetch that runs for several callers (a get_or_fetch flight, a
// chunk's flight, a stream's chunk): each caller waits as long as its own
// FetchWait allows, and giving up leaves the fetch running for the others.
#pragma once

#include <memrun/context.hpp>
#include <memrun/status.hpp>

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <future>
#include <list>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace memrun::internal {

// How often a waiting caller looks at its cancelled flag.
inline constexpr auto kCancelPoll = std::chrono::milliseconds(10);

// Throws Error(kDeadlineExceeded) or Error(kCancelled) naming `what` when
// `wait` has ended: before a caller starts a fetch.
inline void check_wait(const FetchWait& wait, const std::string& what) {
  if (std::chrono::system_clock::now() >= wait.deadline) throw Error(Code::kDeadlineExceeded, what + ": the deadline passed");
  if (wait.cancelled && wait.cancelled()) throw Error(Code::kCancelled, what + ": cancelled");
}

// The result of `flight`, waited for within `wait`. Throws
// Error(kDeadlineExceeded) or Error(kCancelled) naming `what` when `wait`
// ends first (a result ready at the deadline is still returned), and what the
// flight threw.
template <class T>
T await_flight(const std::shared_future<T>& flight, const FetchWait& wait, const std::string& what) {
  for (;;) {
    const auto now = std::chrono::system_clock::now();
    if (now >= wait.deadline) {
      if (flight.wait_for(std::chrono::seconds(0)) == std::future_status::ready) break;
      throw Error(Code::kDeadlineExceeded, what + ": the deadline passed; the fetch goes on for other callers");
    }
    if (wait.cancelled && wait.cancelled())
      throw Error(Code::kCancelled, what + ": cancelled; the fetch goes on for other callers");
    // Without a cancelled flag to poll, sleep until the deadline; system_clock
    // jumps are caught by looking again every few ms when there is one.
    const auto step = wait.cancelled
                          ? kCancelPoll
                          : std::chrono::duration_cast<std::chrono::milliseconds>(std::min(
                                wait.deadline - now, std::chrono::system_clock::duration(std::chrono::hours(1))));
    if (flight.wait_for(step) == std::future_status::ready) break;
  }
  // Each caller gets an Error of its own: the flight's is one object, which
  // every caller's catch would otherwise share across threads (and the last
  // to end its catch frees).
  try {
    return flight.get();
  } catch (const Error& e) {
    throw Error(e.code(), e.what());
  }
}

// The threads fetches run on, for as long as they run whatever their callers
// do. They are joined, never detached: a thread that has returned may still
// be running thread-exit cleanup (OpenSSL's, libcurl's), which must not
// overlap the process's exit. Each ends by saying so; the next start(), or
// the destructor, joins those.
// Thread: any; start() may be called concurrently.
class FlightThreads {
 public:
  FlightThreads() = default;
  FlightThreads(const FlightThreads&) = delete;
  FlightThreads& operator=(const FlightThreads&) = delete;
  // Waits for every thread started (what they use must outlive this).
  ~FlightThreads() {
    std::unique_lock lock(mu_);
    done_.wait(lock, [&] { return ended_.size() == threads_.size(); });
    for (auto& t : threads_) t.join();
  }
  // Runs `body` (which must not throw) on a thread of its own.
  void start(std::function<void()> body) {
    std::lock_guard lock(mu_);
    join_ended();
    threads_.emplace_back([this, body = std::move(body)] {
      body();
      std::lock_guard lock(mu_);
      ended_.push_back(std::this_thread::get_id());
      done_.notify_all();
    });
  }

 private:
  void join_ended() {  // REQUIRES(mu_)
    for (const auto id : ended_)
      for (auto it = threads_.begin(); it != threads_.end(); ++it)
        if (it->get_id() == id) {
          it->join();
          threads_.erase(it);
          break;
        }
    ended_.clear();
  }
  std::mutex mu_;
  std::condition_variable done_;
  std::list<std::thread> threads_;      // GUARDED_BY(mu_)
  std::vector<std::thread::id> ended_;  // GUARDED_BY(mu_)
};

// One fetch per key at a time, shared by every caller of that key: the
// first starts it on a thread of its own, the others get the same future,
// and the fetch runs to its end whoever still waits (see await_flight).
// Thread: any; the destructor waits for the fetches under way.
template <class T>
class SingleFlights {
 public:
  // The flight of `key`: the one under way, else `fetch` (which may throw)
  // started now.
  std::shared_future<T> join(const std::string& key, std::function<T()> fetch) {
    std::lock_guard lock(mu_);
    if (auto it = flights_.find(key); it != flights_.end()) return it->second;
    auto promise = std::make_shared<std::promise<T>>();
    auto future = promise->get_future().share();
    flights_.emplace(key, future);
    threads_.start([this, key, promise, fetch = std::move(fetch)] {
      T value{};
      std::exception_ptr error;
      try {
        value = fetch();
      } catch (...) {
        error = std::current_exception();
      }
      // Out of the table before the result is out: a caller must not join a
      // flight that has ended, or it gets a result that may already be
      // stale (a disk copy that failed its checks since). What the fetch
      // cached is there for a caller that comes after.
      {
        std::lock_guard lock(mu_);
        flights_.erase(key);
      }
      if (error) promise->set_exception(error);
      else promise->set_value(std::move(value));
    });
    return future;
  }

 private:
  std::mutex mu_;
  std::map<std::string, std::shared_future<T>> flights_;  // GUARDED_BY(mu_)
  FlightThreads threads_;  // last: the fetches use the members above
};

}  // namespace memrun::internal
