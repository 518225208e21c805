// A child process for integration tests: started in its own process group,
// stdout+stderr captured line by line, and always killed (group-wide) when the
// object goes away, so a failing test never leaks a server.
#pragma once

#include <chrono>
#include <condition_variable>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

namespace memrun::test {

class Subprocess {
 public:
  explicit Subprocess(std::vector<std::string> argv);
  ~Subprocess();
  Subprocess(const Subprocess&) = delete;
  Subprocess& operator=(const Subprocess&) = delete;

  // The text after `prefix` on the first output line containing it, or
  // nullopt if the process exits or `timeout` passes first.
  std::optional<std::string> wait_for(const std::string& prefix, std::chrono::milliseconds timeout);

  // Sends `sig` to the process group.
  void signal(int sig);
  // Waits for exit; returns the exit code (128+signal if killed) or nullopt on timeout.
  std::optional<int> wait(std::chrono::milliseconds timeout);

  std::string output() const;
  int pid() const { return pid_; }

 private:
  void read_loop(int fd);

  int pid_ = -1;
  std::thread reader_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::vector<std::string> lines_;  // GUARDED_BY(mu_)
  bool eof_ = false;                // GUARDED_BY(mu_)
  std::optional<int> status_;
};

// Runs argv to completion (bounded by timeout); returns {exit code, output}.
std::pair<int, std::string> run(const std::vector<std::string>& argv, std::chrono::milliseconds timeout);

// Short group timeouts for the mock cluster: every rebalance waits about
// session.timeout.ms - 1 s there.
std::vector<std::string> fast_group_flags();

}  // namespace memrun::test
