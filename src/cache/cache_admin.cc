// CacheDirectory: the operator's view of a disk cache directory, through the
// same file functions as the disk tier itself (entry_files.hpp) and the same
// lock (dir_lock.hpp).
#include <memrun/cache_admin.hpp>

#include "cache/dir_lock.hpp"
#include "cache/entry_files.hpp"
#include "core/digest.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <optional>
#include <set>
#include <utility>

namespace memrun {

namespace {

using internal::CacheDirScan;
using internal::DirLock;
using internal::MetaRead;
using internal::ScannedEntry;

CacheEntryInfo info_of(const std::string& dir, const ScannedEntry& e) {
  return {e.meta.url,  e.meta.size,         internal::entry_data_path(dir, e.hash), e.committed, e.meta.xxh3.size(),
          e.meta.stored(), e.meta.chunks_held()};
}

// Removes one entry and records it in `out`.
void evict(const std::string& dir, const ScannedEntry& e, CacheEvictResult& out) {
  internal::remove_entry_files(dir, e.hash);
  out.removed.push_back(info_of(dir, e));
  out.bytes_removed += e.meta.stored();
}

// The directory's lock for one changing call.
DirLock lock_or_throw(const std::string& dir) {
  DirLock lock(dir);
  if (lock.state() == DirLock::State::kInUse)
    throw Error(Code::kUnavailable,
                "cache directory " + dir + " is in use by " +
                    (lock.holder() ? "worker pid " + std::to_string(lock.holder()) : std::string("another process")) +
                    "; stop it first");
  if (!lock.held()) throw Error(Code::kUnavailable, "cannot change cache directory " + dir + ": " + lock.error());
  return lock;
}

// The identity of the files a check read: a worker may evict the entry and
// write the same URL again while the check runs, and that is no corruption.
bool same_file(const std::string& path, uint64_t inode) {
  struct stat st {};
  return ::stat(path.c_str(), &st) == 0 && st.st_ino == inode;
}

// Reads all of [offset, offset + length) or says why not.
std::string read_range(int fd, std::byte* out, uint64_t offset, uint64_t length) {
  uint64_t done = 0;
  while (done < length) {
    const ssize_t n = ::pread(fd, out + done, length - done, static_cast<off_t>(offset + done));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return std::string("cannot read them: ") + std::strerror(errno);
    if (n == 0) return "the data file ends before them";
    done += static_cast<uint64_t>(n);
  }
  return "";
}

// Checks every chunk of one entry. pread rather than a mapping: a disk's read
// error is then a result, not a SIGBUS.
CacheVerifyResult check_entry(const std::string& dir, const ScannedEntry& e, std::vector<std::byte>& buffer,
                              const std::function<void(uint64_t)>& advance) {
  CacheVerifyResult r;
  r.url = e.meta.url;
  r.data_path = internal::entry_data_path(dir, e.hash);
  r.size = e.meta.size;
  uint64_t checked = 0;
  const MetaRead m = internal::read_entry_meta(dir, e.hash);
  if (m.status == MetaRead::Status::kGone) r.status = CacheVerifyResult::Status::kGone;
  if (m.status == MetaRead::Status::kBad) {
    r.status = CacheVerifyResult::Status::kUnreadableMeta;
    r.problem = m.problem;
  }
  if (m.status == MetaRead::Status::kOk) {
    const int fd = ::open(r.data_path.c_str(), O_RDONLY | O_CLOEXEC);
    struct stat st {};
    if (fd < 0 || ::fstat(fd, &st) != 0) {
      r.status = CacheVerifyResult::Status::kCorrupt;
      r.bad_length = m.meta.size;
      r.problem = std::string("cannot open its data file: ") + std::strerror(errno);
    } else {
      ::posix_fadvise(fd, 0, 0, POSIX_FADV_SEQUENTIAL);
      for (size_t i = 0; i < m.meta.xxh3.size(); ++i) {
        const internal::ChunkRange range = internal::chunk_range(m.meta, i);
        if (!m.meta.xxh3[i]) continue;  // a partial entry's chunk not held: nothing to check
        buffer.resize(std::max<size_t>(buffer.size(), range.length));
        std::string problem = read_range(fd, buffer.data(), range.offset, range.length);
        if (problem.empty() && !internal::chunk_matches(m.meta, i, buffer.data())) problem = "failed their checksum";
        checked += range.length;
        advance(range.length);
        if (!problem.empty()) {
          r.status = CacheVerifyResult::Status::kCorrupt;
          r.bad_offset = range.offset;
          r.bad_length = range.length;
          r.problem = "bytes " + std::to_string(range.offset) + "-" +
                      std::to_string(range.offset + range.length - 1) + " " + problem;
          break;
        }
      }
    }
    if (fd >= 0) ::close(fd);
    if (!same_file(internal::entry_meta_path(dir, e.hash), m.inode) ||
        (fd >= 0 && !same_file(r.data_path, st.st_ino))) {
      CacheVerifyResult gone;
      gone.status = CacheVerifyResult::Status::kGone;
      gone.url = e.meta.url;
      gone.data_path = std::move(r.data_path);
      gone.size = e.meta.size;
      r = std::move(gone);
    }
  }
  advance(e.meta.stored() - std::min(checked, e.meta.stored()));  // what was not read still counts as done
  return r;
}

}  // namespace

CacheDirectory::CacheDirectory(std::string dir) : dir_(std::move(dir)) {
  struct stat st {};
  if (::stat(dir_.c_str(), &st) != 0)
    throw Error(Code::kNotFound, "no cache directory " + dir_ + ": " + std::strerror(errno));
  if (!S_ISDIR(st.st_mode)) throw Error(Code::kNotFound, dir_ + " is not a directory");
}

std::vector<CacheEntryInfo> CacheDirectory::list() const {
  const CacheDirScan scan = internal::scan_cache_dir(dir_);
  std::vector<CacheEntryInfo> out;
  out.reserve(scan.entries.size());
  for (const auto& e : scan.entries) out.push_back(info_of(dir_, e));
  return out;
}

CacheDirectoryStats CacheDirectory::stats() const {
  const CacheDirScan scan = internal::scan_cache_dir(dir_);
  CacheDirectoryStats s;
  s.entries = scan.entries.size();
  for (const auto& e : scan.entries) s.bytes += e.meta.stored();
  for (const auto& path : scan.temp_files) {
    struct stat st {};
    if (::stat(path.c_str(), &st) != 0) continue;  // committed or abandoned meanwhile
    ++s.temp_files;
    s.temp_bytes += static_cast<uint64_t>(st.st_size);
  }
  s.orphans = scan.orphan_data.size() + scan.bad.size();
  s.holder_pid = DirLock::holder_of(dir_);
  return s;
}

std::vector<CacheVerifyResult> CacheDirectory::verify(const CacheVerifyOptions& options) const {
  std::optional<DirLock> lock;
  if (options.drop) lock.emplace(lock_or_throw(dir_));  // before the scan: refused at once, not after it
  const CacheDirScan scan = internal::scan_cache_dir(dir_);
  uint64_t total = 0, done = 0;
  for (const auto& e : scan.entries) total += e.meta.stored();
  auto advance = [&](uint64_t n) {
    done += n;
    if (options.progress) options.progress(done, total);
  };
  std::vector<CacheVerifyResult> out;
  std::vector<std::byte> buffer;
  for (const auto& e : scan.entries) {
    out.push_back(check_entry(dir_, e, buffer, advance));
    const auto status = out.back().status;
    if (options.drop && (status == CacheVerifyResult::Status::kCorrupt ||
                         status == CacheVerifyResult::Status::kUnreadableMeta))
      out.back().dropped = internal::remove_entry_files(dir_, e.hash);
  }
  for (const auto& bad : scan.bad) {
    CacheVerifyResult r;
    r.status = CacheVerifyResult::Status::kUnreadableMeta;
    r.data_path = internal::entry_data_path(dir_, bad.hash);
    r.problem = bad.problem;
    if (options.drop) r.dropped = internal::remove_entry_files(dir_, bad.hash);
    out.push_back(std::move(r));
  }
  return out;
}

CacheEvictResult CacheDirectory::evict_urls(const std::vector<std::string>& urls) {
  const DirLock lock = lock_or_throw(dir_);
  const CacheDirScan scan = internal::scan_cache_dir(dir_);
  std::set<const ScannedEntry*> chosen;
  CacheEvictResult out;
  for (const auto& url : urls) {
    // The exact URL names its entry by hash; as list() shows it (redacted),
    // it names every entry shown so.
    const std::string hash = internal::sha256_hex(url);
    bool found = false;
    for (const auto& e : scan.entries) {
      if (e.hash != hash && e.meta.url != url) continue;
      chosen.insert(&e);
      found = true;
    }
    if (!found && std::find(out.not_found.begin(), out.not_found.end(), url) == out.not_found.end())
      out.not_found.push_back(url);
  }
  for (const auto& e : scan.entries) {  // oldest first, as the results promise
    if (!chosen.count(&e)) {
      out.bytes_left += e.meta.stored();
      continue;
    }
    evict(dir_, e, out);
  }
  return out;
}

CacheEvictResult CacheDirectory::evict_all() {
  const DirLock lock = lock_or_throw(dir_);
  const CacheDirScan scan = internal::scan_cache_dir(dir_);
  CacheEvictResult out;
  for (const auto& e : scan.entries) {
    evict(dir_, e, out);
  }
  // With the lock held nobody is writing: these are what crashes left.
  for (const auto& bad : scan.bad) out.leftovers_removed += internal::remove_entry_files(dir_, bad.hash);
  for (const auto* paths : {&scan.temp_files, &scan.orphan_data})
    for (const auto& path : *paths) out.leftovers_removed += ::unlink(path.c_str()) == 0;
  return out;
}

CacheEvictResult CacheDirectory::evict_to_bytes(uint64_t max_bytes) {
  const DirLock lock = lock_or_throw(dir_);
  const CacheDirScan scan = internal::scan_cache_dir(dir_);
  CacheEvictResult out;
  for (const auto& e : scan.entries) out.bytes_left += e.meta.stored();
  for (const auto& e : scan.entries) {
    if (out.bytes_left <= max_bytes) break;
    evict(dir_, e, out);
    out.bytes_left -= e.meta.stored();
  }
  return out;
}

}  // namespace memrun
