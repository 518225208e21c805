#include "soak_supervisor.hpp"

#include <dirent.h>

#include <csignal>
#include <cstdlib>
#include <fstream>
#include <sstream>

namespace memrun::bench {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

namespace {

constexpr auto kSampleEvery = 1s;
constexpr auto kReadyTimeout = 60s;

long status_kb(const std::string& status, const std::string& field) {
  auto pos = status.find("\n" + field + ":");
  if (pos == std::string::npos) return -1;
  return std::strtol(status.c_str() + pos + field.size() + 2, nullptr, 10);
}

}  // namespace

std::optional<ProcSample> sample_process(int pid) {
  const std::string dir = "/proc/" + std::to_string(pid);
  std::ifstream in(dir + "/status");
  if (!in) return std::nullopt;
  std::stringstream text;
  text << "\n" << in.rdbuf();
  ProcSample s;
  s.rss_kb = status_kb(text.str(), "VmRSS");
  s.anon_kb = status_kb(text.str(), "RssAnon");
  DIR* fds = ::opendir((dir + "/fd").c_str());
  if (!fds) return std::nullopt;
  long n = 0;
  while (const dirent* e = ::readdir(fds))
    if (e->d_name[0] != '.') ++n;
  ::closedir(fds);
  s.fds = n;
  if (s.rss_kb < 0) return std::nullopt;  // a zombie has no VmRSS
  return s;
}

WorkerSlot::WorkerSlot(std::string name, std::vector<std::string> argv, std::string log_prefix)
    : name_(std::move(name)), argv_(std::move(argv)), log_prefix_(std::move(log_prefix)) {}

WorkerSlot::~WorkerSlot() { stop(); }

void WorkerSlot::start() { thread_ = std::thread([this] { supervise(); }); }

bool WorkerSlot::request_kill() {
  if (!ready_.load() || kill_requested_.load()) return false;
  kill_requested_ = true;
  return true;
}

void WorkerSlot::stop() {
  stopping_ = true;
  if (thread_.joinable()) thread_.join();
}

void WorkerSlot::supervise() {
  while (!stopping_) {
    WorkerLife life;
    life.started = Clock::now();
    auto proc = std::make_unique<test::Subprocess>(argv_);
    life.pid = proc->pid();
    // Wait for readiness in short steps so stop() is not held up.
    std::optional<int> code;
    while (!stopping_ && Clock::now() - life.started < kReadyTimeout) {
      if (proc->wait_for("memrun-host: ready", 1s)) {
        life.became_ready = true;
        break;
      }
      if ((code = proc->wait(0ms))) break;
    }
    if (life.became_ready) {
      life.ready = Clock::now();
      if (auto s = sample_process(life.pid)) life.at_ready = life.last_seen = *s;
      ready_ = true;
    }
    auto next_sample = Clock::now() + kSampleEvery;
    while (life.became_ready && !stopping_ && !(code = proc->wait(100ms))) {
      if (kill_requested_) {
        // The sample just before the kill is the process's last figure.
        if (auto s = sample_process(life.pid)) life.last_seen = *s;
        ready_ = false;
        life.killed_by_bench = true;
        proc->signal(SIGKILL);
        code = proc->wait(10s);
        break;
      }
      if (Clock::now() >= next_sample) {
        if (auto s = sample_process(life.pid)) life.last_seen = *s;
        next_sample = Clock::now() + kSampleEvery;
      }
    }
    ready_ = false;
    kill_requested_ = false;
    if (!code) {
      if (life.became_ready)
        if (auto s = sample_process(life.pid)) life.last_seen = *s;
      proc->signal(SIGTERM);
      code = proc->wait(30s);
      if (!code) {
        proc->signal(SIGKILL);
        code = proc->wait(10s);
      }
      life.how_ended = code ? "stopped: exit " + std::to_string(*code) : "stopped: did not exit";
      if (!life.became_ready && !stopping_) life.how_ended = "not ready after 60 s";
    } else if (!life.became_ready) {
      life.how_ended = "exited before ready: " + std::to_string(*code);
    } else if (life.killed_by_bench) {
      life.how_ended = "kill -9 (bench)";
    } else if (*code > 128) {
      life.how_ended = "died: signal " + std::to_string(*code - 128);
    } else {
      life.how_ended = "exited: " + std::to_string(*code);
    }
    life.exit_code = code.value_or(-1);
    life.ended = Clock::now();
    save_output(*proc);
    const bool failed_start = !life.became_ready;
    lives_.push_back(std::move(life));
    if (failed_start && !stopping_) std::this_thread::sleep_for(1s);  // no restart storm
  }
}

void WorkerSlot::save_output(test::Subprocess& proc) {
  // Let the reader take what the process wrote before it exited.
  proc.wait_for("\x01never\x01", 500ms);
  std::ofstream(log_prefix_ + "." + std::to_string(lives_.size()) + ".log") << proc.output();
}

}  // namespace memrun::bench
