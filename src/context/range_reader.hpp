// Ranged reads (SharedWorkerContext::get_range): the bytes [offset, offset +
// length) of an object, fetching only the fixed-size chunks the range
// touches, each with one chunk-aligned ranged GET.
//
// In the RAM tier a fetched chunk is a Blob in the object store, keyed by
// (URL, object identity, chunk size, chunk index). On disk the chunks of an
// object are one partial entry (DiskCache::put_chunk): a sparse file with a
// checksum per chunk held, and the object's identity (ETag and size) in its
// meta. So a partly read object survives a restart, its identity costs no
// request after one, a chunk is checked on its first read after one (a
// corrupted chunk drops the entry; its chunks are fetched again), and a
// range across chunks the entry holds is a slice of its one mapping, with
// no copy. The identity is learnt by the first chunk fetched and kept in RAM
// too. A chunk fetched while an identity is known is pinned to it with
// If-Match: a 412, another size or another ETag means the object changed,
// the identity and the disk entry are forgotten and the read fails with
// kUnavailable (a retry learns the new version); the bytes returned never
// mix two versions.
//
// The chunks of a range missing from the tiers are fetched in parallel (up
// to kParallelChunks at once), after the first when the identity is not
// known yet. A chunk has one flight at a time: every caller missing it
// (get_range callers, streams) waits for that one GET, each within its own
// FetchWait, and one that gives up leaves it running for the others.
//
// get_or_fetch of an object whose identity a range read left in the tiers
// goes through its chunks too (whole()): it fetches only the chunks still
// missing into the partial entry, which then holds them all and is the
// object's whole entry (a mapping, no copy). The other way round, a range
// of an object get_or_fetch left whole in RAM or on disk is cut from that
// entry (CachedWhole): no chunk is fetched or stored for it. Known limit: a server without ETags is pinned
// by the object's size alone.
//
// Thread: any; every member is safe to call concurrently (the tiers lock).
#pragma once

#include <memrun/context.hpp>

#include "cache/disk_cache.hpp"
#include "context/flight_wait.hpp"
#include "context/object_store.hpp"
#include "context/remote_fetch.hpp"

#include <algorithm>
#include <atomic>
#include <functional>
#include <future>
#include <vector>
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
    uint64_t chunk_bytes = 0;  // > 0: SharedWorkerContext::Options::range_chunk_bytes
    S3Settings s3;
    FileRoots file_roots;
  };

  // get_or_fetch's whole entry of a URL in RAM or on disk, without fetching
  // it (an empty Blob when neither tier has one, or its copy was found
  // corrupted), its tier set and counted as that tier's hit. A Blob from
  // disk is checked lazily, so cutting a range out of it checks only the
  // range's chunks.
  using CachedWhole = std::function<Blob(const std::string& url)>;

  // `disk` may be null (no disk tier); `cached_whole` may not. Both tiers
  // outlive the reader.
  RangeReader(Options options, ObjectStore& store, DiskCache* disk, Counters counters, CachedWhole cached_whole)
      : options_(std::move(options)),
        store_(store),
        disk_(disk),
        counters_(counters),
        cached_whole_(std::move(cached_whole)) {}

  // See SharedWorkerContext::get_range. `wait` bounds the wait for each
  // chunk: a fetch under way runs to its end for its other callers.
  Blob read(const std::string& url, uint64_t offset, uint64_t length, const FetchWait& wait);
  // The whole object through its chunks, when a range read already learnt
  // its identity: cached chunks are hits and only the others are fetched, as
  // read() fetches them. An empty Blob when the identity is not known (then
  // the object is fetched whole, as before), for file:// and for an empty
  // object.
  Blob whole(const std::string& url, const FetchWait& wait);

  struct Identity {
    std::string etag;  // "" when the server sends none: the size alone pins
    uint64_t size = 0;
  };
  // The identity of `url` as the tiers know it, else learnt by fetching
  // chunk `index` (which then comes back in *learnt; empty otherwise, and
  // when `index` starts past the end: the identity's size says so). One
  // fetch learns it for all callers meanwhile; *learnt stays empty for a
  // caller that joined a fetch of another chunk. Waits within `wait`.
  Identity identity(const std::string& url, uint64_t index, const FetchWait& wait, Blob* learnt);
  // Chunk `index` of `url` as `id` pins it: from RAM or disk, else from the
  // chunk's one flight (started here when none is under way), waited for
  // within `wait`. Throws what get_range throws for a chunk.
  Blob chunk(const std::string& url, const Identity& id, uint64_t index, const FetchWait& wait);
  // Chunk `index` from RAM or disk if there, of the size `id` says; else an
  // empty Blob. A chunk found corrupted on disk drops the disk entry (then
  // an empty Blob too).
  Blob cached_chunk(const std::string& url, const Identity& id, uint64_t index);
  // The chunk's one flight, started on a thread of its own when none is
  // under way; it runs to its end whoever waits for it.
  std::shared_future<Blob> flight(const std::string& url, const Identity& id, uint64_t index);
  // [skip, skip + length) of consecutive chunks: a slice of one without a
  // copy (its bytes checked, only those of a lazily checked entry), else one
  // copy (assemble() avoids it when the disk entry holds them all); the
  // tier is the slowest any chunk came from.
  static Blob join(const std::vector<Blob>& chunks, uint64_t skip, uint64_t length);
  // [offset, offset + length) of `url` out of `chunks`, the consecutive
  // chunks of `id` from the one holding `offset`: across chunks a slice of
  // the object's disk entry when it holds them all (no copy), else join().
  Blob assemble(const std::string& url, const Identity& id, const std::vector<Blob>& chunks, uint64_t offset,
                uint64_t length);
  uint64_t chunk_bytes() const noexcept { return options_.chunk_bytes; }
  // A chunk's size in an object of `size` bytes.
  uint64_t chunk_size(uint64_t size, uint64_t index) const noexcept {
    return std::min(options_.chunk_bytes, size - index * options_.chunk_bytes);
  }

 private:
  // From RAM, else from the object's disk entry (then kept in RAM).
  bool known_identity(const std::string& url, Identity* out);
  void keep_identity(const std::string& url, const Identity& id);
  void forget(const std::string& url);
  DiskCache::Version version(const Identity& id) const;
  // [offset, offset + length) from the object's disk entry if it holds every
  // chunk under it (counted as a disk hit per chunk when `count`), else an
  // empty Blob, also when a chunk is found corrupted and the entry dropped.
  Blob on_disk(const std::string& url, const Identity& id, uint64_t offset, uint64_t length, bool count);
  std::string chunk_key(const std::string& url, const Identity& id, uint64_t index) const;
  // Fetches chunk `index`, pinned to `id` when `known`, else learning it
  // into `id` (then the caller's only thread); caches it in both tiers. An
  // empty Blob when the chunk starts past the end of an object not known
  // yet (id->size then says the size, if the server did).
  Blob fetch_chunk(const std::string& url, uint64_t index, Identity* id, bool known);
  void keep_chunk(const std::string& key, const Blob& chunk);

  // Chunk GETs of one range at once.
  static constexpr size_t kParallelChunks = 8;

  const Options options_;
  ObjectStore& store_;
  DiskCache* const disk_;
  Counters counters_;
  const CachedWhole cached_whole_;
  // What the fetch that learns an identity brings: it and its chunk.
  struct Learnt {
    Identity id;
    uint64_t index = 0;
    Blob chunk;
  };
  // By URL, and by chunk key; last: the flights use everything above (and
  // neither uses the other).
  SingleFlights<Learnt> identity_flights_;
  SingleFlights<Blob> flights_;
};

}  // namespace memrun::internal
