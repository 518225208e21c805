// Ranged reads (SharedWorkerContext::get_range): the bytes [offset, offset +
// length) of an object, fetching only the fixed-size chunks the range
// touches, each with one chunk-aligned ranged GET.
//
// A chunk is an ordinary entry of both tiers, keyed by (URL, object
// identity, chunk size, chunk index): in the RAM tier a Blob in the object
// store, in the disk tier a checksummed entry file like a whole object's. So
// a partly read object survives a restart, a chunk is checked on its first
// read after one (a corrupted chunk is dropped and fetched again), and the
// cold chunks of a huge object are evicted one by one, by the tiers' own
// policies. The object's identity (ETag and size) is learnt by the first
// chunk fetched and kept in both tiers too (a small entry per URL), so a
// later read of cached chunks costs no request at all. A chunk fetched while
// an identity is known is pinned to it with If-Match: a 412, another size or
// another ETag means the object changed, the identity is forgotten and the
// read fails with kUnavailable (a retry learns the new version); the bytes
// returned never mix two versions.
//
// The chunks of a range missing from the tiers are fetched in parallel (up
// to kParallelChunks at once), after the first when the identity is not
// known yet.
//
// Known limits: no single flight per chunk (two callers missing the same
// chunk both fetch it; the disk keeps one); get_or_fetch of the whole object does not reuse
// chunks; a server without ETags is pinned by the object's size alone.
//
// Thread: any; every member is safe to call concurrently (the tiers lock).
#pragma once

#include <memrun/context.hpp>

#include "cache/disk_cache.hpp"
#include "context/object_store.hpp"
#include "context/remote_fetch.hpp"

#include <atomic>
#include <cstdint>
#include <string>

namespace memrun::internal {

class RangeReader {
 public:
  // The context's counters: a chunk found in RAM or on disk counts as a hit
  // of that tier, a chunk fetched as one remote fetch of its bytes.
  struct Counters {
    std::atomic<uint64_t>& ram_hits;
    std::atomic<uint64_t>& disk_hits;
    std::atomic<uint64_t>& remote_fetches;
    std::atomic<uint64_t>& remote_bytes;
  };
  struct Options {
    uint64_t chunk_bytes = 8u << 20;  // > 0
    S3Settings s3;
    FileRoots file_roots;
  };

  // `disk` may be null (no disk tier). Both tiers outlive the reader.
  RangeReader(Options options, ObjectStore& store, DiskCache* disk, Counters counters)
      : options_(std::move(options)), store_(store), disk_(disk), counters_(counters) {}

  // See SharedWorkerContext::get_range. `wait` is looked at before each
  // chunk fetch: a fetch under way runs to its end.
  Blob read(const std::string& url, uint64_t offset, uint64_t length, const FetchWait& wait);

 private:
  struct Identity {
    std::string etag;  // "" when the server sends none: the size alone pins
    uint64_t size = 0;
  };
  bool known_identity(const std::string& url, Identity* out);
  // In RAM; remember() on disk too.
  void keep_identity(const std::string& url, const Identity& id);
  void remember(const std::string& url, const Identity& id);
  void forget(const std::string& url);
  std::string chunk_key(const std::string& url, const Identity& id, uint64_t index) const;
  // Fetches chunk `index`, pinned to `id` when `known`, else learning it
  // into `id` (then the caller's only thread); caches it in both tiers. An
  // empty Blob when the chunk starts past the end of an object not known
  // yet (id->size then says the size, if the server did).
  Blob fetch_chunk(const std::string& url, uint64_t index, Identity* id, bool known);
  // The chunk from RAM or disk, or an empty Blob.
  Blob cached_chunk(const std::string& key);
  void keep_chunk(const std::string& key, const Blob& chunk);

  // Chunk GETs of one range at once.
  static constexpr size_t kParallelChunks = 8;

  const Options options_;
  ObjectStore& store_;
  DiskCache* const disk_;
  Counters counters_;
};

}  // namespace memrun::internal
