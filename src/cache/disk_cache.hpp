// The disk tier: one file per object under {dir}/{h[0:2]}/{h}.data, where h
// is the SHA-256 of the URL (no URL text reaches a file name), beside
// {h}.meta holding the URL, the size and an XXH3 checksum per chunk.
//
// Writes go to temporary files, are fsynced, and become visible by renaming
// the data file and then the meta file: an entry without its meta was never
// committed and is removed at startup. The index (URL → size, policy bits,
// ~100 bytes per entry whatever its size) is rebuilt from the meta files
// when the cache opens, so a restarted worker serves disk hits at once.
// Entries from before the restart are checked against their checksums when
// first read; a mismatch drops the entry (counted) and the caller refetches.
//
// Space is reserved before a write, so the capacity holds while many writes
// run. Eviction is SIEVE (Zhang et al., NSDI '24) or LRU; an entry whose
// mapping a Blob still holds is never chosen. A full disk, an unwritable
// directory or an object larger than the capacity means "not cached": logged
// and counted, never an error for the caller.
#pragma once

#include <memrun/context.hpp>

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

  explicit DiskCache(Options options);
  ~DiskCache();
  DiskCache(const DiskCache&) = delete;
  DiskCache& operator=(const DiskCache&) = delete;

  // A zero-copy mapping of the entry (tier kDisk), or nullopt.
  std::optional<Blob> get(const std::string& url);
  // Stores the bytes; false when they were not cached (see above).
  bool put(const std::string& url, std::string_view bytes);
  DiskCacheStats stats() const;
  bool enabled() const { return enabled_; }

 private:
  struct Entry {
    std::string url;
    std::string hash;
    uint64_t size = 0;
    bool visited = false;   // SIEVE
    bool verified = false;  // checksums checked since this process opened it
    std::weak_ptr<void> mapping;  // alive while a Blob holds the file mapped
  };
  using List = std::list<Entry>;

  std::string data_path(const std::string& hash) const;
  std::string meta_path(const std::string& hash) const;
  void rebuild();
  bool verify(const Entry& e) const;
  // Frees space for `bytes` (evicting); false if it cannot. Caller holds mu_.
  bool reserve_locked(uint64_t bytes);
  void remove_locked(List::iterator it);
  bool write_entry(const std::string& hash, const std::string& url, std::string_view bytes);

  Options opts_;
  bool enabled_ = true;
  mutable std::mutex mu_;
  List entries_;  // newest at the front
  std::unordered_map<std::string, List::iterator> index_;  // by URL
  List::iterator hand_;  // SIEVE's hand; entries_.end() = start from the tail
  uint64_t used_ = 0;      // committed entries
  uint64_t reserved_ = 0;  // writes in progress
  std::unordered_set<std::string> writing_;  // URLs being written: one writer each
  DiskCacheStats stats_;
};

}  // namespace memrun::internal
