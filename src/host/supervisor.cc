#include "host/supervisor.hpp"

#include <fmt/core.h>
#include <spdlog/spdlog.h>

#include <fcntl.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <string>

namespace memrun::host {

std::optional<std::chrono::milliseconds> RestartBook::died(Clock::time_point now) {
  deaths_.push_back(now);
  std::erase_if(deaths_, [&](Clock::time_point t) { return now - t > policy_.window; });
  const int n = static_cast<int>(deaths_.size());
  if (n > policy_.max_restarts) return std::nullopt;
  auto backoff = policy_.first_backoff;
  for (int i = 1; i < n && backoff < policy_.max_backoff; ++i) backoff *= 2;
  return std::min(backoff, policy_.max_backoff);
}

namespace {

// `report_fd`: the pipe's write end (close-on-exec here), kept open across
// the child's exec; -1 for none.
pid_t start(const std::vector<std::string>& argv, int report_fd) {
  std::vector<char*> args;
  for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  const pid_t parent = ::getpid();
  const pid_t pid = ::fork();
  if (pid == 0) {
    // A worker must not outlive its supervisor (kill -9 of the host): it
    // would keep its partitions and its cache directory from the next host.
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (::getppid() != parent) ::_exit(1);
    // The child takes signals the ordinary way: its own mask is set again by
    // its main(), and it must not inherit ours blocked across exec.
    sigset_t none;
    sigemptyset(&none);
    pthread_sigmask(SIG_SETMASK, &none, nullptr);
    if (report_fd >= 0) ::fcntl(report_fd, F_SETFD, 0);
    ::execv(args[0], args.data());
    std::fprintf(stderr, "memrun-host: cannot run %s: %s\n", args[0], std::strerror(errno));
    ::_exit(127);
  }
  return pid;
}

// The last whole line waiting in the report pipe, or `last` if none.
std::string read_report(int fd, std::string last) {
  std::string text;
  char buf[4096];
  for (ssize_t n; (n = ::read(fd, buf, sizeof buf)) > 0;) text.append(buf, static_cast<size_t>(n));
  const auto end = text.rfind('\n');
  if (end == std::string::npos) return last;
  const auto newline = end == 0 ? std::string::npos : text.rfind('\n', end - 1);
  const size_t begin = newline == std::string::npos ? 0 : newline + 1;
  return text.substr(begin, end - begin);
}

std::string describe(int status) {
  if (WIFSIGNALED(status))
    return fmt::format("died of signal {} ({})", WTERMSIG(status), strsignal(WTERMSIG(status)));
  return fmt::format("exited with code {}", WEXITSTATUS(status));
}

// Waits up to `timeout` for a stop signal or the child's end. Returns the
// stop signal taken (0 if none) and, through `status`, the child's status if
// it ended.
int wait_event(pid_t child, std::chrono::milliseconds timeout, std::optional<int>& status) {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGCHLD);
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (true) {
    if (child > 0) {
      int st = 0;
      if (::waitpid(child, &st, WNOHANG) == child) {
        status = st;
        return 0;
      }
    }
    const auto left = deadline - std::chrono::steady_clock::now();
    if (left <= std::chrono::milliseconds(0)) return 0;
    // Slices of at most a second: the child's end is also seen by waitpid.
    const auto ms = std::min<int64_t>(1000, std::chrono::duration_cast<std::chrono::milliseconds>(left).count());
    timespec ts{static_cast<time_t>(ms / 1000), static_cast<long>((ms % 1000) * 1000000)};
    const int sig = sigtimedwait(&set, nullptr, &ts);
    if (sig == SIGTERM || sig == SIGINT) return sig;
  }
}

}  // namespace

int supervise(const std::vector<std::string>& argv, const RestartPolicy& policy,
              const std::function<void(const std::string& report)>& after_death) {
  RestartBook book(policy);
  constexpr auto kForever = std::chrono::hours(24 * 365);
  std::string report;  // the last line a child reported
  while (true) {
    // Non-blocking: the reader takes what is there after the child's end,
    // even if a grandchild still holds the write end.
    int pipe_fds[2] = {-1, -1};
    if (::pipe2(pipe_fds, O_CLOEXEC | O_NONBLOCK) != 0) {
      spdlog::warn("supervisor: no report pipe ({}); deaths are published by the restarted worker",
                   std::strerror(errno));
      pipe_fds[0] = pipe_fds[1] = -1;
      ::unsetenv(kReportFdEnv);
    } else {
      ::setenv(kReportFdEnv, std::to_string(pipe_fds[1]).c_str(), 1);
    }
    const pid_t child = start(argv, pipe_fds[1]);
    if (pipe_fds[1] >= 0) ::close(pipe_fds[1]);
    if (child < 0) {
      spdlog::error("cannot start the worker process: {}", std::strerror(errno));
      if (pipe_fds[0] >= 0) ::close(pipe_fds[0]);
      return kExitRuntime;
    }
    spdlog::info("supervisor: worker process {} started", child);
    std::optional<int> status;
    int sig = 0;
    while (!status && !sig) sig = wait_event(child, kForever, status);
    if (pipe_fds[0] >= 0) {
      if (status) report = read_report(pipe_fds[0], std::move(report));
      ::close(pipe_fds[0]);
    }
    if (sig) {
      // A stop: the child drains (it bounds its own drain), then we exit as it did.
      ::kill(child, sig);
      while (!status) wait_event(child, kForever, status);
      spdlog::info("supervisor: worker process {} {} after {}", child, describe(*status),
                   sig == SIGINT ? "SIGINT" : "SIGTERM");
      return WIFEXITED(*status) ? WEXITSTATUS(*status) : 128 + WTERMSIG(*status);
    }
    if (WIFEXITED(*status) && RestartBook::final_exit(WEXITSTATUS(*status))) return WEXITSTATUS(*status);
    if (after_death) after_death(report);
    auto delay = book.died(std::chrono::steady_clock::now());
    if (!delay) {
      spdlog::error("supervisor: worker process {} {}; {} deaths within {} s, giving up", child, describe(*status),
                    book.recent(), std::chrono::duration_cast<std::chrono::seconds>(policy.window).count());
      return kExitRuntime;
    }
    spdlog::warn("supervisor: worker process {} {}; restarting in {} ms ({} of {} deaths allowed within {} s); the "
                 "restarted worker reads the crash journal and runs what was running alone",
                 child, describe(*status), delay->count(), book.recent(), policy.max_restarts,
                 std::chrono::duration_cast<std::chrono::seconds>(policy.window).count());
    // A stop during the backoff ends here, with nothing left to drain.
    std::optional<int> none;
    if (wait_event(-1, *delay, none)) return 0;
  }
}

}  // namespace memrun::host
