// memrun/cache_admin.hpp — looking into, checking and trimming a worker's
// disk cache directory ({cache_root}/{service}/, laid out as docs/cache.md
// describes). The `memrun cache` command is built on it.
//
//   memrun::CacheDirectory cache("/var/cache/memrun/vectors");
//   for (const auto& e : cache.list()) std::printf("%llu %s\n", e.size, e.url.c_str());
//   for (const auto& r : cache.verify({}))
//     if (r.status == memrun::CacheVerifyResult::Status::kCorrupt) report(r.url, r.bad_offset);
//   cache.evict_to_bytes(8ull << 30);  // throws Error(kUnavailable) while a worker runs
//
// Reading (list, stats, verify without `drop`) never changes the directory and
// takes no lock, so it is safe while a worker uses the directory: entries
// removed meanwhile are skipped, and a worker's writes in progress are left
// alone. Changing it (the evict_* calls, verify with `drop`) takes the
// directory's lock for the length of the call. A worker's disk tier holds that
// lock for the worker's whole life, so those calls are refused while one runs
// (its index would no longer match the directory), and a worker that starts
// during such a call runs without its disk tier.
//
// A CacheDirectory holds only its path: it may be used from several threads.
// Two changing calls at once on one directory — from any threads or processes
// — are one too many: the second throws Error(kUnavailable).
#pragma once

#include <memrun/export.hpp>
#include <memrun/status.hpp>

#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

namespace memrun {

// One committed entry.
struct CacheEntryInfo {
  // The URL as cached, redacted (redact_credentials): the cache never
  // writes a password or a presigned signature to disk.
  std::string url;
  uint64_t size = 0;
  std::string data_path;  // the file holding its bytes
  // When it was committed (its meta file's time). Entries are listed, and
  // evict_to_bytes removes them, oldest first: the order a restarted worker
  // indexes them in.
  std::chrono::system_clock::time_point modified{};
  uint64_t chunks = 0;  // each with its own checksum
  // What the entry holds. An entry built by ranged reads
  // (SharedWorkerContext::get_range) may hold some of its chunks only: its
  // data file is sparse, and `stored` counts the chunks held, which is what
  // it takes of the disk budget. For any other entry, `size` and `chunks`.
  uint64_t stored = 0;
  uint64_t chunks_held = 0;
};

struct CacheDirectoryStats {
  uint64_t entries = 0;
  uint64_t bytes = 0;  // held by the entries (CacheEntryInfo::stored)
  // *.tmp files: writes in progress, or left by a crash (a worker removes
  // those when it starts).
  uint64_t temp_files = 0;
  uint64_t temp_bytes = 0;
  // Data files without a meta (a write that never committed) and meta files
  // that cannot be used; a worker removes both when it starts.
  uint64_t orphans = 0;
  // Set while a process holds the directory (normally its worker): that
  // process's pid, 0 if it is not known.
  std::optional<int64_t> holder_pid;
};

struct CacheVerifyResult {
  enum class Status {
    kOk,
    kCorrupt,         // a chunk does not match its checksum; see bad_offset
    kUnreadableMeta,  // the meta file does not parse, or does not match its data
    kGone,            // removed (by a worker) while the check ran
  };
  Status status = Status::kOk;
  std::string url;  // empty for kUnreadableMeta; redacted, as above
  std::string data_path;
  uint64_t size = 0;
  // kCorrupt: the bytes [bad_offset, bad_offset + bad_length) of the first
  // chunk that failed.
  uint64_t bad_offset = 0, bad_length = 0;
  std::string problem;   // kCorrupt, kUnreadableMeta: what is wrong
  bool dropped = false;  // removed by verify({.drop = true})
};

struct CacheVerifyOptions {
  // Remove the entries that are kCorrupt or kUnreadableMeta. Takes the
  // directory's lock, so verify then throws Error(kUnavailable) at once while
  // a worker holds it.
  bool drop = false;
  // Called on the calling thread as chunks are checked: (bytes checked,
  // bytes in all entries). May be empty.
  std::function<void(uint64_t done, uint64_t total)> progress{};
};

struct CacheEvictResult {
  std::vector<CacheEntryInfo> removed;  // oldest first
  uint64_t bytes_removed = 0;
  uint64_t bytes_left = 0;              // in the entries that remain
  std::vector<std::string> not_found;   // evict_urls: URLs that had no entry
  uint64_t leftovers_removed = 0;       // evict_all: temp files and orphans
};

class MEMRUN_API CacheDirectory {
 public:
  // Throws Error(kNotFound) when `dir` is not an existing directory. Nothing
  // is read or locked yet.
  explicit CacheDirectory(std::string dir);

  const std::string& path() const noexcept { return dir_; }

  // Every committed entry, oldest first. Read-only.
  std::vector<CacheEntryInfo> list() const;
  // Read-only.
  CacheDirectoryStats stats() const;
  // Reads every chunk of every entry and checks it against its checksum; one
  // result per entry (kUnreadableMeta ones included), oldest first. Read-only
  // unless options.drop.
  // Throws Error(kUnavailable) if options.drop and the directory is held.
  std::vector<CacheVerifyResult> verify(const CacheVerifyOptions& options) const;

  // Each of these takes the directory's lock and throws
  // Error(kUnavailable, "... in use by worker pid N; stop it first") when
  // another process holds it. An entry is removed as the cache removes one:
  // its meta file first, so a removal cut short leaves no entry behind.
  //
  // The entries of these URLs: a URL exactly as fetched (credentials and
  // all) names its entry; one as list() shows it (redacted) names every
  // entry shown so.
  CacheEvictResult evict_urls(const std::vector<std::string>& urls);
  // Every entry, and the leftovers of writes that never committed.
  CacheEvictResult evict_all();
  // The oldest entries, until the rest hold at most `max_bytes`.
  CacheEvictResult evict_to_bytes(uint64_t max_bytes);

 private:
  std::string dir_;
};

}  // namespace memrun
