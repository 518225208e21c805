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
#include <memory>
#include <random>
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

// 64 random bits in hex: unique enough among the processes that ever ran
// one service.
std::string new_incarnation() {
  std::random_device random;
  const uint64_t bits = (static_cast<uint64_t>(random()) << 32) ^ random();
  std::ostringstream out;
  out << std::hex << bits;
  return out.str();
}

std::string slot_base(const std::string& dir, int slot) { return dir + "/inflight." + std::to_string(slot); }

}  // namespace

// What a journal file says: the incarnation that wrote it, whether its death
// was published, and the requests left running or suspected.
struct CrashJournal::Contents {
  std::string incarnation;
  bool published = false;
  std::map<Key, int> running;
  std::map<Key, int> crashed;
  size_t bad = 0;
};

CrashJournal::CrashJournal(const std::string& dir) : dir_(dir), incarnation_(new_incarnation()) {
  // Request ids and offsets are the service's business: private like the
  // disk cache beside them, also when an older version made them readable.
  if (!make_private_dir(dir_))
    throw Error(Code::kUnavailable, "crash journal: cannot create " + dir_ + ": " + std::strerror(errno));
  for (int slot = 0; slot < kSlots && lock_fd_ < 0; ++slot) {
    const std::string lock = slot_base(dir_, slot) + ".lock";
    int fd = ::open(lock.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, kPrivateFile);
    if (fd >= 0 && ::fchmod(fd, kPrivateFile) != 0) {
      ::close(fd);
      fd = -1;
    }
    if (fd < 0)
      throw Error(Code::kUnavailable, "crash journal: cannot open " + lock + ": " + std::strerror(errno));
    if (::flock(fd, LOCK_EX | LOCK_NB) == 0) {
      lock_fd_ = fd;
      path_ = slot_base(dir_, slot) + ".journal";
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

CrashJournal::Contents CrashJournal::read(const std::string& path) {
  Contents c;
  std::ifstream in(path);
  for (std::string text; std::getline(in, text);) {
    std::istringstream fields(text);
    char kind = 0;
    fields >> kind;
    if (kind == 'I' || kind == 'P') {  // "I incarnation" heads the file; "P incarnation": its death was published
      std::string id;
      fields >> id;
      if (fields.fail() || id.empty()) ++c.bad;
      else if (kind == 'I') c.incarnation = id;
      else c.published = id == c.incarnation;
      continue;
    }
    int32_t partition = 0;
    int64_t offset = 0;
    int crashes = 0;
    std::string id;
    fields >> partition >> offset;
    if (kind != 'F') fields >> crashes;
    fields >> id;
    // A line cut short by the death being recorded lacks its id.
    if (fields.fail() || id.empty() || (kind != 'S' && kind != 'F' && kind != 'C') || crashes < 0) {
      ++c.bad;
      continue;
    }
    Key k{partition, offset, id};
    if (kind == 'S') c.running[k] = crashes;
    if (kind == 'C') c.crashed[k] = crashes;
    if (kind == 'F') {
      c.running.erase(k);
      c.crashed.erase(k);
    }
  }
  return c;
}

namespace {

CrashJournal::Death death_of(const std::string& incarnation, const std::map<CrashJournal::Key, int>& running) {
  CrashJournal::Death d{incarnation.empty() ? new_incarnation() : incarnation, {}};
  for (const auto& [k, crashes] : running) d.requests.push_back({std::get<0>(k), std::get<1>(k), std::get<2>(k)});
  return d;
}

}  // namespace

void CrashJournal::load() {
  Contents c = read(path_);
  if (c.bad) spdlog::warn("crash journal {}: skipped {} unreadable line(s)", path_, c.bad);
  crashed_ = std::move(c.crashed);
  if (!c.published && !c.running.empty()) found_ = death_of(c.incarnation, c.running);
  for (const auto& [k, crashes] : c.running) {
    crashed_[k] = crashes + 1;
    spdlog::warn("request {} at partition {} offset {} was running when a worker died ({} time(s) so far)",
                 std::get<2>(k), std::get<0>(k), std::get<1>(k), crashes + 1);
  }
}

size_t CrashJournal::publish_dead_slots(const std::string& dir, const std::function<bool(const Death&)>& publish) {
  size_t published = 0;
  for (int slot = 0; slot < kSlots; ++slot) {
    const std::string base = slot_base(dir, slot);
    const int lock = ::open((base + ".lock").c_str(), O_RDWR | O_CLOEXEC);
    if (lock < 0) continue;  // never used
    // Closed also when `publish` throws: a slot left locked would keep the
    // next worker from its predecessor's suspects.
    const std::unique_ptr<const int, void (*)(const int*)> unlock(&lock, [](const int* fd) { ::close(*fd); });
    // Held: a live process writes there. Taken: no process starts in this
    // slot until it is marked.
    if (::flock(lock, LOCK_EX | LOCK_NB) == 0) {
      const Contents c = read(base + ".journal");
      if (!c.published && !c.running.empty()) {
        const Death d = death_of(c.incarnation, c.running);
        if (publish(d)) {
          ++published;
          // With its own I line, so that a journal from before incarnations
          // (none at its head) is marked too.
          const std::string mark = "I " + d.incarnation + "\nP " + d.incarnation + "\n";
          const int fd = ::open((base + ".journal").c_str(), O_WRONLY | O_APPEND | O_CLOEXEC);
          if (fd < 0 || !write_all(fd, mark.data(), mark.size()))
            spdlog::warn("crash journal {}.journal: cannot mark its death published: {}", base, std::strerror(errno));
          if (fd >= 0) ::close(fd);
        }
      }
    }
  }
  return published;
}

void CrashJournal::rewrite() {
  std::string text = "I " + incarnation_ + "\n";
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
