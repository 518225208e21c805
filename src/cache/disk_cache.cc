#include "cache/disk_cache.hpp"

#include "cache/entry_files.hpp"
#include "cache/mapped_file.hpp"
#include "core/digest.hpp"
#include "core/file_io.hpp"

#include <memrun/logging.hpp>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <spdlog/spdlog.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <vector>

namespace fs = std::filesystem;

namespace memrun::internal {

DiskCache::DiskCache(Options options) : opts_(std::move(options)) {
  hand_ = entries_.end();
  stats_.capacity = opts_.capacity;
  if (const std::string why = open_directory(); !why.empty()) {
    spdlog::warn("disk cache in '{}' is off: {}", opts_.dir, why);
    enabled_ = false;
    stats_.capacity = 0;
    lock_.reset();
    return;
  }
  rebuild();
}

std::string DiskCache::open_directory() {
  if (opts_.capacity == 0) return "no capacity";
  if (!make_private_dir(opts_.dir)) return std::string("cannot create it: ") + std::strerror(errno);
  // Before anything is read or removed: rebuild() would take another
  // process's writes in progress for a crash's leftovers.
  lock_.emplace(opts_.dir);
  if (lock_->state() == DirLock::State::kInUse) {
    stats_.dir_in_use = true;
    stats_.dir_holder_pid = lock_->holder();
    return "the directory is in use by " +
           (lock_->holder() ? "pid " + std::to_string(lock_->holder()) : std::string("another process")) +
           " (another worker on this cache root, or `memrun cache` changing it); workers on one machine need a "
           "cache root each";
  }
  if (!lock_->held()) return lock_->error();
  // Removed whatever happened: a full disk fails the write after the file
  // was created.
  const std::string probe = opts_.dir + "/.probe." + std::to_string(::getpid());
  const bool writable = write_file_synced(probe, "ok", kPrivateFile);
  const int err = errno;
  ::unlink(probe.c_str());
  return writable ? "" : std::string("cannot write in it: ") + std::strerror(err);
}

DiskCache::~DiskCache() = default;

// Reads every committed entry back into the index, oldest first; removes
// temporary files and data without a meta (a write that never committed:
// with the directory held, nobody else is writing).
void DiskCache::rebuild() {
  CacheDirScan found = scan_cache_dir(opts_.dir);
  std::error_code ec;
  for (const auto& path : found.temp_files) fs::remove(path, ec);
  for (const auto& path : found.orphan_data) fs::remove(path, ec);
  for (const auto& bad : found.bad) {
    spdlog::warn("disk cache: dropping entry {}: {}", bad.hash, bad.problem);
    remove_entry_files(opts_.dir, bad.hash);
    ++stats_.corrupt_dropped;
  }
  std::lock_guard lock(mu_);
  for (auto& f : found.entries) {
    Entry e;
    e.hash = std::move(f.hash);
    e.size = f.meta.size;
    e.stored = f.meta.stored();
    if (f.meta.etag) {
      e.ranges = std::make_shared<Ranges>(Version{*f.meta.etag, f.meta.size, f.meta.chunk}, std::move(f.meta.xxh3));
      e.ranges->durable = true;
    }
    e.url = std::move(f.meta.url);
    used_ += e.stored;
    add_locked(std::move(e));  // the newest ends up first
  }
  reserve_locked(0);  // the capacity may have shrunk since
  spdlog::info("disk cache {}: {} entries, {} bytes of {} found on start", opts_.dir, entries_.size(), used_,
               opts_.capacity);
}

DiskCache::Ranges::Ranges(Version version, std::vector<std::optional<uint64_t>> checksums)
    : v(std::move(version)), sums(std::move(checksums)), writing(sums.size(), false) {
  missing = static_cast<size_t>(std::count_if(sums.begin(), sums.end(), [](const auto& sum) { return !sum; }));
}

DiskCache::Entry& DiskCache::add_locked(Entry e) {
  e.id = next_id_++;
  entries_.push_front(std::move(e));
  index_[entries_.front().hash] = entries_.begin();
  return entries_.front();
}

bool DiskCache::in_use(const Entry& e) const { return !e.mapping.expired() || chunk_writes_.count(e.hash) > 0; }

DiskCache::Entry* DiskCache::current_locked(const std::string& hash, uint64_t id) {
  auto it = index_.find(hash);
  return it != index_.end() && it->second->id == id ? &*it->second : nullptr;
}

// The expected checksums of an entry from before the restart, and which
// chunks have been checked since (a chunk a partial entry did not hold then
// counts as checked: it is written by this process or never read). Shared by
// the entry and its Blobs.
struct DiskCache::Verification {
  EntryMeta meta;
  std::unique_ptr<std::atomic<bool>[]> checked;
  std::atomic<size_t> remaining{0};
  std::atomic<bool> corrupt{false};
};

namespace {

// Names a temporary file of this process apart from every other's.
std::string temp_suffix() {
  static std::atomic<uint64_t> writes{0};
  return "." + std::to_string(::getpid()) + "." + std::to_string(++writes) + ".tmp";
}

// A mapped entry whose chunks are checked on first read; the Blob's owner.
class CheckedMapping final : public ChunkCheck {
 public:
  CheckedMapping(std::shared_ptr<MappedFile> map, std::shared_ptr<DiskCache::Verification> v, std::string url)
      : map_(std::move(map)), v_(std::move(v)), url_(std::move(url)) {
    all_verified_ = v_->remaining == 0;
  }

  void verify(size_t offset, size_t length) const override {
    if (v_->corrupt) {  // found by another blob of this entry
      corrupt_ = true;
      throw Error(Code::kUnavailable, "disk cache entry for " + url_ + " failed its checksums; a retry refetches it");
    }
    const size_t chunk = v_->meta.chunk;
    const size_t first = offset / chunk;
    const size_t last = length == 0 ? first : (offset + length - 1) / chunk + 1;
    for (size_t i = first; i < last && i < v_->meta.xxh3.size(); ++i) {
      if (v_->checked[i].load(std::memory_order_acquire)) continue;
      const ChunkRange r = chunk_range(v_->meta, i);
      if (!chunk_matches(v_->meta, i, map_->data() + r.offset)) {
        v_->corrupt = true;
        corrupt_ = true;
        throw Error(Code::kUnavailable, "disk cache entry for " + url_ + ": bytes " + std::to_string(r.offset) +
                                            "-" + std::to_string(r.offset + r.length - 1) +
                                            " failed their checksum; the entry is dropped and a retry refetches it");
      }
      if (!v_->checked[i].exchange(true) && --v_->remaining == 0) all_verified_ = true;
    }
    if (v_->remaining == 0) all_verified_ = true;
  }

 private:
  std::shared_ptr<MappedFile> map_;
  std::shared_ptr<DiskCache::Verification> v_;
  std::string url_;
};

}  // namespace

std::shared_ptr<DiskCache::Verification> DiskCache::load_checksums(const Entry& e) const {
  MetaRead read = read_entry_meta(opts_.dir, e.hash);
  if (read.status != MetaRead::Status::kOk)
    throw std::runtime_error(read.status == MetaRead::Status::kGone ? "its meta file is gone" : read.problem);
  if (read.meta.size != e.size) throw std::runtime_error("its meta changed since the cache opened");
  auto v = std::make_shared<Verification>();
  v->meta = std::move(read.meta);
  v->checked = std::make_unique<std::atomic<bool>[]>(v->meta.xxh3.size());
  size_t held = 0;
  for (size_t i = 0; i < v->meta.xxh3.size(); ++i) {
    v->checked[i] = !v->meta.xxh3[i];
    held += v->meta.xxh3[i].has_value();
  }
  v->remaining = held;
  return v;
}

std::optional<Blob> DiskCache::get(const std::string& url) {
  if (!enabled_) return std::nullopt;
  return map_entry(sha256_hex(url), [](const Entry& e) { return !e.ranges || e.ranges->missing == 0; });
}

std::optional<DiskCache::Version> DiskCache::version(const std::string& url) {
  if (!enabled_) return std::nullopt;
  const std::string hash = sha256_hex(url);
  std::lock_guard lock(mu_);
  auto it = index_.find(hash);
  if (it == index_.end() || !it->second->ranges) return std::nullopt;
  return it->second->ranges->v;
}

std::optional<Blob> DiskCache::get_range(const std::string& url, const Version& v, uint64_t offset,
                                         uint64_t length) {
  if (!enabled_ || length == 0 || v.chunk == 0 || offset >= v.size || length > v.size - offset) return std::nullopt;
  const uint64_t first = offset / v.chunk, last = (offset + length - 1) / v.chunk;
  auto entry = map_entry(sha256_hex(url), [&](const Entry& e) {
    if (!e.ranges || !(e.ranges->v == v)) return false;
    for (uint64_t i = first; i <= last; ++i)
      if (!e.ranges->sums[i]) return false;
    return true;
  });
  if (!entry) return std::nullopt;
  // Checks the range's chunks only (those stored before a restart), never
  // the chunks not held: the whole-entry Blob does not leave this function.
  const std::byte* bytes = entry->read(offset, length);
  return internal::BlobAccess::make(std::make_shared<Blob>(std::move(*entry)), bytes, length, Tier::kDisk);
}

std::optional<Blob> DiskCache::map_entry(const std::string& hash, const std::function<bool(const Entry&)>& accept) {
  Entry snapshot;
  {
    std::lock_guard lock(mu_);
    if (drop_if_corrupt_locked(hash)) return std::nullopt;
    auto it = index_.find(hash);
    if (it == index_.end() || !accept(*it->second)) return std::nullopt;
    if (auto live = it->second->mapping.lock()) return hit_locked(it->second, std::move(live));
    snapshot = *it->second;
  }
  // First read since the restart: the checksums come from the meta file (a
  // few KiB per GiB), the chunks are checked as they are read.
  if (!snapshot.trusted && !snapshot.pending) {
    try {
      snapshot.pending = load_checksums(snapshot);
    } catch (const std::exception& ex) {
      drop_corrupt(hash, std::string("has unusable checksums (") + ex.what() + ")");
      return std::nullopt;
    }
  }
  std::shared_ptr<MappedFile> map;
  try {
    map = map_file(entry_data_path(opts_.dir, snapshot.hash), "cache entry " + snapshot.hash);
  } catch (const Error& e) {
    spdlog::warn("disk cache: {}", e.what());
    return std::nullopt;
  }
  if (map->size != snapshot.size) {
    // The checks would read past the mapping; the file was changed behind the cache's back.
    drop_corrupt(hash, "has " + std::to_string(map->size) + " bytes instead of " + std::to_string(snapshot.size));
    return std::nullopt;
  }
  std::lock_guard lock(mu_);
  auto it = index_.find(hash);
  // Evicted, or removed and created again, meanwhile.
  if (it == index_.end() || it->second->id != snapshot.id || !accept(*it->second)) return std::nullopt;
  Entry& e = *it->second;
  if (!e.trusted && !e.pending) e.pending = snapshot.pending;  // the first reader's checks are everyone's
  if (e.pending && e.pending->remaining == 0) {
    e.trusted = true;
    e.pending.reset();
  }
  // Another reader mapped it meanwhile: share that mapping, drop this one.
  if (auto live = e.mapping.lock()) return hit_locked(it->second, std::move(live));
  std::shared_ptr<const void> owner;
  e.mapped_check = nullptr;
  if (e.pending) {
    auto checked = std::make_shared<CheckedMapping>(map, e.pending, e.url);
    e.mapped_check = checked.get();
    owner = std::move(checked);
  } else {
    owner = map;
  }
  e.mapping = owner;
  e.mapped_data = map->data();
  return hit_locked(it->second, std::move(owner));
}

Blob DiskCache::hit_locked(List::iterator it, std::shared_ptr<const void> owner) {
  Entry& e = *it;
  if (opts_.policy == Policy::kSieve) {
    e.visited = true;
  } else if (it != entries_.begin()) {
    entries_.splice(entries_.begin(), entries_, it);  // LRU: to the front
  }
  ++stats_.hits;
  return internal::BlobAccess::make(std::move(owner), e.mapped_data, e.size, Tier::kDisk, e.mapped_check);
}

bool DiskCache::drop_if_corrupt(const std::string& url) {
  const std::string hash = sha256_hex(url);
  std::lock_guard lock(mu_);
  return drop_if_corrupt_locked(hash);
}

bool DiskCache::erase(const std::string& url) {
  const std::string hash = sha256_hex(url);
  std::lock_guard lock(mu_);
  auto it = index_.find(hash);
  if (it == index_.end()) return false;
  remove_locked(it->second);
  return true;
}

void DiskCache::drop_corrupt(const std::string& hash, const std::string& why) {
  std::lock_guard lock(mu_);
  if (auto it = index_.find(hash); it != index_.end()) {
    spdlog::warn("disk cache: entry for {} {}; dropped, will refetch", it->second->url, why);
    remove_locked(it->second);
  }
  ++stats_.corrupt_dropped;
}

bool DiskCache::drop_if_corrupt_locked(const std::string& hash) {
  auto it = index_.find(hash);
  if (it == index_.end() || !it->second->pending || !it->second->pending->corrupt) return false;
  spdlog::warn("disk cache: entry for {} failed its checksums; dropped, will refetch", it->second->url);
  remove_locked(it->second);
  ++stats_.corrupt_dropped;
  return true;
}

void DiskCache::remove_locked(List::iterator it) {
  remove_entry_files(opts_.dir, it->hash);
  used_ -= it->stored;
  if (hand_ == it) hand_ = it == entries_.begin() ? entries_.end() : std::prev(it);  // the hand moves headwards
  index_.erase(it->hash);
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
      for (size_t skip = 0; in_use(*victim) && skip < entries_.size(); ++skip) {
        if (victim == entries_.begin()) return false;
        --victim;
      }
      if (in_use(*victim)) return false;
    } else {
      // SIEVE: the hand moves from the tail towards the head, sparing (and
      // clearing) visited entries; new entries enter at the head.
      if (hand_ == entries_.end()) hand_ = std::prev(entries_.end());
      victim = hand_;
      const bool spare = victim->visited || in_use(*victim);
      victim->visited = false;
      hand_ = victim == entries_.begin() ? entries_.end() : std::prev(victim);
      if (spare) continue;
    }
    remove_locked(victim);
    ++stats_.evictions;
  }
  return used_ + reserved_ + bytes <= opts_.capacity;
}

std::unique_ptr<DiskCache::Writer> DiskCache::writer(const std::string& url) {
  if (!enabled_) return nullptr;
  std::unique_ptr<Writer> w(new Writer(*this, url));
  std::lock_guard lock(mu_);
  // Another writer of this URL would rename over the first one's files and
  // leave an entry whose files the other's eviction removes.
  if (index_.count(w->hash_) || chunk_writes_.count(w->hash_) || !writing_.insert(w->hash_).second) {
    w->registered_ = false;
    return nullptr;
  }
  return w;
}

bool DiskCache::put(const std::string& url, std::string_view bytes) {
  auto w = writer(url);
  if (!w) {
    std::lock_guard lock(mu_);
    return index_.count(sha256_hex(url)) > 0;
  }
  try {
    w->allocate(bytes.size());
    w->write(0, reinterpret_cast<const std::byte*>(bytes.data()), bytes.size());
    w->completed(0, bytes.size());
    return w->commit();
  } catch (const Error&) {
    return false;  // logged and counted by the writer
  }
}

std::shared_ptr<DiskCache::Ranges> DiskCache::start_chunk_locked(const std::string& url, const std::string& hash,
                                                                 const Version& v, uint64_t index, uint64_t length,
                                                                 uint64_t* entry_id) {
  auto it = index_.find(hash);
  if (it != index_.end()) {
    Entry& e = *it->second;
    if (!e.ranges) return nullptr;  // written whole: ranges are cut from that entry
    if (!(e.ranges->v == v)) {
      // Another version of the object (or another chunk size): replaced,
      // unless a Blob or a write still uses it.
      if (in_use(e)) return nullptr;
      remove_locked(it->second);
      it = index_.end();
    }
  }
  if (it == index_.end()) {
    // A whole download of the URL is under way, or a chunk write to a
    // removed entry's file is.
    if (writing_.count(hash) || chunk_writes_.count(hash)) return nullptr;
    // A sparse file of the object's size: the chunks land at their offsets
    // and take space as they arrive. No meta until the first chunk is in:
    // a crash before that leaves data without a meta, removed on start.
    const std::string path = entry_data_path(opts_.dir, hash);
    bool created = make_private_dir(fs::path(path).parent_path().string());
    const int fd = created ? ::open(path.c_str(), O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, kPrivateFile) : -1;
    created = fd >= 0 && ::fchmod(fd, kPrivateFile) == 0 && ::ftruncate(fd, static_cast<off_t>(v.size)) == 0;
    const int err = errno;
    if (fd >= 0) ::close(fd);
    if (!created) {
      ::unlink(path.c_str());
      ++stats_.not_cached;
      spdlog::warn("disk cache: cannot create the partial entry of {} ({} bytes): {}; serving its ranges uncached",
                   redact_credentials(url), v.size, std::strerror(err));
      return nullptr;
    }
    Entry e;
    e.url = redact_credentials(url);
    e.hash = hash;
    e.size = v.size;
    e.trusted = true;
    e.ranges = std::make_shared<Ranges>(v, std::vector<std::optional<uint64_t>>(chunk_count(v.size, v.chunk)));
    add_locked(std::move(e));
    it = index_.find(hash);
  }
  Entry& e = *it->second;
  Ranges& r = *e.ranges;
  if (r.sums[index] || r.writing[index]) return nullptr;
  ++chunk_writes_[hash];  // before the reservation: the entry is never its own victim
  if (!reserve_locked(length)) {
    if (--chunk_writes_[hash] == 0) chunk_writes_.erase(hash);
    ++stats_.not_cached;
    spdlog::warn("disk cache: no room for chunk {} of {} ({} bytes, capacity {}); serving it uncached", index, e.url,
                 length, opts_.capacity);
    if (r.missing == r.sums.size() && !in_use(e)) remove_locked(it->second);  // holds nothing
    return nullptr;
  }
  reserved_ += length;
  r.writing[index] = true;
  *entry_id = e.id;
  return e.ranges;
}

std::string DiskCache::write_chunk(const std::string& hash, uint64_t offset, std::string_view bytes) {
  const std::string path = entry_data_path(opts_.dir, hash);
  const int fd = ::open(path.c_str(), O_WRONLY | O_CLOEXEC);
  if (fd < 0) return "cannot open " + path + ": " + std::strerror(errno);
  std::string why;
  if (!pwrite_all(fd, bytes.data(), bytes.size(), offset)) why = "cannot write " + path + ": " + std::strerror(errno);
  // Not fdatasync'ed: the request waits for this write, and a sync of 8 MiB
  // took a cold 2 GiB range read from 0.84x to 1.2-1.8x curl here. A process
  // crash loses nothing (the page cache keeps the bytes); after a power loss
  // a listed chunk whose bytes never reached the disk fails its checksum on
  // first read, and the entry is dropped and fetched again.
  // A chunk not written whole gives back the blocks it took.
  if (!why.empty())
    ::fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, static_cast<off_t>(offset),
                static_cast<off_t>(bytes.size()));
  ::close(fd);
  return why;
}

bool DiskCache::put_chunk(const std::string& url, const Version& v, uint64_t index, std::string_view bytes) {
  if (!enabled_ || v.chunk == 0 || v.chunk > kMaxChunk || index >= chunk_count(v.size, v.chunk) ||
      bytes.size() != std::min(v.chunk, v.size - index * v.chunk))
    return false;
  const std::string hash = sha256_hex(url);
  uint64_t id = 0;
  std::shared_ptr<Ranges> r;
  {
    std::lock_guard lock(mu_);
    r = start_chunk_locked(url, hash, v, index, bytes.size(), &id);
    if (!r) {
      Entry* e = nullptr;
      if (auto it = index_.find(hash); it != index_.end()) e = &*it->second;
      return e && e->ranges && e->ranges->v == v && e->ranges->sums[index];  // held already
    }
  }
  const std::string why = write_chunk(hash, index * v.chunk, bytes);
  const uint64_t sum = why.empty() ? chunk_checksum(reinterpret_cast<const std::byte*>(bytes.data()), bytes.size()) : 0;
  // The meta after the bytes are written: a chunk it lists is all there
  // unless the machine lost power (see write_chunk). One rewrite at a time
  // per entry, each listing every chunk held by then.
  std::lock_guard order(r->meta_mu);
  EntryMeta meta;
  {
    std::lock_guard lock(mu_);
    reserved_ -= bytes.size();
    if (--chunk_writes_[hash] == 0) chunk_writes_.erase(hash);
    r->writing[index] = false;
    Entry* e = current_locked(hash, id);
    if (!e) return false;  // removed meanwhile (the object changed): its files are gone
    if (!why.empty()) {
      ++stats_.not_cached;
      spdlog::warn("disk cache: cannot store chunk {} of {}: {}; serving it uncached", index, e->url, why);
      return false;
    }
    r->sums[index] = sum;
    --r->missing;
    e->stored += bytes.size();
    used_ += bytes.size();
    meta = {e->url, e->size, static_cast<size_t>(v.chunk), r->sums, v.etag};
  }
  const std::string path = entry_meta_path(opts_.dir, hash), tmp = path + temp_suffix();
  bool written = write_file_synced(tmp, entry_meta_json(meta), kPrivateFile);
  int err = errno;
  {
    // Under mu_: a removal of the entry cannot come between the check and
    // the rename, which would leave a meta without its data.
    std::lock_guard lock(mu_);
    if (!current_locked(hash, id)) {
      ::unlink(tmp.c_str());
      return false;
    }
    if (written) {
      written = ::rename(tmp.c_str(), path.c_str()) == 0;
      err = errno;
      stats_.writes += written;
    }
  }
  if (!written) {
    ::unlink(tmp.c_str());
    // Not held: a chunk is held when the meta lists it, so that what this
    // process counts is what a restart finds. Its bytes stay (a Blob may
    // already map them) until the entry goes or the chunk is stored again;
    // no meta written after this one lists it (meta_mu is held).
    std::lock_guard lock(mu_);
    if (Entry* e = current_locked(hash, id); e && r->sums[index]) {
      r->sums[index].reset();
      ++r->missing;
      e->stored -= bytes.size();
      used_ -= bytes.size();
    }
    ++stats_.not_cached;
    spdlog::warn("disk cache: cannot write the meta of {}: {}; its chunk {} is served uncached", meta.url,
                 std::strerror(err), index);
    return false;
  }
  if (!r->durable) {
    fsync_dir(fs::path(path).parent_path().string());
    r->durable = true;
  }
  return true;
}

DiskCache::Writer::Writer(DiskCache& cache, const std::string& url)
    : cache_(cache), url_(redact_credentials(url)), hash_(sha256_hex(url)) {
  const std::string suffix = temp_suffix();
  data_tmp_ = entry_data_path(cache_.opts_.dir, hash_) + suffix;
  meta_tmp_ = entry_meta_path(cache_.opts_.dir, hash_) + suffix;
}

DiskCache::Writer::~Writer() {
  if (fd_ >= 0) ::close(fd_);
  if (!registered_) return;  // refused by writer(): it owns nothing
  if (!committed_) {
    ::unlink(data_tmp_.c_str());
    ::unlink(meta_tmp_.c_str());
  }
  std::lock_guard lock(cache_.mu_);
  if (allocated_ && !committed_) cache_.reserved_ -= size_;
  cache_.writing_.erase(hash_);
}

void DiskCache::Writer::report(const std::string& what, int err) {
  failed_ = true;
  {
    std::lock_guard lock(cache_.mu_);
    ++cache_.stats_.not_cached;
  }
  spdlog::warn("disk cache: cannot store {} ({} bytes): {}: {}; serving it uncached", url_, size_, what,
               std::strerror(err));
}

void DiskCache::Writer::fail(const std::string& what, int err) {
  report(what, err);
  throw Error(err == ENOSPC || err == EFBIG || err == EDQUOT ? Code::kResourceExhausted : Code::kInternal,
              "disk cache: " + what + ": " + std::strerror(err));
}

uint64_t DiskCache::Writer::chunk_length(size_t i) const {
  return std::min<uint64_t>(cache_.opts_.chunk_size, size_ - i * cache_.opts_.chunk_size);
}

void DiskCache::Writer::allocate(uint64_t size) {
  if (allocated_) {
    if (size != size_)
      throw Error(Code::kUnavailable, url_ + " changed size during the download (" + std::to_string(size_) + " → " +
                                          std::to_string(size) + " bytes)");
    return;
  }
  size_ = size;
  {
    std::lock_guard lock(cache_.mu_);
    if (!cache_.reserve_locked(size)) {
      failed_ = true;
      ++cache_.stats_.not_cached;
      spdlog::warn("disk cache: no room for {} ({} bytes, capacity {}); serving it uncached", url_, size,
                   cache_.opts_.capacity);
      throw Error(Code::kResourceExhausted, "disk cache: no room for " + std::to_string(size) + " bytes");
    }
    cache_.reserved_ += size;
    allocated_ = true;
  }
  if (!make_private_dir(fs::path(data_tmp_).parent_path().string()))
    fail("cannot create " + fs::path(data_tmp_).parent_path().string(), errno);
  fd_ = ::open(data_tmp_.c_str(), O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, kPrivateFile);
  if (fd_ < 0 || ::fchmod(fd_, kPrivateFile) != 0) fail("cannot create " + data_tmp_, errno);
  // Allocated up front: a full disk shows here, not half way through.
  if (size > 0) {
    const int rc = ::posix_fallocate(fd_, 0, static_cast<off_t>(size));
    if (rc == EOPNOTSUPP || rc == EINVAL) {
      if (::ftruncate(fd_, static_cast<off_t>(size)) != 0) fail("cannot size " + data_tmp_, errno);
    } else if (rc != 0) {
      fail("cannot allocate " + std::to_string(size) + " bytes", rc);
    }
  }
  try {
    map_ = map_fd(fd_, size, data_tmp_);
  } catch (const Error&) {
    fail("cannot map " + data_tmp_, errno);
  }
  const size_t chunks = chunk_count(size, cache_.opts_.chunk_size);
  arrived_ = std::make_unique<std::atomic<uint64_t>[]>(chunks);
  sums_.assign(chunks, 0);
}

void DiskCache::Writer::write(uint64_t offset, const std::byte* data, size_t n) {
  if (!allocated_ || offset > size_ || n > size_ - offset)
    throw Error(Code::kUnavailable, url_ + ": the source sent more bytes than its size (" + std::to_string(size_) + ")");
  if (!pwrite_all(fd_, data, n, offset)) fail("cannot write " + data_tmp_, errno);
}

// Each chunk is hashed by the thread that completes it, while other ranges
// are still arriving, from the page cache it was just written to.
void DiskCache::Writer::completed(uint64_t offset, uint64_t n) {
  const uint64_t chunk = cache_.opts_.chunk_size;
  for (uint64_t at = offset, end = offset + n; at < end;) {
    const size_t i = static_cast<size_t>(at / chunk);
    const uint64_t part = std::min(end, (i + 1) * chunk) - at;
    if (arrived_[i].fetch_add(part) + part == chunk_length(i))
      sums_[i] = chunk_checksum(map_->data() + i * chunk, chunk_length(i));
    at += part;
  }
}

Blob DiskCache::Writer::bytes() const {
  if (!map_) return Blob();
  return internal::BlobAccess::make(map_, map_->data(), map_->size, Tier::kRemote);
}

bool DiskCache::Writer::commit() {
  for (size_t i = 0; i < sums_.size(); ++i)
    if (arrived_[i] != chunk_length(i))
      throw Error(Code::kInternal, "disk cache: " + url_ + " committed before all of it arrived");
  const std::string data = entry_data_path(cache_.opts_.dir, hash_), meta = entry_meta_path(cache_.opts_.dir, hash_);
  const std::string m = entry_meta_json({url_, size_, cache_.opts_.chunk_size, {sums_.begin(), sums_.end()}, {}});
  const bool ok = ::fsync(fd_) == 0 && write_file_synced(meta_tmp_, m, kPrivateFile) &&
                  ::rename(data_tmp_.c_str(), data.c_str()) == 0 &&
                  ::rename(meta_tmp_.c_str(), meta.c_str()) == 0;  // the commit point
  if (!ok) {
    report("cannot commit", errno);
    return false;
  }
  fsync_dir(fs::path(data).parent_path().string());
  committed_ = true;
  std::lock_guard lock(cache_.mu_);
  cache_.reserved_ -= size_;
  Entry e;
  e.url = url_;
  e.hash = hash_;
  e.size = size_;
  e.stored = size_;
  e.trusted = true;
  e.mapping = map_;
  e.mapped_data = map_->data();
  cache_.add_locked(std::move(e));
  cache_.used_ += size_;
  ++cache_.stats_.writes;
  return true;
}

DiskCacheStats DiskCache::stats() const {
  std::lock_guard lock(mu_);
  DiskCacheStats s = stats_;
  s.entries = entries_.size();
  s.bytes = used_;
  for (const auto& e : entries_)
    if (!e.mapping.expired()) s.mapped_bytes += e.stored;
  return s;
}

}  // namespace memrun::internal
