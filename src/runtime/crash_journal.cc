#include "runtime/crash_journal.hpp"

#include "core/file_io.hpp"

#include <memrun/status.hpp>

#include <fcntl.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <atomic>
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
// The file holds what compaction keeps and this much more; a line that
// does not fit compacts.
constexpr size_t kCompactBytes = 16u << 20;

// Request ids are a single token in a line.
std::string token(std::string_view id) {
  if (id.empty()) return "-";
  std::string out(id);
  for (char& c : out)
    if (c <= ' ' || c > '~') c = '_';
  return out;
}

template <class Out>
void format_line(Out& out, char kind, const std::tuple<int32_t, int64_t, std::string>& k, int crashes) {
  if (kind == 'F')
    fmt::format_to(std::back_inserter(out), "{} {} {} {}\n", kind, std::get<0>(k), std::get<1>(k), std::get<2>(k));
  else
    fmt::format_to(std::back_inserter(out), "{} {} {} {} {}\n", kind, std::get<0>(k), std::get<1>(k), crashes,
                   std::get<2>(k));
}

std::string line(char kind, const std::tuple<int32_t, int64_t, std::string>& k, int crashes) {
  std::string out;
  format_line(out, kind, k, crashes);
  return out;
}

// A journal's text: up to its first NUL byte (the mapped file's unwritten
// rest), all of it in a journal written by write(2).
std::string journal_text(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  if (const auto nul = text.find('\0'); nul != std::string::npos) text.resize(nul);
  return text;
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
  size_t end = 0;  // after the last whole line: where the next line goes
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
  if (!rewrite()) {
    ::close(lock_fd_);
    throw Error(Code::kUnavailable, "crash journal: cannot write " + path_ + ": " + std::strerror(errno));
  }
}

CrashJournal::~CrashJournal() {
  unmap();
  if (lock_fd_ >= 0) ::close(lock_fd_);  // releases the slot
}

void CrashJournal::unmap() {
  if (map_ != nullptr) ::munmap(map_, capacity_);
  map_ = nullptr;
  capacity_ = 0;
}

CrashJournal::Key CrashJournal::key(int32_t partition, int64_t offset, std::string_view request_id) {
  return {partition, offset, token(request_id)};
}

CrashJournal::Contents CrashJournal::read(const std::string& path) {
  Contents c;
  std::string all = journal_text(path);
  // A line without its '\n' was cut short by the death being recorded.
  const auto last = all.rfind('\n');
  c.end = last == std::string::npos ? 0 : last + 1;
  if (c.end != all.size()) {
    all.resize(c.end);
    ++c.bad;
  }
  std::istringstream in(all);
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
  any_crashed_ = !crashed_.empty();
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
          // After the text's last whole line (a mapped journal's file goes
          // on past its text), over a line the death cut short: appended
          // to it, the mark would turn it into a line read as whole.
          const std::string mark = "I " + d.incarnation + "\nP " + d.incarnation + "\n";
          const int fd = ::open((base + ".journal").c_str(), O_WRONLY | O_CLOEXEC);
          if (fd < 0 ||
              ::pwrite(fd, mark.data(), mark.size(), static_cast<off_t>(c.end)) != static_cast<ssize_t>(mark.size()))
            spdlog::warn("crash journal {}.journal: cannot mark its death published: {}", base, std::strerror(errno));
          if (fd >= 0) ::close(fd);
        }
      }
    }
  }
  return published;
}

bool CrashJournal::rewrite() {
  std::string text = "I " + incarnation_ + "\n";
  for (const auto& [k, crashes] : crashed_) text += line('C', k, crashes);
  for (const auto& r : running_)
    if (r.live) text += line('S', r.key, r.crashes);
  const size_t capacity = text.size() + kCompactBytes;
  unmap();
  // Sized first, written through the mapping, then renamed into place: a
  // reader sees the old file or the whole new one.
  const std::string tmp = path_ + ".tmp";
  const int fd = ::open(tmp.c_str(), O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, kPrivateFile);
  void* map = MAP_FAILED;
  if (fd >= 0 && ::fchmod(fd, kPrivateFile) == 0 && ::ftruncate(fd, static_cast<off_t>(capacity)) == 0)
    map = ::mmap(nullptr, capacity, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  const int err = errno;
  if (fd >= 0) ::close(fd);  // the mapping keeps the file
  if (map != MAP_FAILED) {
    std::memcpy(map, text.data(), text.size());
    if (::rename(tmp.c_str(), path_.c_str()) == 0) {
      map_ = static_cast<char*>(map);
      capacity_ = capacity;
      bytes_ = text.size();
      return true;
    }
    ::munmap(map, capacity);
  }
  const int failed = map == MAP_FAILED ? err : errno;
  spdlog::warn("crash journal {}: cannot write: {}; crash-loop protection is off", path_, std::strerror(failed));
  errno = failed;  // for the constructor's error, after the log line
  return false;
}

void CrashJournal::append(char kind, const Key& k, int crashes) {
  if (map_ == nullptr) return;
  fmt::memory_buffer buf;
  format_line(buf, kind, k, crashes);
  if (buf.size() >= capacity_ - bytes_) {
    // The new text holds this event: started() and finished() changed the
    // maps before appending.
    rewrite();
    return;
  }
  // The line, then its '\n': a process that dies between the two leaves a
  // line the next one skips, never a line it misreads.
  std::memcpy(map_ + bytes_, buf.data(), buf.size() - 1);
  std::atomic_ref<char>(map_[bytes_ + buf.size() - 1]).store('\n', std::memory_order_release);
  bytes_ += buf.size();
}

int CrashJournal::crashes(const Request& r) const {
  // Suspects are rare: most requests need neither the key nor the lock.
  if (!any_crashed_.load(std::memory_order_acquire)) return 0;
  return crashes_of(key(r));
}

int CrashJournal::crashes_of(const Key& k) const {
  if (!any_crashed_.load(std::memory_order_acquire)) return 0;
  std::lock_guard lock(mu_);
  auto it = crashed_.find(k);
  return it == crashed_.end() ? 0 : it->second;
}

size_t CrashJournal::suspects() const {
  std::lock_guard lock(mu_);
  return crashed_.size();
}

CrashJournal::Ticket CrashJournal::started_key(const Key& k) {
  std::lock_guard lock(mu_);
  auto it = crashed_.find(k);
  const int crashes = it == crashed_.end() ? 0 : it->second;
  Ticket ticket;
  if (free_running_.empty()) {
    ticket = running_.size();
    running_.emplace_back();
  } else {
    ticket = free_running_.back();
    free_running_.pop_back();
  }
  Running& r = running_[ticket];
  std::get<0>(r.key) = std::get<0>(k);
  std::get<1>(r.key) = std::get<1>(k);
  std::get<2>(r.key).assign(std::get<2>(k));  // into the slot's buffer, when large enough
  r.crashes = crashes;
  r.live = true;
  append('S', k, crashes);
  return ticket;
}

void CrashJournal::finished_key(const Key& k, Ticket ticket) {
  std::lock_guard lock(mu_);
  if (ticket == kNoTicket) {
    // By key: a request dead-lettered unrun, or a caller without a ticket.
    for (Ticket t = 0; t < running_.size() && ticket == kNoTicket; ++t)
      if (running_[t].live && running_[t].key == k) ticket = t;
  }
  if (ticket < running_.size() && running_[ticket].live) {
    running_[ticket].live = false;
    free_running_.push_back(ticket);
  }
  if (crashed_.erase(k) != 0) any_crashed_.store(!crashed_.empty(), std::memory_order_release);
  append('F', k, 0);
}

void SuspectGate::enter(bool suspect) {
  if (!suspect && !guarded_.load()) {
    normal_.fetch_add(1);
    if (!guarded_.load()) return;
    leave_normal();  // a suspect came between the two loads: it goes first
  }
  std::unique_lock lock(mu_);
  if (!suspect) {
    ++normal_waiting_;
    cv_.wait(lock, [&] { return !guarded_.load(); });
    --normal_waiting_;
    normal_.fetch_add(1);  // under the lock, so no suspect sets the guard in between
    return;
  }
  ++suspects_waiting_;
  guarded_.store(true);
  cv_.wait(lock, [&] { return normal_.load() == 0 && !suspect_running_; });
  --suspects_waiting_;
  suspect_running_ = true;
}

void SuspectGate::leave_normal() {
  if (normal_.fetch_sub(1) != 1 || !guarded_.load()) return;
  // Taken and let go before the wake-up: the suspect is then either before
  // its check of the count, which it will see at 0, or asleep.
  { std::lock_guard lock(mu_); }
  cv_.notify_all();
}

void SuspectGate::leave(bool suspect) {
  if (!suspect) {
    leave_normal();
    return;
  }
  {
    std::lock_guard lock(mu_);
    suspect_running_ = false;
    guarded_.store(suspects_waiting_ > 0);
  }
  cv_.notify_all();
}

SuspectGate::Counts SuspectGate::counts() const {
  std::lock_guard lock(mu_);
  return {normal_.load(), normal_waiting_, suspects_waiting_, suspect_running_};
}

}  // namespace memrun::internal
