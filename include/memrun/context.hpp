// memrun/context.hpp — the state a worker keeps warm between requests.
//
// One SharedWorkerContext exists per worker and lives as long as the worker. It
// owns the object store (decoded structures, RAM) and the fetch path
// (get_or_fetch: RAM → disk → remote). Every handler of the worker sees the same one.
//
//   void init(memrun::SharedWorkerContext& ctx) {
//     auto raw = ctx.get_or_fetch("file:///data/index.bin");
//     ctx.set_object("index", std::make_shared<Index>(decode(raw)), raw.size());
//   }
//   memrun::Reply handle(memrun::RequestContext& rq) {
//     auto index = rq.worker().get_object<Index>("index");  // shared_ptr<Index>
//     ...
//   }
//
// Thread safety: every member function is safe to call concurrently.
#pragma once

#include <memrun/status.hpp>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>
#include <typeinfo>

namespace memrun {

enum class Tier : uint32_t {
  kRam = MEMRUN_TIER_RAM,
  kDisk = MEMRUN_TIER_DISK,
  kRemote = MEMRUN_TIER_REMOTE,
};
MEMRUN_API std::string_view tier_name(Tier tier) noexcept;

// Implementation types (src/): the disk tier's lazy per-chunk check, and how
// the tiers make Blobs and the worker and the C ABI reach into the context.
// Declared here only so that the classes below can name them as friends.
namespace internal {
class ChunkCheck;
struct BlobAccess;
struct ContextAccess;
class StreamState;
}  // namespace internal

// A reference-counted, read-only, contiguous view of fetched bytes. Copies share
// the bytes; they stay valid while any copy lives, even after the cache drops
// the entry.
//
// Bytes served from the disk tier after a restart are checked lazily:
// read(offset, length) checks only the chunks it covers; data() and view()
// check every chunk not checked yet on their first call (after that they
// cost an atomic load). Either throws Error(kUnavailable) if the entry turns
// out corrupted.
class Blob {
 public:
  Blob() = default;
  const std::byte* data() const {
    if (check_) verify(0, size_);
    return data_;
  }
  std::size_t size() const noexcept { return size_; }
  std::string_view view() const { return {reinterpret_cast<const char*>(data()), size_}; }
  // [offset, offset + length) of the bytes, checked. Throws
  // Error(kInvalidArgument) when the range is out of bounds.
  const std::byte* read(std::size_t offset, std::size_t length) const {
    if (offset > size_ || length > size_ - offset)
      throw Error(Code::kInvalidArgument, "blob range out of bounds");
    if (check_) verify(offset, length);
    return data_ + offset;
  }
  // The tier that served this particular lookup.
  Tier tier() const noexcept { return tier_; }
  explicit operator bool() const noexcept { return owner_ != nullptr; }
  // True when a lazy check found the bytes corrupted.
  MEMRUN_API bool corrupt() const noexcept;

 private:
  friend struct internal::BlobAccess;  // the tiers make Blobs (src/cache/blob_access.hpp)
  Blob(std::shared_ptr<const void> owner, const std::byte* data, std::size_t size, Tier tier,
       const internal::ChunkCheck* check)
      : owner_(std::move(owner)), data_(data), size_(size), tier_(tier), check_(check) {}
  // Checks the chunks under the range that are not checked yet (an atomic
  // load once all are); throws Error(kUnavailable) on a mismatch.
  MEMRUN_API void verify(std::size_t offset, std::size_t length) const;

  std::shared_ptr<const void> owner_;
  const std::byte* data_ = nullptr;
  std::size_t size_ = 0;
  Tier tier_ = Tier::kRam;
  const internal::ChunkCheck* check_ = nullptr;
};

struct ObjectStoreStats {
  uint64_t objects = 0;
  uint64_t bytes = 0;         // bytes charged by objects held now
  uint64_t pinned_bytes = 0;  // of which pinned (set during init)
  uint64_t budget_bytes = 0;  // the service's memory budget
  uint64_t evictions = 0;
};

// The disk tier ({cache_root}/{service}, bounded by the service's disk budget).
struct DiskCacheStats {
  uint64_t entries = 0;
  uint64_t bytes = 0;     // committed entries
  uint64_t capacity = 0;  // 0: the disk tier is off
  uint64_t hits = 0;
  uint64_t writes = 0;
  uint64_t evictions = 0;
  uint64_t corrupt_dropped = 0;  // failed their checksums, removed, refetched
  uint64_t not_cached = 0;       // too large, no space, or a write error
  // Of `bytes`, in entries that Blobs map now (held by handlers or by the
  // RAM tier): page cache those Blobs may keep resident, and entries that
  // cannot be evicted until they are released.
  uint64_t mapped_bytes = 0;
  // The tier is off because another process holds the directory (another
  // worker, or `memrun cache` changing it): its pid, 0 if not known.
  bool dir_in_use = false;
  int64_t dir_holder_pid = 0;
};

// How long one caller of get_or_fetch waits. The fetch itself runs on a
// thread of its own, shared by every caller of the URL: a caller that gives
// up leaves it running for the others, and its bytes are cached when it ends.
struct FetchWait {
  std::chrono::system_clock::time_point deadline = std::chrono::system_clock::time_point::max();
  std::function<bool()> cancelled{};  // polled while waiting (every few ms); may be empty
};

// How a stream (SharedWorkerContext::open_stream) fetches ahead of its reads.
struct StreamOptions {
  // Chunks fetched in order, in parallel, past the furthest chunk read so
  // far (at least 1): a reader scanning from the start finds the next
  // chunks arriving or there.
  uint32_t read_ahead_chunks = 8;
};

// A remote object read while it downloads (SharedWorkerContext::open_stream):
// read(offset, length) blocks only until those bytes are present. The object
// is fetched as get_range's chunks, in order from the start with
// StreamOptions::read_ahead_chunks in flight past the furthest chunk read; a
// read of a chunk not fetched yet fetches it at once (demand first). Chunks
// are shared with every other stream and get_range caller of the URL (one
// flight per chunk, the same RAM and disk entries), and pinned to the
// object's identity as learnt when the stream opened: an object replaced
// while it streams fails reads with kUnavailable, never mixes versions.
//
// A shared handle: copies read the same stream. The stream holds the chunks
// it read ahead and the chunks of its latest read; a read lets go of the
// chunks before its own (they stay in the tiers, so reading them again is a
// RAM or disk hit while they last), so a scan holds about read_ahead_chunks
// + 1 chunks, not the object. The last copy's end stops the read-ahead (a
// fetch under way ends for its other callers). It must not outlive the
// context that opened it. Thread: any; reads may run concurrently.
class MEMRUN_API StreamingObject {
 public:
  StreamingObject() = default;
  // The object's size in bytes (known from the moment it opened).
  uint64_t size() const noexcept;
  // The bytes [offset, offset + length), once present, waiting within the
  // FetchWait the stream was opened with (a handler's: its request's
  // deadline and cancellation) or the one given. A range within one chunk
  // is served without a copy, and so is one across chunks the disk entry
  // holds; otherwise it is copied once. Throws
  // Error: kInvalidArgument for a length of 0 or a range past the end (the
  // message names the size); kDeadlineExceeded or kCancelled when the wait
  // ends first (the fetch goes on); kUnavailable (retriable: a read again
  // fetches the chunk again) for transport errors and an object replaced
  // since the stream opened; what get_range throws otherwise.
  Blob read(uint64_t offset, uint64_t length) const;
  Blob read(uint64_t offset, uint64_t length, const FetchWait& wait) const;
  // Bytes of the chunks the stream holds now (see above); a Blob a read
  // returned keeps its own bytes alive besides. 0 for file://.
  uint64_t held_bytes() const;
  explicit operator bool() const noexcept { return state_ != nullptr; }

 private:
  friend class SharedWorkerContext;
  StreamingObject(std::shared_ptr<internal::StreamState> state, FetchWait wait)
      : state_(std::move(state)), wait_(std::move(wait)) {}
  std::shared_ptr<internal::StreamState> state_;
  FetchWait wait_;
};

// Where get_or_fetch found its bytes.
struct CacheStats {
  uint64_t ram_hits = 0;
  uint64_t disk_hits = 0;
  uint64_t remote_fetches = 0;
  uint64_t remote_bytes = 0;
  DiskCacheStats disk;
};

// Where s3:// URLs go and how their requests are signed. An empty field
// takes its value from the environment, as the AWS CLI does:
// AWS_ENDPOINT_URL_S3 (else AWS_ENDPOINT_URL), AWS_REGION (else
// AWS_DEFAULT_REGION), AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY,
// AWS_SESSION_TOKEN. An endpoint (S3-compatible servers) means path-style
// addressing. The secrets are never logged.
struct S3Settings {
  std::string endpoint;  // "scheme://host[:port]"
  std::string region;
  std::string access_key_id;
  std::string secret_access_key;
  std::string session_token;
};

class MEMRUN_API SharedWorkerContext {
 public:
  struct Options {
    std::string service;
    uint64_t memory_budget_bytes = 1ull << 30;
    // Where upload_result writes, e.g. "s3://bucket/results" or
    // "file:///var/lib/memrun/results".
    std::string result_url;
    // The disk tier: a directory that outlives the process, and its byte
    // budget. Empty or 0: no disk tier.
    std::string disk_dir{};
    uint64_t disk_budget_bytes = 0;
    // Progress of large remote transfers (S3 objects fetched in parts), called
    // from transfer threads: (url, bytes done, total bytes).
    std::function<void(const std::string& url, uint64_t done, uint64_t total)> on_progress{};
    // Where the worker's package was unpacked (its data files are under
    // data/); empty when it was not started from a package.
    std::string package_dir{};
    // For s3:// fetches and results.
    S3Settings s3{};
    // Where file:// URLs may read: these directories (or files) and
    // package_dir, links resolved. Anything else, and anything that is not a
    // regular file, is refused (kInvalidArgument): a URL in a request must
    // not read the worker's own secrets. Empty, with no package_dir:
    // file:// reads nothing.
    std::vector<std::string> file_roots{};
    // get_range and open_stream fetch and cache objects in chunks of this
    // many bytes, each one ranged GET (0 takes the default). 8 MiB met
    // every target of docs/performance.md here and scanned fastest; smaller
    // chunks fetch fewer bytes for scattered small ranges.
    uint64_t range_chunk_bytes = 8u << 20;
  };

  explicit SharedWorkerContext(Options options);
  ~SharedWorkerContext();
  SharedWorkerContext(const SharedWorkerContext&) = delete;
  SharedWorkerContext& operator=(const SharedWorkerContext&) = delete;

  const std::string& service() const noexcept;
  // Options::package_dir: the unpacked package's files, or "".
  const std::string& package_dir() const noexcept;

  // Stores `object` under `name`, charging `size` bytes against the memory
  // budget. Replacing an object never invalidates holders of the old one.
  // Objects set while the init handler runs are pinned; the others are evicted,
  // least recently used first, when the budget is exceeded, but only once no
  // raw blob that get_or_fetch keeps in RAM is left to evict (docs/cache.md).
  template <class T>
  void set_object(std::string name, std::shared_ptr<T> object, uint64_t size) {
    set_object_erased(std::move(name), typeid(T).name(),
                      std::shared_ptr<void>(std::move(object)), size);
  }

  // The object stored under `name`. Throws Error(kNotFound) when absent and
  // Error(kTypeMismatch) when it was stored as another type.
  template <class T>
  std::shared_ptr<T> get_object(std::string_view name) {
    return std::static_pointer_cast<T>(get_object_erased(name, typeid(T).name()));
  }

  // Drops `name` from the store (holders keep their reference). True if present.
  bool erase_object(std::string_view name);

  // The bytes behind `url` (file://, http://, https://, s3://bucket/key with
  // Options::s3 and the AWS_* environment's credentials and endpoint). A "#sha256=HEX"
  // fragment names the digest the bytes must have: a mismatch is
  // kInvalidArgument and nothing is cached; a cached copy with another digest
  // is taken for stale, dropped and fetched again. Concurrent calls for one
  // URL share one fetch (see FetchWait). An object read by get_range or a
  // stream before (its identity is cached) is read through its chunks: only
  // those not cached are fetched, into its partial disk entry, and the Blob
  // maps that entry (no copy; without a disk tier the chunks are joined in
  // RAM); if they cannot be completed (the object changed) or miss the
  // digest, it is fetched whole instead. Throws Error: kInvalidArgument for a
  // malformed or unsupported URL, kNotFound, kUnavailable (retriable) for
  // transport errors; kDeadlineExceeded or kCancelled when `wait` ends first.
  // A handler calls RequestContext::get_or_fetch, which waits no longer than
  // its request may run.
  Blob get_or_fetch(const std::string& url, const FetchWait& wait = {});

  // The bytes [offset, offset + length) of the object behind `url`
  // (http://, https://, s3://, or file:// under Options::file_roots; no
  // "#sha256=" fragment: a digest pins a whole object). Only the chunks of
  // Options::range_chunk_bytes that the range touches are fetched, each with
  // one chunk-aligned ranged GET, and cached in RAM and in the object's one
  // partial entry on disk (a sparse file, docs/cache.md): reading them again
  // fetches nothing. file:// maps the range and caches nothing. The object's identity is its ETag (and size), learnt
  // by the first chunk fetched and sent as If-Match with the others: the
  // bytes never mix two versions of an object. A range within one chunk is
  // served without a copy, and so is one across chunks the disk entry
  // holds (a slice of its mapping); otherwise it is copied once. The Blob's tier
  // is the slowest any chunk came from. Throws Error: kInvalidArgument for a
  // length of 0, a range past the object's end (the message names its size)
  // or a bad URL; kUnavailable (retriable) when the object changed between
  // two chunk fetches (a retry reads the new version), for transport errors
  // and for a Content-Range that answers another range (nothing is cached);
  // kUnimplemented when the server ignores Range; kNotFound;
  // kDeadlineExceeded or kCancelled when `wait` ends before the chunks
  // arrive (a fetch under way runs to its end for its other callers).
  // Callers of one chunk share one fetch of it, as get_or_fetch's callers
  // of one URL do (streams included).
  Blob get_range(const std::string& url, uint64_t offset, uint64_t length, const FetchWait& wait = {});

  // A stream of the object behind `url` (http://, https://, s3://; file://
  // maps the whole file at once; no "#sha256=" fragment): see
  // StreamingObject. Returns once the object's size and identity are known
  // (learnt with the first chunk unless a tier knows them), before the rest
  // is fetched, so a reader can begin after the first chunk. get_or_fetch
  // keeps its contract (one whole, verified Blob) for its callers; a
  // stream is the call for those who read while the bytes arrive. `wait`
  // bounds this call and, unless a read names another, every read. Throws
  // Error as get_range does for its first chunk.
  StreamingObject open_stream(const std::string& url, const StreamOptions& options = {}, const FetchWait& wait = {});

  // Writes `bytes` under `key` in the result store (s3://bucket/prefix: an S3
  // PUT; file://dir: an atomic file write); returns the URL written.
  std::string upload_result(std::string_view bytes, const std::string& key);
  // The URL upload_result(bytes, key) would return, without writing anything
  // (e.g. to size a buffer before uploading). Throws Error as upload_result
  // does for a bad key or a missing or unsupported store.
  std::string result_url(const std::string& key) const;

  ObjectStoreStats stats() const;
  CacheStats cache_stats() const;

 private:
  // The worker marks its init handler (begin_init/end_init: objects set in
  // between are pinned), and the C ABI reaches objects by a type string.
  friend struct internal::ContextAccess;  // src/context/context_access.hpp
  void begin_init();
  void end_init();
  // Type-erased forms of set_object/get_object: the type is a string.
  void set_object_erased(std::string name, std::string type_name,
                         std::shared_ptr<void> object, uint64_t size);
  std::shared_ptr<void> get_object_erased(std::string_view name,
                                          std::string_view type_name);

  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace memrun
