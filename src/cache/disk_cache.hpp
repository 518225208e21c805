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
// Ranged reads (RangeReader) store the chunks they fetch in one partial
// entry per object (put_chunk): a sparse data file of the object's size,
// whose meta lists the chunks held, their checksums and the object version
// they are of (entry_files.hpp). A partial entry is charged, and evicted
// from, by the bytes it holds; it is evicted whole (no single chunk is ever
// dropped on its own). Ranges are zero-copy slices of its one mapping
// (get_range), across chunks too, and once it holds every chunk get() serves
// it as any whole entry. After a restart its chunks are checked on first
// read like any entry's.
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
#include <functional>
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
  // The object version and chunking of an entry built from ranges.
  struct Version {
    std::string etag;  // "" when the server sent none: the size alone pins
    uint64_t size = 0;
    uint64_t chunk = 0;  // bytes per chunk
    bool operator==(const Version&) const = default;
  };

  explicit DiskCache(Options options);
  ~DiskCache();
  DiskCache(const DiskCache&) = delete;
  DiskCache& operator=(const DiskCache&) = delete;

  // A zero-copy mapping of the entry (tier kDisk), or nullopt; a partial
  // entry is no hit until it holds every chunk.
  std::optional<Blob> get(const std::string& url);

  // The version of `url`'s entry built from ranges, partial or not; nullopt
  // when there is none (or its entry was written whole).
  std::optional<Version> version(const std::string& url);
  // [offset, offset + length) of `url`'s entry built from ranges of version
  // `v`, if it holds every chunk under the range: a zero-copy slice of the
  // entry's mapping (tier kDisk), whose chunks are checked now when they
  // were stored before the restart. Else nullopt. Throws Error(kUnavailable)
  // when a check fails; drop_if_corrupt(url) then drops the entry.
  // REQUIRES: length > 0 and the range within v.size.
  std::optional<Blob> get_range(const std::string& url, const Version& v, uint64_t offset, uint64_t length);
  // Stores chunk `index` of version `v` of `url` (`bytes`: all of that
  // chunk) in the URL's entry built from ranges, creating it, or replacing
  // one of another version that no Blob maps and no write uses. Returns
  // once the chunk is written (not synced: its checksum guards it against a
  // power loss) and listed in the meta. False when it was not
  // stored: the tier is off, the URL has an entry written whole or another
  // version in use, no room, or a disk error (logged and counted as
  // not_cached). Concurrent calls for different chunks write in parallel.
  bool put_chunk(const std::string& url, const Version& v, uint64_t index, std::string_view bytes);
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
  // An entry built from ranges: its version and which chunks it holds.
  struct Ranges {
    Ranges(Version version, std::vector<std::optional<uint64_t>> checksums);
    const Version v;
    // GUARDED_BY(mu_): XXH3 of the chunks held (the meta's list), chunks
    // being written, and how many are missing.
    std::vector<std::optional<uint64_t>> sums;
    std::vector<bool> writing;
    size_t missing = 0;
    bool durable = false;  // its directory was fsynced after the first meta; GUARDED_BY(meta_mu)
    // Orders this entry's meta rewrites, so the last one written lists every
    // chunk; taken before mu_, never while holding it.
    std::mutex meta_mu;
  };
  struct Entry {
    uint64_t id = 0;   // never reused: tells a re-created entry from the one a caller saw
    std::string url;   // redacted, for messages: the meta file keeps no secret
    std::string hash;  // SHA-256 of the full URL: the key
    uint64_t size = 0;
    uint64_t stored = 0;  // bytes held, and charged: size, or a partial entry's chunks
    std::shared_ptr<Ranges> ranges;  // built from ranges; null for an entry written whole
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
  // The mapping of the entry `hash` as a Blob of all its bytes (tier kDisk,
  // counted as a hit), if `accept` takes the entry (called under mu_, on the
  // entry as it is before and after the mapping is made); else nullopt.
  std::optional<Blob> map_entry(const std::string& hash, const std::function<bool(const Entry&)>& accept);
  // Whether eviction must spare `e`: a Blob maps it, or a chunk is being
  // written to it. Caller holds mu_.
  bool in_use(const Entry& e) const;
  // Adds an entry at the head of the list. Caller holds mu_.
  Entry& add_locked(Entry e);
  // The entry of `url` to put chunk `index` of `v` in (created if needed),
  // with that chunk marked as being written and its bytes reserved; null
  // when the chunk is not to be written (held already, or see put_chunk).
  // Caller holds mu_.
  std::shared_ptr<Ranges> start_chunk_locked(const std::string& url, const std::string& hash, const Version& v,
                                             uint64_t index, uint64_t length, uint64_t* entry_id);
  // Writes and syncs `bytes` at `offset` of the data file; "" or why not.
  std::string write_chunk(const std::string& hash, uint64_t offset, std::string_view bytes);
  // Whether `hash` still names the entry `id`. Caller holds mu_.
  Entry* current_locked(const std::string& hash, uint64_t id);

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
  // Chunk writes under way by hash, of the entry or of one removed since:
  // they write to the data file by its name, so no other file takes that
  // name (no entry is created or committed) until they end.
  std::unordered_map<std::string, int> chunk_writes_;
  uint64_t next_id_ = 1;
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
