#include "runtime/crash_journal.hpp"

#include "core/file_io.hpp"

#include <memrun/status.hpp>

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <spdlog/spdlog.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

namespace memrun::internal {

namespace {

constexpr int kSlots = 64;
constexpr uint64_t kCompactBytes = 16u << 20;

// Request ids are a single token in a line.
std::string token(const std::string& id) {
  if (id.empty()) return "-";
  std::string out = id;
  for (char& c : out)
    if (c <= ' ' || c > '~') c = '_';
  return out;
}

std::string line(char kind, const std::tuple<int32_t, int64_t, std::string>& k, int crashes) {
  std::ostringstream out;
  out << kind << ' ' << std::get<0>(k) << ' ' << std::get<1>(k);
  if (kind != 'F') out << ' ' << crashes;
  out << ' ' << std::get<2>(k) << '\n';
  return out.str();
}

}  // namespace

CrashJournal::CrashJournal(const std::string& dir) : dir_(dir) {
  // Request ids and offsets are the service's business: private like the
  // disk cache beside them, also when an older version made them readable.
  if (!make_private_dir(dir_))
    throw Error(Code::kUnavailable, "crash journal: cannot create " + dir_ + ": " + std::strerror(errno));
  for (int slot = 0; slot < kSlots && lock_fd_ < 0; ++slot) {
    const std::string lock = dir_ + "/inflight." + std::to_string(slot) + ".lock";
    int fd = ::open(lock.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, kPrivateFile);
    if (fd >= 0 && ::fchmod(fd, kPrivateFile) != 0) {
      ::close(fd);
      fd = -1;
    }
    if (fd < 0)
      throw Error(Code::kUnavailable, "crash journal: cannot open " + lock + ": " + std::strerror(errno));
    if (::flock(fd, LOCK_EX | LOCK_NB) == 0) {
      lock_fd_ = fd;
      path_ = dir_ + "/inflight." + std::to_string(slot) + ".journal";
    } else {
      ::close(fd);
    }
  }
  if (lock_fd_ < 0) throw Error(Code::kUnavailable, "crash journal: all " + std::to_string(kSlots) +
                                                        " slots in " + dir_ + " are held by live workers");
  load();
  rewrite();
  if (fd_ < 0) {
    ::close(lock_fd_);
    throw Error(Code::kUnavailable, "crash journal: cannot write " + path_ + ": " + std::strerror(errno));
  }
}

CrashJournal::~CrashJournal() {
  if (fd_ >= 0) ::close(fd_);
  if (lock_fd_ >= 0) ::close(lock_fd_);  // releases the slot
}

CrashJournal::Key CrashJournal::key(const Request& r) { return {r.partition, r.offset, token(r.request_id)}; }

void CrashJournal::load() {
  std::ifstream in(path_);
  size_t bad = 0;
  for (std::string text; std::getline(in, text);) {
    std::istringstream fields(text);
    char kind = 0;
    int32_t partition = 0;
    int64_t offset = 0;
    int crashes = 0;
    std::string id;
    fields >> kind >> partition >> offset;
    if (kind != 'F') fields >> crashes;
    fields >> id;
    // A line cut short by the death being recorded lacks its id.
    if (fields.fail() || id.empty() || (kind != 'S' && kind != 'F' && kind != 'C') || crashes < 0) {
      ++bad;
      continue;
    }
    Key k{partition, offset, id};
    if (kind == 'S') running_[k] = crashes;
    if (kind == 'C') crashed_[k] = crashes;
    if (kind == 'F') {
      running_.erase(k);
      crashed_.erase(k);
    }
  }
  if (bad) spdlog::warn("crash journal {}: skipped {} unreadable line(s)", path_, bad);
  for (const auto& [k, crashes] : running_) {
    crashed_[k] = crashes + 1;
    spdlog::warn("request {} at partition {} offset {} was running when a worker died ({} time(s) so far)",
                 std::get<2>(k), std::get<0>(k), std::get<1>(k), crashes + 1);
  }
  running_.clear();
}

void CrashJournal::rewrite() {
  std::string text;
  for (const auto& [k, crashes] : crashed_) text += line('C', k, crashes);
  for (const auto& [k, crashes] : running_) text += line('S', k, crashes);
  const std::string tmp = path_ + ".tmp";
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, kPrivateFile);
  if (fd < 0 || ::fchmod(fd, kPrivateFile) != 0 || !write_all(fd, text.data(), text.size()) || ::rename(tmp.c_str(), path_.c_str()) != 0) {
    spdlog::warn("crash journal {}: cannot compact: {}", path_, std::strerror(errno));
    if (fd >= 0) ::close(fd);
    return;
  }
  ::close(fd);
  if (fd_ >= 0) ::close(fd_);
  fd_ = ::open(path_.c_str(), O_WRONLY | O_APPEND | O_CLOEXEC);
  bytes_ = text.size();
}

void CrashJournal::append(const std::string& text) {
  if (fd_ < 0) return;
  if (!write_all(fd_, text.data(), text.size())) {
    spdlog::warn("crash journal {}: write failed ({}); crash-loop protection is off", path_, std::strerror(errno));
    ::close(fd_);
    fd_ = -1;
    return;
  }
  bytes_ += text.size();
  if (bytes_ > kCompactBytes) rewrite();
}

int CrashJournal::crashes(const Request& r) const {
  std::lock_guard lock(mu_);
  auto it = crashed_.find(key(r));
  return it == crashed_.end() ? 0 : it->second;
}

size_t CrashJournal::suspects() const {
  std::lock_guard lock(mu_);
  return crashed_.size();
}

void CrashJournal::started(const Request& r) {
  std::lock_guard lock(mu_);
  Key k = key(r);
  auto it = crashed_.find(k);
  const int crashes = it == crashed_.end() ? 0 : it->second;
  running_[k] = crashes;
  append(line('S', k, crashes));
}

void CrashJournal::finished(const Request& r) {
  std::lock_guard lock(mu_);
  Key k = key(r);
  running_.erase(k);
  crashed_.erase(k);
  append(line('F', k, 0));
}

void SuspectGate::enter(bool suspect) {
  std::unique_lock lock(mu_);
  if (!suspect) {
    ++normal_waiting_;
    cv_.wait(lock, [&] { return suspects_waiting_ == 0 && !suspect_running_; });
    --normal_waiting_;
    ++normal_;
    return;
  }
  ++suspects_waiting_;
  cv_.wait(lock, [&] { return normal_ == 0 && !suspect_running_; });
  --suspects_waiting_;
  suspect_running_ = true;
}

void SuspectGate::leave(bool suspect) {
  {
    std::lock_guard lock(mu_);
    if (suspect) suspect_running_ = false;
    else --normal_;
  }
  cv_.notify_all();
}

SuspectGate::Counts SuspectGate::counts() const {
  std::lock_guard lock(mu_);
  return {normal_, normal_waiting_, suspects_waiting_, suspect_running_};
}

}  // namespace memrun::internal
