// memrun-host's parent process: runs the worker as a child and restarts it
// when it dies, as nginx's master and PostgreSQL's postmaster do, so that a
// plugin that crashes on one request costs a restart, and the crash journal
// (src/runtime/crash_journal.hpp) can quarantine that request with no outside
// help. After too many deaths in a window it gives up with a non-zero exit,
// and whatever supervises the host (systemd, Kubernetes) takes over.
//
// When the child dies, the supervisor first hands what the child reported
// about itself (one line it wrote at start to the pipe named by
// $MEMRUN_SUPERVISOR_FD) to `after_death`, which memrun-host uses to
// publish the requests the child was running to the fleet's crash journal
// before it restarts it; then it restarts or gives up. The child is started
// with fork and exec, so whatever `after_death` made (a Kafka producer) is
// never copied into a child that runs without exec.
//
// Thread: everything here runs on the host's main thread, which has SIGTERM,
// SIGINT and SIGCHLD blocked and takes them with sigtimedwait.
#pragma once

#include <chrono>
#include <functional>
#include <optional>
#include <string>
#include <vector>

namespace memrun::host {

// memrun-host's exit codes, which the supervisor also reads from its child.
inline constexpr int kExitRuntime = 1;  // Kafka, init, an unreachable package, a worker that kept dying
inline constexpr int kExitUsage = 2;    // bad usage or config
inline constexpr int kExitPlugin = 3;   // the plugin or package is refused

// The environment variable naming the child's end of the report pipe.
inline constexpr const char* kReportFdEnv = "MEMRUN_SUPERVISOR_FD";

struct RestartPolicy {
  int max_restarts = 5;                              // deaths tolerated within `window`
  std::chrono::milliseconds window{std::chrono::minutes(5)};
  std::chrono::milliseconds first_backoff{500};      // doubled per death in the window
  std::chrono::milliseconds max_backoff{30000};
};

// The decision after a child's end, as pure logic (unit-tested).
class RestartBook {
 public:
  using Clock = std::chrono::steady_clock;
  explicit RestartBook(RestartPolicy policy) : policy_(policy) {}

  // Exit codes that a restart cannot cure: a clean stop, usage or config,
  // a refused plugin or package.
  static bool final_exit(int code) { return code == 0 || code == kExitUsage || code == kExitPlugin; }

  // Records a death (a signal, or a runtime failure, exit 1) at `now`;
  // returns how long to wait before the next start, or nullopt to give up.
  std::optional<std::chrono::milliseconds> died(Clock::time_point now);
  // Deaths within the window as of the last died().
  int recent() const { return static_cast<int>(deaths_.size()); }

 private:
  RestartPolicy policy_;
  std::vector<Clock::time_point> deaths_;
};

// Runs `argv` (argv[0] is an executable path) as a child, restarting it per
// `policy`; forwards SIGTERM and SIGINT to it and then waits for its exit.
// Returns the host's exit code: the child's final code, 1 when it gave up,
// or 128 + signal if the child died of a signal during a stop. After each
// death (a signal or exit code 1, not a stop) and before the restart or
// giving up, calls `after_death` with the last line any child reported
// (empty if none did).
int supervise(const std::vector<std::string>& argv, const RestartPolicy& policy,
              const std::function<void(const std::string& report)>& after_death = {});

}  // namespace memrun::host
