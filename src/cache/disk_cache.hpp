// The disk tier: one file per object under {dir}/{h[0:2]}/{h}.data, where h
// is the SHA-256 of the URL (no URL text reaches a file name), beside
// {h}.meta holding the URL redacted (for people; entries are found by h, so
// no password or presigned signature is ever written), the size and an XXH3
// checksum per chunk. Directories are 0700 and files 0600 whatever the
// umask: a cached object may be as private as its URL.
//
// A download is written in place (a Writer is its target): ranges land in a
// temporary file at their offsets, whose space is allocated up front, and
// each chunk is hashed as soon as all of it has arrived. The file is fsynced
// and becomes visible by renaming the data file and then the meta file: an
// entry without its meta was never committed and is removed at startup. The
// index (URL hash → size, policy bits, ~100 bytes per entry whatever its size) is
// rebuilt from the meta files when the cache opens, so a restarted worker
// serves disk hits at once. Entries from before the restart are checked chunk
// by chunk when each chunk is first read (Blob::read, or all of them on
// Blob::data); a mismatch marks the entry corrupt, the next lookup drops it
// (counted) and the caller refetches.
//
// One DiskCache at a time uses a directory: it holds the directory's lock
// (DirLock) for its whole life, taken before it looks at anything, since
// opening a cache removes temporary files and data without a meta, which
// would be another process's writes in progress. A directory that another
// process holds turns the tier off, as an unwritable one does.
//
// Space is reserved before a write, so the capacity holds while many writes
// run. Eviction is SIEVE (Zhang et al., NSDI '24) or LRU; an entry whose
// mapping a Blob still holds is never chosen. A full disk, an unwritable
// directory or an object larger than the capacity means "not cached": logged
// and counted, never an error for the caller.
#pragma once

#include <memrun/context.hpp>

#include "cache/blob_access.hpp"
#include "cache/dir_lock.hpp"
#include "cache/mapped_file.hpp"
#include "remote/target.hpp"

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <list>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <unordered_set>
#include <vector>

namespace memrun::internal {

class DiskCache {
 public:
  enum class Policy { kSieve, kLru };
  struct Options {
    std::string dir;
    uint64_t capacity = 0;
    Policy policy = Policy::kSieve;
    size_t chunk_size = 4u << 20;  // bytes per checksum
  };
  class Writer;
  // An entry's expected checksums after a restart, and which chunks have
  // been checked since; shared by the entry and the Blobs that map it.
  struct Verification;

  explicit DiskCache(Options options);
  ~DiskCache();
  DiskCache(const DiskCache&) = delete;
  DiskCache& operator=(const DiskCache&) = delete;

  // A zero-copy mapping of the entry (tier kDisk), or nullopt.
  std::optional<Blob> get(const std::string& url);
  // A writer that makes `url` an entry, or null: the tier is off, the URL is
  // cached already, or another writer has it.
  std::unique_ptr<Writer> writer(const std::string& url);
  // Stores the bytes through a writer; false when they were not cached (see above).
  bool put(const std::string& url, std::string_view bytes);
  // Drops `url` if a lazy check found it corrupted (counted); true if it did.
  bool drop_if_corrupt(const std::string& url);
  // Drops `url` (its bytes turned out stale); Blobs that map it stay valid.
  // True if it was cached.
  bool erase(const std::string& url);
  DiskCacheStats stats() const;
  // False when the tier is off: no capacity, an unusable directory, or one
  // that another process holds (stats().dir_in_use).
  bool enabled() const { return enabled_; }

 private:
  struct Entry {
    std::string url;   // redacted, for messages: the meta file keeps no secret
    std::string hash;  // SHA-256 of the full URL: the key
    uint64_t size = 0;
    bool visited = false;  // SIEVE
    bool trusted = false;  // written, or every chunk checked, by this process
    std::shared_ptr<Verification> pending;  // chunk checks under way since the restart
    // The one mapping of the file that Blobs share, alive while any holds
    // it: the entry is never evicted meanwhile. Later readers reuse it, so
    // no Blob maps the file on its own where eviction could not see it.
    std::weak_ptr<const void> mapping;
    const std::byte* mapped_data = nullptr;
    const ChunkCheck* mapped_check = nullptr;  // null: nothing left to check
  };
  using List = std::list<Entry>;

  // Creates and locks the directory and checks it is writable; why it is
  // unusable, or "".
  std::string open_directory();
  void rebuild();
  std::shared_ptr<Verification> load_checksums(const Entry& e) const;
  // Frees space for `bytes` (evicting); false if it cannot. Caller holds mu_.
  bool reserve_locked(uint64_t bytes);
  void remove_locked(List::iterator it);
  bool drop_if_corrupt_locked(const std::string& hash);
  // Drops the entry `hash` whose files turned out unusable (`why`, logged),
  // counted as corrupt. Takes mu_.
  void drop_corrupt(const std::string& hash, const std::string& why);
  // A hit on `it` through its live mapping `owner`. Caller holds mu_.
  Blob hit_locked(List::iterator it, std::shared_ptr<const void> owner);

  Options opts_;
  std::optional<DirLock> lock_;  // held for the cache's life when enabled_
  bool enabled_ = true;
  mutable std::mutex mu_;
  List entries_;  // newest at the front
  std::unordered_map<std::string, List::iterator> index_;  // by hash (Entry::hash)
  List::iterator hand_;  // SIEVE's hand; entries_.end() = start from the tail
  uint64_t used_ = 0;      // committed entries
  uint64_t reserved_ = 0;  // writes in progress
  std::unordered_set<std::string> writing_;  // hashes being written: one writer each
  DiskCacheStats stats_;
};

// One entry being written; the target of its download. Dropped without a
// commit, it removes its file and releases its reservation.
class DiskCache::Writer final : public DownloadTarget {
 public:
  ~Writer() override;
  // Reserves the space (evicting) and allocates the file. Throws
  // Error(kResourceExhausted) when there is no room or the disk is full.
  void allocate(uint64_t size) override;
  // Throws Error(kResourceExhausted / kInternal) when the disk fails.
  void write(uint64_t offset, const std::byte* data, size_t n) override;
  void completed(uint64_t offset, uint64_t n) override;
  // The bytes written, readable before the commit (e.g. to check a digest);
  // valid as long as the Blob lives, committed or not.
  Blob bytes() const;
  // Makes the entry visible. False (logged, counted) when it could not be
  // committed; bytes() still serves.
  bool commit();
  // True when the disk, not the source, failed: fetch again into memory.
  bool failed() const { return failed_; }

 private:
  friend class DiskCache;
  Writer(DiskCache& cache, const std::string& url);
  void report(const std::string& what, int err);  // logs and counts a disk failure
  [[noreturn]] void fail(const std::string& what, int err);
  uint64_t chunk_length(size_t i) const;

  DiskCache& cache_;
  const std::string url_, hash_;  // redacted URL (for messages), key
  std::string data_tmp_, meta_tmp_;
  int fd_ = -1;
  uint64_t size_ = 0;
  bool allocated_ = false, committed_ = false, failed_ = false;
  bool registered_ = true;  // in writing_; false when writer() turned it away
  std::shared_ptr<MappedFile> map_;
  std::unique_ptr<std::atomic<uint64_t>[]> arrived_;  // bytes per chunk
  std::vector<uint64_t> sums_;  // XXH3 per chunk, set when the chunk is whole
};

}  // namespace memrun::internal
