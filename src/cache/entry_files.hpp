// The files of a disk cache directory, as the disk tier (DiskCache) writes
// them and as `memrun cache` (CacheDirectory) reads them; both go through
// these functions, so there is one reading of a meta file, one chunk check
// and one order of removal.
//
//   {dir}/{h[0:2]}/{h}.data    the bytes; h = SHA-256 of the URL, in hex
//   {dir}/{h[0:2]}/{h}.meta    {"format":3,"url":…,"size":…,"chunk":…,"xxh3":[…]}
//                              plus "etag":… for an entry built from ranges
//
// The meta's "url" is redacted (redact_credentials), for people: no password
// or presigned signature is written to disk. Entries are found by h alone.
// Format 1 kept the URL in clear; such a meta reads as kBad, so the first
// worker to open the directory removes it. Format 2 is format 3 without
// partial entries, and reads as one.
//
// A partial entry (built by ranged reads, DiskCache::put_chunk) has a sparse
// data file of the object's full size, holding only some of its chunks: the
// meta's "xxh3" has null for each chunk not held, and "etag" names the object
// version the chunks were pinned to ("" when the server sent no ETag). Its
// meta is rewritten (a new file renamed over the old one) after each chunk
// is in the data file, so a chunk the meta lists is all there, unless the
// machine lost power before the page cache reached the disk: then its
// checksum fails on first read.
// Once every chunk is held it is an ordinary whole entry that also knows its
// version.
//   {dir}/{h[0:2]}/*.tmp       a write in progress, or one a crash left
//
// An entry is committed when its meta file is in place (it is renamed there
// after the data file), so a data file without a meta was never committed.
// Nothing here locks: the caller holds the directory (DirLock) before it
// removes anything.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace memrun::internal {

constexpr int kEntryFormat = 3;
// Chunks are MiBs; a meta claiming more is not one of ours, and a checker
// reads a chunk into memory at once.
constexpr uint64_t kMaxChunk = 1ull << 30;

std::string entry_data_path(const std::string& dir, const std::string& hash);
std::string entry_meta_path(const std::string& dir, const std::string& hash);

// What a meta file says.
struct EntryMeta {
  std::string url;  // redacted
  uint64_t size = 0;
  size_t chunk = 0;  // bytes per checksum
  // XXH3-64 of each chunk, in order; nullopt for a chunk a partial entry
  // does not hold.
  std::vector<std::optional<uint64_t>> xxh3;
  // The object version of an entry built from ranges; nullopt for one
  // written whole (only those have no chunk missing).
  std::optional<std::string> etag;

  // Bytes of the chunks held: `size` unless partial.
  uint64_t stored() const;
  size_t chunks_held() const;
  bool partial() const { return chunks_held() < xxh3.size(); }
};

// The meta file's text.
std::string entry_meta_json(const EntryMeta& meta);

struct MetaRead {
  enum class Status {
    kOk,
    kGone,  // no meta file: removed (perhaps while the caller scanned), or never committed
    kBad,   // a meta file that does not parse, or does not match its name or its data
  };
  Status status = Status::kGone;
  EntryMeta meta;       // kOk
  std::string problem;  // kBad: why
  // kOk: the meta file's commit time and identity, to tell whether it was
  // replaced since (a worker evicted and rewrote the URL).
  std::chrono::system_clock::time_point committed{};
  uint64_t inode = 0;
};

// Reads the entry `hash` of `dir` and checks it: the format, a chunk size up
// to kMaxChunk, checksums covering `size`,
// a data file of `size` bytes.
// Never throws.
MetaRead read_entry_meta(const std::string& dir, const std::string& hash);

// How many chunks of `chunk` bytes (> 0) cover `size` bytes.
constexpr uint64_t chunk_count(uint64_t size, uint64_t chunk) { return size / chunk + (size % chunk != 0); }

// The bytes [offset, offset + length) that chunk `i` of an entry covers.
struct ChunkRange {
  uint64_t offset = 0, length = 0;
};
ChunkRange chunk_range(const EntryMeta& meta, size_t i);
// The checksum of one chunk's bytes (XXH3-64): what the writer records.
uint64_t chunk_checksum(const std::byte* bytes, size_t length);
// True when `bytes`, chunk `i` of the entry (chunk_range(meta, i).length of
// them), have the chunk's checksum. REQUIRES: meta.xxh3[i] holds one.
bool chunk_matches(const EntryMeta& meta, size_t i, const std::byte* bytes);

// Removes the entry: the meta file first, so that a removal cut short leaves
// an uncommitted entry (data without meta), never a meta without its data.
// True when there was a meta file to remove.
bool remove_entry_files(const std::string& dir, const std::string& hash);

// A committed entry found by scan_cache_dir.
struct ScannedEntry {
  std::string hash;
  EntryMeta meta;
  std::chrono::system_clock::time_point committed{};
};

struct CacheDirScan {
  std::vector<ScannedEntry> entries;  // oldest commit first (ties by hash)
  struct Bad {
    std::string hash, problem;
  };
  std::vector<Bad> bad;                  // meta files read_entry_meta refused
  std::vector<std::string> temp_files;   // paths of *.tmp files
  std::vector<std::string> orphan_data;  // paths of data files without a meta
};

// Looks at every shard of `dir` without changing anything. Files that vanish
// meanwhile are left out. While another process writes to the directory,
// a write in progress shows as temp files and one being committed may show
// as orphan data for a moment.
CacheDirScan scan_cache_dir(const std::string& dir);

}  // namespace memrun::internal
