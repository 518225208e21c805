#include "support/subprocess.hpp"

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <stdexcept>

extern char** environ;

namespace memrun::test {

Subprocess::Subprocess(std::vector<std::string> argv) {
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) != 0) throw std::runtime_error("pipe failed");
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_adddup2(&actions, fds[1], STDOUT_FILENO);
  posix_spawn_file_actions_adddup2(&actions, fds[1], STDERR_FILENO);
  // Nothing else of ours: descriptors opened without O_CLOEXEC (librdkafka's
  // sockets and the mock brokers' among them) would otherwise live on in every
  // child, and a child started later would count more open files than one
  // started earlier.
  posix_spawn_file_actions_addclosefrom_np(&actions, STDERR_FILENO + 1);
  posix_spawnattr_t attr;
  posix_spawnattr_init(&attr);
  posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGMASK);
  posix_spawnattr_setpgroup(&attr, 0);
  sigset_t none;
  sigemptyset(&none);
  posix_spawnattr_setsigmask(&attr, &none);
  std::vector<char*> args;
  for (auto& a : argv) args.push_back(a.data());
  args.push_back(nullptr);
  int rc = posix_spawn(&pid_, args[0], &actions, &attr, args.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  posix_spawnattr_destroy(&attr);
  ::close(fds[1]);
  if (rc != 0) {
    ::close(fds[0]);
    throw std::runtime_error("cannot spawn " + argv[0] + ": " + std::strerror(rc));
  }
  reader_ = std::thread([this, fd = fds[0]] { read_loop(fd); });
}

Subprocess::~Subprocess() {
  if (!status_) {
    signal(SIGTERM);
    if (!wait(std::chrono::seconds(15))) {
      signal(SIGKILL);
      wait(std::chrono::seconds(5));
    }
  }
  if (reader_.joinable()) reader_.join();
}

void Subprocess::read_loop(int fd) {
  std::string partial;
  char buf[4096];
  while (true) {
    ssize_t n = ::read(fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    partial.append(buf, static_cast<size_t>(n));
    size_t nl;
    while ((nl = partial.find('\n')) != std::string::npos) {
      std::lock_guard lock(mu_);
      lines_.push_back(partial.substr(0, nl));
      partial.erase(0, nl + 1);
      cv_.notify_all();
    }
  }
  ::close(fd);
  std::lock_guard lock(mu_);
  if (!partial.empty()) lines_.push_back(partial);
  eof_ = true;
  cv_.notify_all();
}

std::optional<std::string> Subprocess::wait_for(const std::string& prefix, std::chrono::milliseconds timeout) {
  std::unique_lock lock(mu_);
  size_t seen = 0;
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (true) {
    for (; seen < lines_.size(); ++seen) {
      auto pos = lines_[seen].find(prefix);
      if (pos != std::string::npos) return lines_[seen].substr(pos + prefix.size());
    }
    if (eof_) return std::nullopt;
    if (cv_.wait_until(lock, deadline) == std::cv_status::timeout && seen == lines_.size()) return std::nullopt;
  }
}

void Subprocess::signal(int sig) {
  if (pid_ > 0 && !status_) ::kill(-pid_, sig);
}

std::optional<int> Subprocess::wait(std::chrono::milliseconds timeout) {
  if (status_) return status_;
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (true) {
    int st = 0;
    pid_t r = ::waitpid(pid_, &st, WNOHANG);
    if (r == pid_) {
      status_ = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
      // Whatever the child left in its group goes with it.
      ::kill(-pid_, SIGKILL);
      return status_;
    }
    if (std::chrono::steady_clock::now() >= deadline) return std::nullopt;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
}

std::string Subprocess::output() const {
  std::lock_guard lock(mu_);
  std::string all;
  for (const auto& l : lines_) all += l + "\n";
  return all;
}

std::pair<int, std::string> run(const std::vector<std::string>& argv, std::chrono::milliseconds timeout) {
  Subprocess p(argv);
  auto code = p.wait(timeout);
  if (!code) {
    p.signal(SIGKILL);
    code = p.wait(std::chrono::seconds(5));
  }
  // Let the reader drain what the process wrote before it exited.
  p.wait_for("\x01never\x01", std::chrono::milliseconds(2000));
  return {code.value_or(-1), p.output()};
}

std::vector<std::string> fast_group_flags() {
  std::vector<std::string> flags{"-X", "session.timeout.ms=6000", "-X", "heartbeat.interval.ms=500",
                                 "-X", "max.poll.interval.ms=8000", "-X", "fetch.wait.max.ms=10"};
  // For diagnosing group trouble: MEMRUN_TEST_KAFKA_DEBUG=cgrp,consumer
  if (const char* debug = std::getenv("MEMRUN_TEST_KAFKA_DEBUG"); debug && *debug)
    flags.insert(flags.end(), {"-X", std::string("debug=") + debug, "--log-level", "debug"});
  return flags;
}

}  // namespace memrun::test
