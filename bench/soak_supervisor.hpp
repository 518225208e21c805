// Supervised memrun-host workers for the soak bench: each slot runs one worker
// and restarts it on the same worker id and cache root whenever it exits, as
// systemd's Restart=always would, until stop() is called. Records every
// process's life: when it was ready, how it ended, and its RSS and open file
// descriptors (from /proc) when it was ready and last seen alive.
//
// Threads: each slot's own supervisor thread owns its Subprocess (start, wait,
// signal, sample); other threads only request a kill -9 (request_kill) and read
// the records after stop() returned.
#pragma once

#include "support/subprocess.hpp"

#include <atomic>
#include <chrono>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

namespace memrun::bench {

// A process's memory and descriptors, read from /proc/PID/status and /proc/PID/fd.
struct ProcSample {
  long rss_kb = -1;   // VmRSS
  long anon_kb = -1;  // RssAnon: heap and stacks, without file pages (mmap'd cache entries)
  long fds = -1;      // entries in /proc/PID/fd
};

// nullopt when the process is gone.
std::optional<ProcSample> sample_process(int pid);

// One process a slot started.
struct WorkerLife {
  int pid = -1;
  std::chrono::steady_clock::time_point started, ready, ended;
  bool became_ready = false;
  ProcSample at_ready, last_seen;  // last_seen: at most `sample_every` before it ended
  std::string how_ended;           // "kill -9 (bench)", "died: signal 11", "stopped: exit 0", ...
  bool killed_by_bench = false;
  int exit_code = -1;              // 128+signal when a signal ended it
};

class WorkerSlot {
 public:
  // argv: the worker's full command line (same on every restart).
  // log_prefix: each process's output goes to {log_prefix}.{n}.log when it ends.
  WorkerSlot(std::string name, std::vector<std::string> argv, std::string log_prefix);
  ~WorkerSlot();  // stop()s
  WorkerSlot(const WorkerSlot&) = delete;
  WorkerSlot& operator=(const WorkerSlot&) = delete;

  void start();
  // Asks the supervisor thread to SIGKILL the current process. False if it is
  // not ready (starting, or already exiting).
  bool request_kill();
  // Samples the live process one last time, SIGTERMs it (SIGKILL after 30 s),
  // and stops restarting. Returns when the supervisor thread ended.
  void stop();

  // True while the current process is up and said it is ready.
  bool ready() const { return ready_.load(); }
  const std::string& name() const { return name_; }
  // Valid after stop().
  const std::vector<WorkerLife>& lives() const { return lives_; }

 private:
  void supervise();
  void save_output(test::Subprocess& proc);

  const std::string name_;
  const std::vector<std::string> argv_;
  const std::string log_prefix_;
  std::thread thread_;
  std::atomic<bool> stopping_{false};
  std::atomic<bool> ready_{false};
  std::atomic<bool> kill_requested_{false};
  std::vector<WorkerLife> lives_;  // written by the supervisor thread only
};

}  // namespace memrun::bench
