#include <memrun/context.hpp>

#include "cache/disk_cache.hpp"
#include "context/object_store.hpp"
#include "context/remote_fetch.hpp"
#include "core/digest.hpp"

#include <atomic>
#include <future>
#include <map>
#include <mutex>

namespace memrun {
namespace {
// The bytes must hash to what the caller named; otherwise an error, and the
// caller that fetched caches nothing.
void check_digest(const Blob& blob, const std::string& expected, const std::string& url) {
  if (expected.empty()) return;
  const std::string actual =
      internal::sha256_hex(std::string_view(reinterpret_cast<const char*>(blob.data()), blob.size()));
  if (actual != expected)
    throw Error(Code::kInvalidArgument,
                "sha256 of " + url + " is " + actual + ", expected " + expected + "; not cached");
}

// Fetched blobs live in the object store under a reserved name, so one budget
// and one eviction order cover decoded objects and raw bytes alike.
constexpr std::string_view kBlobPrefix = "\x01" "blob:";
constexpr std::string_view kBlobType = "memrun::Blob";
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
  std::mutex fetch_mu;
  std::map<std::string, std::shared_future<Blob>> fetching;  // GUARDED_BY(fetch_mu)
  std::unique_ptr<internal::DiskCache> disk;  // null: no disk tier
  struct {
    std::atomic<uint64_t> ram_hits{0}, disk_hits{0}, remote_fetches{0}, remote_bytes{0};
  } counters;

  explicit Impl(Options o) : options(std::move(o)), store(options.memory_budget_bytes) {
    if (!options.disk_dir.empty() && options.disk_budget_bytes > 0)
      disk = std::make_unique<internal::DiskCache>(
          internal::DiskCache::Options{options.disk_dir, options.disk_budget_bytes});
  }

  // Disk, then remote. A remote object is downloaded straight into its disk
  // entry (one writer per URL), checked against the digest, then committed;
  // if the disk cannot take it, into memory.
  Blob load(const std::string& url, const std::string& expected) {
    if (disk) {
      if (auto hit = disk->get(url)) {
        try {
          check_digest(*hit, expected, url);
          ++counters.disk_hits;
          return *hit;
        } catch (const Error&) {
          if (!disk->drop_if_corrupt(url)) throw;
        }
      }
    }
    internal::Progress progress;
    if (options.on_progress)
      progress = [&](uint64_t done, uint64_t total) { options.on_progress(url, done, total); };
    if (auto writer = disk ? disk->writer(url) : nullptr) {
      try {
        internal::fetch_remote(url, *writer, progress);
        Blob blob = writer->bytes();
        count_remote(blob);
        check_digest(blob, expected, url);
        writer->commit();
        return blob;
      } catch (const Error&) {
        if (!writer->failed()) throw;  // the source failed, not the disk
      }
    }
    Blob blob = internal::fetch_remote(url, progress);
    count_remote(blob);
    check_digest(blob, expected, url);
    return blob;
  }

  void count_remote(const Blob& blob) {
    ++counters.remote_fetches;
    counters.remote_bytes += blob.size();
  }
};

ChunkCheck::~ChunkCheck() = default;

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
                   impl_->initializing.load());
}

std::shared_ptr<void> SharedWorkerContext::get_object_erased(std::string_view name,
                                                             std::string_view type_name) {
  auto obj = impl_->store.find(name, type_name);
  if (!obj) throw Error(Code::kNotFound, "no object named '" + std::string(name) + "'");
  return obj;
}

bool SharedWorkerContext::erase_object(std::string_view name) { return impl_->store.erase(name); }

Blob SharedWorkerContext::get_or_fetch(const std::string& url_and_digest) {
  const auto [url, expected] = internal::split_digest(url_and_digest);
  const std::string key = std::string(kBlobPrefix) + url;
  if (auto hit = impl_->store.find(key, kBlobType)) {
    Blob blob = static_cast<const Blob*>(hit.get())->with_tier(Tier::kRam);
    if (!blob.corrupt()) {
      check_digest(blob, expected, url);
      ++impl_->counters.ram_hits;
      return blob;
    }
    impl_->store.erase(key);  // a lazy check failed: the disk tier drops it, the fetch below replaces it
  }

  // Single flight: the first caller fetches, later callers wait on its future.
  // Callers naming different digests fly apart, so one's mismatch is not
  // another's error.
  const std::string flight = url + "#" + expected;
  std::promise<Blob> promise;
  std::shared_future<Blob> waiting;
  {
    std::lock_guard lock(impl_->fetch_mu);
    auto it = impl_->fetching.find(flight);
    if (it != impl_->fetching.end()) waiting = it->second;
    else impl_->fetching.emplace(flight, promise.get_future().share());
  }
  if (waiting.valid()) return waiting.get();

  try {
    Blob blob = impl_->load(url, expected);
    try {
      impl_->store.set(key, std::string(kBlobType), std::make_shared<Blob>(blob), blob.size(),
                       false);
    } catch (const Error&) {
      // Larger than the budget allows: serve it uncached rather than fail.
    }
    promise.set_value(blob);
  } catch (...) {
    promise.set_exception(std::current_exception());
  }
  std::shared_future<Blob> done;
  {
    std::lock_guard lock(impl_->fetch_mu);
    auto it = impl_->fetching.find(flight);
    done = it->second;
    impl_->fetching.erase(it);
  }
  return done.get();
}

std::string SharedWorkerContext::upload_result(std::string_view bytes, const std::string& key) {
  if (impl_->options.result_url.empty())
    throw Error(Code::kUnimplemented,
                "upload_result: no result store configured (set result_url in the config)");
  return internal::store_result(impl_->options.result_url, key, bytes);
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
