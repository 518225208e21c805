// An exclusive lock on a directory, held by one process at a time. The disk
// cache holds it on its directory for its whole life; `memrun cache` takes it
// for each change it makes, so it never changes a directory under a worker.
//
//   DirLock lock(dir);
//   if (!lock.held()) spdlog::warn("{} is in use by pid {}", dir, lock.holder());
//
// The lock is an open file description lock (fcntl F_OFD_SETLK) on the whole
// of {dir}/.lock. Like flock(2) it belongs to the open file, not to the
// process or thread: it goes away when its holder exits or is killed, and two
// DirLocks on one directory conflict even within one process. Unlike flock,
// it can be looked at without being taken (F_OFD_GETLK), so a read-only look
// at a cache never makes a worker starting at that moment find its directory
// taken. The holder writes its pid into the file for messages; the lock, not
// the file's content, says whether the directory is in use.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

namespace memrun::internal {

class DirLock {
 public:
  enum class State { kHeld, kInUse, kFailed };

  // Tries once, without waiting. REQUIRES: `dir` exists. Never throws:
  // state() says how it went.
  explicit DirLock(const std::string& dir);
  ~DirLock();  // releases the lock
  DirLock(DirLock&& other) noexcept;
  DirLock& operator=(DirLock&& other) noexcept;
  DirLock(const DirLock&) = delete;
  DirLock& operator=(const DirLock&) = delete;

  State state() const { return state_; }
  bool held() const { return state_ == State::kHeld; }
  // kInUse: the pid the holder wrote, 0 if it is not known (yet).
  int64_t holder() const { return holder_; }
  // kFailed: why the lock file could not be opened or locked.
  const std::string& error() const { return error_; }

  // Who holds the lock on `dir`, without taking it: nullopt when nobody does
  // (or there is no lock file, or it cannot be read); 0 when the holder's pid
  // is not known.
  static std::optional<int64_t> holder_of(const std::string& dir);

 private:
  void release() noexcept;

  int fd_ = -1;
  State state_ = State::kFailed;
  int64_t holder_ = 0;
  std::string error_;
};

}  // namespace memrun::internal
