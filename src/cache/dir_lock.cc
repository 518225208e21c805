#include "cache/dir_lock.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <cstring>
#include <utility>

namespace memrun::internal {

namespace {

std::string lock_path(const std::string& dir) { return dir + "/.lock"; }

// The whole file, however long it grows: l_start 0, l_len 0.
struct flock whole_file(short type) {
  struct flock fl {};
  fl.l_type = type;
  fl.l_whence = SEEK_SET;
  return fl;
}

int64_t read_pid(int fd) {
  char buf[32];
  const ssize_t n = ::pread(fd, buf, sizeof buf, 0);
  int64_t pid = 0;
  if (n <= 0 || std::from_chars(buf, buf + n, pid).ec != std::errc()) return 0;
  return pid;
}

}  // namespace

DirLock::DirLock(const std::string& dir) {
  const std::string path = lock_path(dir);
  fd_ = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
  if (fd_ < 0) {
    error_ = "cannot open " + path + ": " + std::strerror(errno);
    return;
  }
  struct flock fl = whole_file(F_WRLCK);
  if (::fcntl(fd_, F_OFD_SETLK, &fl) != 0) {
    const int err = errno;
    if (err == EAGAIN || err == EACCES) {
      state_ = State::kInUse;
      holder_ = read_pid(fd_);
    } else {
      error_ = "cannot lock " + path + ": " + std::strerror(err);
    }
    ::close(fd_);
    fd_ = -1;
    return;
  }
  state_ = State::kHeld;
  // For the messages of whoever finds the directory taken; a failure to
  // write it only makes them say "unknown pid".
  const std::string pid = std::to_string(::getpid()) + "\n";
  [[maybe_unused]] const bool written =
      ::ftruncate(fd_, 0) == 0 && ::pwrite(fd_, pid.data(), pid.size(), 0) == static_cast<ssize_t>(pid.size());
}

DirLock::~DirLock() { release(); }

DirLock::DirLock(DirLock&& other) noexcept
    : fd_(std::exchange(other.fd_, -1)),
      state_(std::exchange(other.state_, State::kFailed)),
      holder_(other.holder_),
      error_(std::move(other.error_)) {}

DirLock& DirLock::operator=(DirLock&& other) noexcept {
  if (this != &other) {
    release();
    fd_ = std::exchange(other.fd_, -1);
    state_ = std::exchange(other.state_, State::kFailed);
    holder_ = other.holder_;
    error_ = std::move(other.error_);
  }
  return *this;
}

// Closing the file releases the lock: it is the open file's, and only this
// object has that open file.
void DirLock::release() noexcept {
  if (fd_ >= 0) ::close(fd_);
  fd_ = -1;
}

std::optional<int64_t> DirLock::holder_of(const std::string& dir) {
  const int fd = ::open(lock_path(dir).c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return std::nullopt;
  struct flock fl = whole_file(F_WRLCK);
  std::optional<int64_t> holder;
  if (::fcntl(fd, F_OFD_GETLK, &fl) == 0 && fl.l_type != F_UNLCK) holder = read_pid(fd);
  ::close(fd);
  return holder;
}

}  // namespace memrun::internal
