#include <memrun/context.hpp>
#include <memrun/service.hpp>

#include "cache/blob_access.hpp"
#include "cache/disk_cache.hpp"
#include "context/flight_wait.hpp"
#include "context/object_store.hpp"
#include "context/range_reader.hpp"
#include "context/remote_fetch.hpp"
#include "context/stream.hpp"
#include "core/digest.hpp"
#include "remote/url_rules.hpp"

#include <memrun/logging.hpp>

#include <spdlog/spdlog.h>

#include <algorithm>
#include <atomic>
#include <future>
#include <mutex>
#include <vector>

namespace memrun {
namespace {

std::string sha256_of(const Blob& blob) {
  return internal::sha256_hex(std::string_view(reinterpret_cast<const char*>(blob.data()), blob.size()));
}

Error digest_mismatch(const std::string& url, const std::string& actual, const std::string& expected) {
  return Error(Code::kInvalidArgument,
               "sha256 of " + redact_credentials(url) + " is " + actual + ", expected " + expected + "; not cached");
}

// Fetched blobs live in the object store under a reserved name, so one budget
// covers decoded objects and raw bytes alike. They are spare objects
// (ObjectStore::Keep::kSpare): they fill what decoded objects leave and are
// evicted before any of them, since a handler reads what it derived from the
// bytes again, not the bytes, and the disk tier still holds them.
constexpr std::string_view kBlobPrefix = "\x01" "blob:";
constexpr std::string_view kBlobType = "memrun::Blob";

// A blob in the object store, with its digest once someone asked for one:
// a pinned URL is hashed once per stay in RAM, not on every hit of a
// multi-GB object.
class CachedBlob {
 public:
  CachedBlob(Blob blob, std::string sha256) : blob_(std::move(blob)), sha256_(std::move(sha256)) {}
  const Blob& blob() const { return blob_; }
  std::string sha256() {
    std::lock_guard lock(mu_);
    if (sha256_.empty()) sha256_ = sha256_of(blob_);
    return sha256_;
  }

 private:
  Blob blob_;
  std::mutex mu_;
  std::string sha256_;  // GUARDED_BY(mu_); "" until computed
};

}  // namespace

std::string_view tier_name(Tier tier) noexcept {
  switch (tier) {
    case Tier::kRam: return "ram";
    case Tier::kDisk: return "disk";
    case Tier::kRemote: return "remote";
  }
  return "unknown";
}

struct SharedWorkerContext::Impl {
  Options options;
  internal::ObjectStore store;
  std::atomic<bool> initializing{false};
  std::unique_ptr<internal::DiskCache> disk;  // null: no disk tier
  struct {
    std::atomic<uint64_t> ram_hits{0}, disk_hits{0}, remote_fetches{0}, remote_bytes{0};
  } counters;

  internal::FileRoots file_roots;  // Options::file_roots and the package directory
  std::unique_ptr<internal::RangeReader> ranges;  // it uses the tiers above
  // Whole-object flights, by URL and digest; last: a flight may still be
  // writing a disk entry, so the tiers it uses must outlive it.
  internal::SingleFlights<Blob> flights;

  explicit Impl(Options o) : options(std::move(o)), store(options.memory_budget_bytes) {
    file_roots = options.file_roots;
    if (!options.package_dir.empty()) file_roots.push_back(options.package_dir);
    if (!options.disk_dir.empty() && options.disk_budget_bytes > 0)
      disk = std::make_unique<internal::DiskCache>(
          internal::DiskCache::Options{options.disk_dir, options.disk_budget_bytes});
    ranges = std::make_unique<internal::RangeReader>(
        internal::RangeReader::Options{options.range_chunk_bytes ? options.range_chunk_bytes : Options{}.range_chunk_bytes,
                                       options.s3, file_roots},
        store, disk.get(),
        internal::RangeReader::Counters{counters.ram_hits, counters.disk_hits, counters.remote_fetches,
                                        counters.remote_bytes},
        [this](const std::string& url) { return cached_whole(url); });
  }

  // get_or_fetch's entry of `url` in RAM, else on disk, counted as a hit of
  // its tier, not fetched (RangeReader::CachedWhole). The RAM tier is looked
  // at as get_or_fetch looks (a corrupted blob is dropped there, as the disk
  // tier drops a corrupted entry). A disk entry is not kept in RAM for a
  // range: that would charge a whole object to the budget for a slice.
  Blob cached_whole(const std::string& url) {
    Blob hit;
    if (find_in_ram(std::string(kBlobPrefix) + url, "", &hit)) return hit;
    if (auto on_disk = disk ? disk->get(url) : std::nullopt) {
      ++counters.disk_hits;
      return *on_disk;
    }
    return {};
  }

  // The RAM tier. A blob whose lazy check failed is dropped (the disk tier
  // drops its entry); one without the digest asked for is no hit.
  bool find_in_ram(const std::string& key, const std::string& expected, Blob* out) {
    auto hit = std::static_pointer_cast<CachedBlob>(store.find(key, kBlobType));
    if (!hit) return false;
    if (hit->blob().corrupt()) {
      store.erase(key);
      return false;
    }
    if (!expected.empty() && hit->sha256() != expected) return false;
    *out = internal::BlobAccess::with_tier(hit->blob(), Tier::kRam);
    ++counters.ram_hits;
    return true;
  }

  // One flight per URL and digest: RAM again (an earlier flight may have
  // just filled it), else disk, else remote; the result goes to RAM.
  Blob fly(const std::string& url, const std::string& expected, const std::string& key) {
    Blob blob;
    if (find_in_ram(key, expected, &blob)) return blob;
    blob = load(url, expected);
    try {
      store.set(key, std::string(kBlobType), std::make_shared<CachedBlob>(blob, expected), blob.size(),
                internal::ObjectStore::Keep::kSpare);
    } catch (const Error&) {
      // Larger than the budget allows: serve it uncached rather than fail.
    }
    return blob;
  }

  // Disk, then remote. A disk entry whose digest is not `expected` is stale
  // or the caller is wrong: only the source can tell which.
  Blob load(const std::string& url, const std::string& expected) {
    bool stale = false;
    if (disk) {
      if (auto hit = disk->get(url)) {
        try {
          if (expected.empty() || sha256_of(*hit) == expected) {
            ++counters.disk_hits;
            return *hit;
          }
          stale = true;
        } catch (const Error&) {
          if (!disk->drop_if_corrupt(url)) throw;
        }
      }
    }
    return stale ? replace_stale(url, expected) : fetch_new(url, expected);
  }

  // Downloaded straight into its disk entry (one writer per URL), checked
  // against the digest, then committed; if the disk cannot take it, into
  // memory.
  Blob fetch_new(const std::string& url, const std::string& expected) {
    // Read by range before: the chunks are this object's disk form, and only
    // the missing ones are fetched, each pinned (If-Match) to the version the
    // cached ones are of. If that version is gone at the source, or is not
    // the one the digest names, the object is fetched whole below: its bytes
    // come from one version either way.
    try {
      if (Blob blob = ranges->whole(url, FetchWait{})) {
        if (expected.empty() || sha256_of(blob) == expected) return blob;
        spdlog::info("{}: its cached chunks do not have the digest asked for; fetching it whole",
                     redact_credentials(url));
      }
    } catch (const Error& e) {
      if (e.code() != Code::kUnavailable) throw;
      spdlog::info("{}: its cached chunks could not be completed ({}); fetching it whole", redact_credentials(url),
                   e.what());
    }
    if (auto writer = disk ? disk->writer(url) : nullptr) {
      try {
        internal::fetch_remote(url, *writer, progress_of(url), options.s3, file_roots);
        Blob blob = writer->bytes();
        count_remote(blob);
        check_digest(blob, expected, url);
        writer->commit();
        return blob;
      } catch (const Error&) {
        if (!writer->failed()) throw;  // the source failed, not the disk
      }
    }
    Blob blob = internal::fetch_remote(url, progress_of(url), options.s3, file_roots);
    count_remote(blob);
    check_digest(blob, expected, url);
    return blob;
  }

  // The cached bytes of `url` do not have the digest asked for. If the
  // source's do, the object changed since it was cached and the new bytes
  // replace the entry; if not, the caller named a wrong digest and the entry
  // stays for everyone else.
  Blob replace_stale(const std::string& url, const std::string& expected) {
    Blob blob = internal::fetch_remote(url, progress_of(url), options.s3, file_roots);
    count_remote(blob);
    check_digest(blob, expected, url);
    spdlog::warn("{} changed at its source since it was cached: the cached copy is replaced",
                 redact_credentials(url));
    disk->erase(url);
    disk->put(url, blob.view());
    return blob;
  }

  internal::Progress progress_of(const std::string& url) const {
    if (!options.on_progress) return {};
    return [this, url](uint64_t done, uint64_t total) { options.on_progress(url, done, total); };
  }

  static void check_digest(const Blob& blob, const std::string& expected, const std::string& url) {
    if (expected.empty()) return;
    if (std::string actual = sha256_of(blob); actual != expected) throw digest_mismatch(url, actual, expected);
  }

  void count_remote(const Blob& blob) {
    ++counters.remote_fetches;
    counters.remote_bytes += blob.size();
  }

  // The future of the flight for `url` and `expected`, started on a thread
  // of its own if none is under way.
  std::shared_future<Blob> join_flight(const std::string& url, const std::string& expected) {
    // Callers naming different digests fly apart, so one's mismatch is not
    // another's error.
    return flights.join(url + "#" + expected,
                        [this, url, expected] { return fly(url, expected, std::string(kBlobPrefix) + url); });
  }
};



SharedWorkerContext::SharedWorkerContext(Options options)
    : impl_(std::make_unique<Impl>(std::move(options))) {}
SharedWorkerContext::~SharedWorkerContext() = default;

const std::string& SharedWorkerContext::service() const noexcept { return impl_->options.service; }
const std::string& SharedWorkerContext::package_dir() const noexcept { return impl_->options.package_dir; }

void SharedWorkerContext::set_object_erased(std::string name, std::string type_name,
                                            std::shared_ptr<void> object, uint64_t size) {
  if (name.empty()) throw Error(Code::kInvalidArgument, "object name must not be empty");
  if (!object) throw Error(Code::kInvalidArgument, "object '" + name + "' is null");
  impl_->store.set(std::move(name), std::move(type_name), std::move(object), size,
                   impl_->initializing.load() ? internal::ObjectStore::Keep::kPinned
                                              : internal::ObjectStore::Keep::kNormal);
}

std::shared_ptr<void> SharedWorkerContext::get_object_erased(std::string_view name,
                                                             std::string_view type_name) {
  auto obj = impl_->store.find(name, type_name);
  if (!obj) throw Error(Code::kNotFound, "no object named '" + std::string(name) + "'");
  return obj;
}

bool SharedWorkerContext::erase_object(std::string_view name) { return impl_->store.erase(name); }

Blob SharedWorkerContext::get_or_fetch(const std::string& url_and_digest, const FetchWait& wait) {
  // Before any tier sees it: the RAM and disk tiers key by the whole string.
  internal::refuse_control_characters(url_and_digest);
  const auto [url, expected] = internal::split_digest(url_and_digest);
  Blob hit;
  if (impl_->find_in_ram(std::string(kBlobPrefix) + url, expected, &hit)) return hit;
  return internal::await_flight(impl_->join_flight(url, expected), wait, "get_or_fetch " + redact_credentials(url));
}

Blob RequestContext::get_or_fetch(const std::string& url) {
  return worker().get_or_fetch(url, FetchWait{deadline(), [this] { return cancelled(); }});
}

Blob SharedWorkerContext::get_range(const std::string& url, uint64_t offset, uint64_t length,
                                    const FetchWait& wait) {
  internal::refuse_control_characters(url);
  if (!internal::split_digest(url).second.empty())
    throw Error(Code::kInvalidArgument, "get_range " + redact_credentials(url) +
                                            ": a #sha256= digest pins a whole object; use get_or_fetch, or drop it");
  return impl_->ranges->read(url, offset, length, wait);
}

Blob RequestContext::get_range(const std::string& url, uint64_t offset, uint64_t length) {
  return worker().get_range(url, offset, length, FetchWait{deadline(), [this] { return cancelled(); }});
}

StreamingObject SharedWorkerContext::open_stream(const std::string& url, const StreamOptions& options,
                                                 const FetchWait& wait) {
  internal::refuse_control_characters(url);
  if (!internal::split_digest(url).second.empty())
    throw Error(Code::kInvalidArgument, "open_stream " + redact_credentials(url) +
                                            ": a #sha256= digest pins a whole object; use get_or_fetch, or drop it");
  if (url.rfind("file://", 0) == 0) {
    // Mapped, so nothing to wait for: the whole file is present at once.
    Blob whole = internal::fetch_remote(url, {}, impl_->options.s3, impl_->file_roots);
    return StreamingObject(std::make_shared<internal::StreamState>(url, std::move(whole)), wait);
  }
  // Fetched whole before: the stream reads that entry, as a file:// one.
  if (Blob whole = impl_->cached_whole(url); whole && whole.size() > 0)
    return StreamingObject(std::make_shared<internal::StreamState>(url, std::move(whole)), wait);
  return StreamingObject(
      std::make_shared<internal::StreamState>(*impl_->ranges, url, options.read_ahead_chunks, wait), wait);
}

StreamingObject RequestContext::open_stream(const std::string& url, const StreamOptions& options) {
  return worker().open_stream(url, options, FetchWait{deadline(), [this] { return cancelled(); }});
}

uint64_t StreamingObject::size() const noexcept { return state_ ? state_->size() : 0; }

uint64_t StreamingObject::held_bytes() const { return state_ ? state_->held_bytes() : 0; }

Blob StreamingObject::read(uint64_t offset, uint64_t length) const { return read(offset, length, wait_); }

Blob StreamingObject::read(uint64_t offset, uint64_t length, const FetchWait& wait) const {
  if (!state_) throw Error(Code::kInvalidArgument, "read of a StreamingObject that no open_stream returned");
  return state_->read(offset, length, wait);
}

std::string SharedWorkerContext::result_url(const std::string& key) const {
  if (impl_->options.result_url.empty())
    throw Error(Code::kUnimplemented,
                "upload_result: no result store configured (set result_url in the config)");
  return internal::result_url(impl_->options.result_url, key);
}

std::string SharedWorkerContext::upload_result(std::string_view bytes, const std::string& key) {
  result_url(key);  // the same refusals, before anything is written
  return internal::store_result(impl_->options.result_url, key, bytes, {}, impl_->options.s3);
}

ObjectStoreStats SharedWorkerContext::stats() const { return impl_->store.stats(); }

CacheStats SharedWorkerContext::cache_stats() const {
  CacheStats s;
  s.ram_hits = impl_->counters.ram_hits;
  s.disk_hits = impl_->counters.disk_hits;
  s.remote_fetches = impl_->counters.remote_fetches;
  s.remote_bytes = impl_->counters.remote_bytes;
  if (impl_->disk) s.disk = impl_->disk->stats();
  return s;
}

void SharedWorkerContext::begin_init() { impl_->initializing = true; }
void SharedWorkerContext::end_init() { impl_->initializing = false; }

}  // namespace memrun
