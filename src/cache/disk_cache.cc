#include "cache/disk_cache.hpp"

#include "cache/mapped_file.hpp"
#include "core/digest.hpp"

#include <fcntl.h>
#include <unistd.h>
#include <xxhash.h>

#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <vector>

namespace fs = std::filesystem;

namespace memrun::internal {

namespace {

constexpr int kFormat = 1;

std::vector<uint64_t> checksums(std::string_view bytes, size_t chunk) {
  std::vector<uint64_t> out;
  for (size_t off = 0; off < bytes.size(); off += chunk)
    out.push_back(XXH3_64bits(bytes.data() + off, std::min(chunk, bytes.size() - off)));
  return out;
}

// Writes all of `bytes` and fsyncs; errno is kept on failure.
bool write_file(const std::string& path, std::string_view bytes) {
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) return false;
  size_t done = 0;
  while (done < bytes.size()) {
    ssize_t n = ::write(fd, bytes.data() + done, bytes.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      int err = n < 0 ? errno : ENOSPC;
      ::close(fd);
      errno = err;
      return false;
    }
    done += static_cast<size_t>(n);
  }
  if (::fsync(fd) != 0) {
    int err = errno;
    ::close(fd);
    errno = err;
    return false;
  }
  return ::close(fd) == 0;
}

void fsync_dir(const std::string& dir) {
  int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd >= 0) {
    ::fsync(fd);
    ::close(fd);
  }
}

}  // namespace

DiskCache::DiskCache(Options options) : opts_(std::move(options)) {
  hand_ = entries_.end();
  stats_.capacity = opts_.capacity;
  std::error_code ec;
  fs::create_directories(opts_.dir, ec);
  const std::string probe = opts_.dir + "/.probe." + std::to_string(::getpid());
  if (ec || opts_.capacity == 0 || !write_file(probe, "ok")) {
    spdlog::warn("disk cache in '{}' is off: {}", opts_.dir,
                 opts_.capacity == 0 ? "no capacity" : ec ? ec.message() : std::strerror(errno));
    enabled_ = false;
    stats_.capacity = 0;
    return;
  }
  ::unlink(probe.c_str());
  rebuild();
}

DiskCache::~DiskCache() = default;

std::string DiskCache::data_path(const std::string& hash) const {
  return opts_.dir + "/" + hash.substr(0, 2) + "/" + hash + ".data";
}
std::string DiskCache::meta_path(const std::string& hash) const {
  return opts_.dir + "/" + hash.substr(0, 2) + "/" + hash + ".meta";
}

// Reads every committed entry back into the index, oldest first; removes
// temporary files and data without a meta (a write that never committed).
void DiskCache::rebuild() {
  struct Found {
    Entry entry;
    fs::file_time_type mtime;
  };
  std::vector<Found> found;
  std::error_code ec;
  for (const auto& shard : fs::directory_iterator(opts_.dir, ec)) {
    const auto name = shard.path().filename().string();
    if (!shard.is_directory() || name.size() != 2) continue;  // crash journal etc. live beside
    for (const auto& file : fs::directory_iterator(shard.path(), ec)) {
      const auto path = file.path().string();
      const auto ext = file.path().extension().string();
      if (ext == ".tmp") {
        fs::remove(file.path(), ec);
        continue;
      }
      const std::string hash = file.path().stem().string();
      if (ext == ".data" && !fs::exists(meta_path(hash))) {
        fs::remove(file.path(), ec);
        continue;
      }
      if (ext != ".meta") continue;
      try {
        nlohmann::json meta = nlohmann::json::parse(std::ifstream(path));
        Entry e;
        e.url = meta.at("url").get<std::string>();
        e.size = meta.at("size").get<uint64_t>();
        e.hash = hash;
        if (meta.at("format").get<int>() != kFormat || sha256_hex(e.url) != hash ||
            fs::file_size(data_path(hash)) != e.size)
          throw std::runtime_error("does not match its data");
        found.push_back({std::move(e), fs::last_write_time(file.path())});
      } catch (const std::exception& ex) {
        spdlog::warn("disk cache: dropping entry {}: {}", hash, ex.what());
        fs::remove(path, ec);
        fs::remove(data_path(hash), ec);
        ++stats_.corrupt_dropped;
      }
    }
  }
  std::sort(found.begin(), found.end(), [](const Found& a, const Found& b) { return a.mtime > b.mtime; });
  std::lock_guard lock(mu_);
  for (auto& f : found) {
    used_ += f.entry.size;
    entries_.push_back(std::move(f.entry));  // newest first
    index_[entries_.back().url] = std::prev(entries_.end());
  }
  reserve_locked(0);  // the capacity may have shrunk since
  spdlog::info("disk cache {}: {} entries, {} bytes of {} found on start", opts_.dir, entries_.size(), used_,
               opts_.capacity);
}

bool DiskCache::verify(const Entry& e) const {
  std::string meta_text;
  {
    std::ifstream in(meta_path(e.hash));
    std::stringstream s;
    s << in.rdbuf();
    meta_text = s.str();
  }
  try {
    auto meta = nlohmann::json::parse(meta_text);
    const auto expected = meta.at("xxh3").get<std::vector<uint64_t>>();
    const size_t chunk = meta.at("chunk").get<size_t>();
    auto map = map_file(data_path(e.hash), "cache entry " + e.hash);
    return checksums(std::string_view(reinterpret_cast<const char*>(map->data()), map->size), chunk) == expected;
  } catch (const std::exception&) {
    return false;
  }
}

std::optional<Blob> DiskCache::get(const std::string& url) {
  if (!enabled_) return std::nullopt;
  Entry snapshot;
  {
    std::lock_guard lock(mu_);
    auto it = index_.find(url);
    if (it == index_.end()) return std::nullopt;
    snapshot = *it->second;
  }
  // Checked outside the lock: a multi-GB entry takes a while.
  if (!snapshot.verified && !verify(snapshot)) {
    spdlog::warn("disk cache: entry for {} failed its checksums; dropped, will refetch", url);
    std::lock_guard lock(mu_);
    if (auto it = index_.find(url); it != index_.end()) remove_locked(it->second);
    ++stats_.corrupt_dropped;
    return std::nullopt;
  }
  std::shared_ptr<MappedFile> map;
  try {
    map = map_file(data_path(snapshot.hash), "cache entry " + snapshot.hash);
  } catch (const Error& e) {
    spdlog::warn("disk cache: {}", e.what());
    return std::nullopt;
  }
  std::lock_guard lock(mu_);
  auto it = index_.find(url);
  if (it == index_.end()) return std::nullopt;  // evicted meanwhile
  Entry& e = *it->second;
  e.verified = true;
  e.mapping = map;
  if (opts_.policy == Policy::kSieve) {
    e.visited = true;
  } else if (it->second != entries_.begin()) {
    entries_.splice(entries_.begin(), entries_, it->second);  // LRU: to the front
  }
  ++stats_.hits;
  const std::byte* data = map->data();
  const size_t size = map->size;
  return Blob(std::move(map), data, size, Tier::kDisk);
}

void DiskCache::remove_locked(List::iterator it) {
  std::error_code ec;
  fs::remove(meta_path(it->hash), ec);  // meta first: a half-removed entry is uncommitted
  fs::remove(data_path(it->hash), ec);
  used_ -= it->size;
  if (hand_ == it) hand_ = it == entries_.begin() ? entries_.end() : std::prev(it);  // the hand moves headwards
  index_.erase(it->url);
  entries_.erase(it);
}

bool DiskCache::reserve_locked(uint64_t bytes) {
  if (bytes > opts_.capacity) return false;
  // Each pass over the list clears visited bits (SIEVE), so two passes find
  // a victim unless every entry is mapped by a running handler.
  size_t budget = 2 * entries_.size() + 1;
  while (used_ + reserved_ + bytes > opts_.capacity && !entries_.empty() && budget-- > 0) {
    List::iterator victim;
    if (opts_.policy == Policy::kLru) {
      victim = std::prev(entries_.end());
      for (size_t skip = 0; victim->mapping.lock() && skip < entries_.size(); ++skip) {
        if (victim == entries_.begin()) return false;
        --victim;
      }
      if (victim->mapping.lock()) return false;
    } else {
      // SIEVE: the hand moves from the tail towards the head, sparing (and
      // clearing) visited entries; new entries enter at the head.
      if (hand_ == entries_.end()) hand_ = std::prev(entries_.end());
      victim = hand_;
      const bool spare = victim->visited || victim->mapping.lock() != nullptr;
      victim->visited = false;
      hand_ = victim == entries_.begin() ? entries_.end() : std::prev(victim);
      if (spare) continue;
    }
    remove_locked(victim);
    ++stats_.evictions;
  }
  return used_ + reserved_ + bytes <= opts_.capacity;
}

bool DiskCache::write_entry(const std::string& hash, const std::string& url, std::string_view bytes) {
  std::error_code ec;
  const std::string shard = opts_.dir + "/" + hash.substr(0, 2);
  fs::create_directories(shard, ec);
  const std::string data = data_path(hash), meta = meta_path(hash);
  static std::atomic<uint64_t> writes{0};
  const std::string suffix = "." + std::to_string(::getpid()) + "." + std::to_string(++writes) + ".tmp";
  nlohmann::json m = {{"format", kFormat},   {"url", url},
                      {"size", bytes.size()}, {"chunk", opts_.chunk_size},
                      {"xxh3", checksums(bytes, opts_.chunk_size)}};
  const std::string meta_text = m.dump();
  bool ok = write_file(data + suffix, bytes) && write_file(meta + suffix, meta_text) &&
            ::rename((data + suffix).c_str(), data.c_str()) == 0 &&
            ::rename((meta + suffix).c_str(), meta.c_str()) == 0;  // the commit point
  if (!ok) {
    const int err = errno;
    spdlog::warn("disk cache: cannot store {} ({} bytes): {}; serving it uncached", url, bytes.size(),
                 std::strerror(err));
    ::unlink((data + suffix).c_str());
    ::unlink((meta + suffix).c_str());
    return false;
  }
  fsync_dir(shard);
  return true;
}

bool DiskCache::put(const std::string& url, std::string_view bytes) {
  if (!enabled_) return false;
  const std::string hash = sha256_hex(url);
  {
    std::lock_guard lock(mu_);
    if (index_.count(url)) return true;
    // Another thread is writing this URL: its entry will serve. Two writers
    // would rename over each other's files and leave an entry whose files the
    // other's eviction removes.
    if (writing_.count(url)) return false;
    if (!reserve_locked(bytes.size())) {
      ++stats_.not_cached;
      spdlog::warn("disk cache: no room for {} ({} bytes, capacity {}); serving it uncached", url, bytes.size(),
                   opts_.capacity);
      return false;
    }
    reserved_ += bytes.size();
    writing_.insert(url);
  }
  const bool ok = write_entry(hash, url, bytes);
  std::lock_guard lock(mu_);
  reserved_ -= bytes.size();
  writing_.erase(url);
  if (!ok) {
    ++stats_.not_cached;
    return false;
  }
  Entry e;
  e.url = url;
  e.hash = hash;
  e.size = bytes.size();
  e.verified = true;  // written by this process
  entries_.push_front(std::move(e));
  index_[url] = entries_.begin();
  used_ += bytes.size();
  ++stats_.writes;
  return true;
}

DiskCacheStats DiskCache::stats() const {
  std::lock_guard lock(mu_);
  DiskCacheStats s = stats_;
  s.entries = entries_.size();
  s.bytes = used_;
  return s;
}

}  // namespace memrun::internal
