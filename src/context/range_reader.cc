#include "context/range_reader.hpp"

#include "cache/blob_access.hpp"
#include "remote/buffer.hpp"

#include <memrun/logging.hpp>

#include <spdlog/spdlog.h>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <exception>
#include <future>
#include <vector>

namespace memrun::internal {
namespace {

// Keys of the tiers' entries. A URL never holds the unit separator (URLs
// with control characters are refused before any tier), so these keys can
// meet no whole object's key and no other URL's.
constexpr std::string_view kSeparator = "\x1f";
constexpr std::string_view kChunkPrefix = "\x01" "range-chunk:";
constexpr std::string_view kChunkType = "memrun::RangeChunk";
constexpr std::string_view kIdentityPrefix = "\x01" "range-identity:";
constexpr std::string_view kIdentityType = "memrun::RangeIdentity";
// What an identity is charged in the RAM tier besides its strings.
constexpr uint64_t kIdentityOverhead = 64;

int rank(Tier t) { return t == Tier::kRam ? 0 : t == Tier::kDisk ? 1 : 2; }

// The slowest tier any of `chunks` came from.
Tier slowest(const std::vector<Blob>& chunks) {
  Tier tier = Tier::kRam;
  for (const Blob& chunk : chunks)
    if (rank(chunk.tier()) > rank(tier)) tier = chunk.tier();
  return tier;
}

}  // namespace

std::string RangeReader::chunk_key(const std::string& url, const Identity& id, uint64_t index) const {
  return url + std::string(kSeparator) + "chunk " + std::to_string(options_.chunk_bytes) + " " +
         std::to_string(index) + " of " + std::to_string(id.size) + " " + id.etag;
}

DiskCache::Version RangeReader::version(const Identity& id) const {
  return {id.etag, id.size, options_.chunk_bytes};
}

bool RangeReader::known_identity(const std::string& url, Identity* out) {
  const std::string name = std::string(kIdentityPrefix) + url;
  if (auto hit = std::static_pointer_cast<Identity>(store_.find(name, kIdentityType))) {
    *out = *hit;
    return true;
  }
  // The object's partial entry on disk, if its chunks are this reader's
  // size (another size is relearnt, and its entry replaced chunk by chunk).
  const auto v = disk_ ? disk_->version(url) : std::nullopt;
  if (!v || v->chunk != options_.chunk_bytes) return false;
  *out = Identity{v->etag, v->size};
  keep_identity(url, *out);
  return true;
}

void RangeReader::keep_identity(const std::string& url, const Identity& id) {
  const std::string name = std::string(kIdentityPrefix) + url;
  try {
    store_.set(name, std::string(kIdentityType), std::make_shared<Identity>(id),
               name.size() + id.etag.size() + kIdentityOverhead, ObjectStore::Keep::kNormal);
  } catch (const Error&) {
    // Over the budget: the next read asks the disk, or learns it again.
  }
}

// The object's chunks of the old version are of no use: its disk entry
// goes (the next chunk fetched starts one for the new version).
void RangeReader::forget(const std::string& url) {
  store_.erase(std::string(kIdentityPrefix) + url);
  if (disk_) disk_->erase(url);
}

Blob RangeReader::on_disk(const std::string& url, const Identity& id, uint64_t offset, uint64_t length, bool count) {
  if (!disk_) return {};
  std::optional<Blob> hit;
  try {
    hit = disk_->get_range(url, version(id), offset, length);
  } catch (const Error&) {
    if (disk_->drop_if_corrupt(url)) return {};  // the caller fetches the chunks again
    throw;
  }
  if (!hit) return {};
  const uint64_t k = options_.chunk_bytes;
  if (count) counters_.disk_hits += (offset + length - 1) / k - offset / k + 1;
  return *hit;
}

void RangeReader::keep_chunk(const std::string& key, const Blob& chunk) {
  try {
    // Spare, as the RAM tier's whole raw blobs: decoded objects come first,
    // and the disk tier still holds the chunk.
    store_.set(std::string(kChunkPrefix) + key, std::string(kChunkType), std::make_shared<Blob>(chunk), chunk.size(),
               ObjectStore::Keep::kSpare);
  } catch (const Error&) {
    // Larger than the budget allows: served uncached rather than failed.
  }
}

namespace {

// The text of a range for messages.
std::string range_text(uint64_t offset, uint64_t length) {
  return "[" + std::to_string(offset) + ", " + std::to_string(offset) + " + " + std::to_string(length) + ")";
}

Error past_end(const std::string& shown, uint64_t offset, uint64_t length, uint64_t size) {
  return Error(Code::kInvalidArgument, "get_range " + shown + ": range " + range_text(offset, length) +
                                           " is past the end of the object (" + std::to_string(size) + " bytes)");
}

}  // namespace

Blob RangeReader::fetch_chunk(const std::string& url, uint64_t index, Identity* id, bool known) {
  const std::string shown = redact_credentials(url);
  const auto changed = [&](const std::string& how) {
    forget(url);
    return Error(Code::kUnavailable, "get_range " + shown + ": the object changed while its chunks were read (" + how +
                                         "); nothing mixed was served, a retry reads the new version");
  };
  const uint64_t k = options_.chunk_bytes;
  // A weak ETag never matches If-Match (RFC 9110 13.1.1: strong comparison):
  // it is compared with each answer's instead.
  const bool pin = known && id->etag.rfind("W/", 0) != 0;
  auto answer = fetch_range(url, index * k, k, pin ? id->etag : "", options_.s3);
  if (answer.outcome == RangeAnswer::Outcome::kChanged) throw changed("ETag " + id->etag + " no longer matches");
  if (answer.outcome == RangeAnswer::Outcome::kPastEnd) {
    if (known) throw changed("it is shorter than " + std::to_string(id->size) + " bytes now");
    id->size = answer.total;  // the caller names the range past it
    return Blob();
  }
  if (known && (answer.etag != id->etag || answer.total != id->size))
    throw changed("ETag " + id->etag + " and " + std::to_string(id->size) + " bytes, now ETag " + answer.etag +
                  " and " + std::to_string(answer.total) + " bytes");
  ++counters_.remote_fetches;
  counters_.remote_bytes += answer.bytes.size();
  if (!known) {
    *id = Identity{answer.etag, answer.total};
    keep_identity(url, *id);
  }
  keep_chunk(chunk_key(url, *id, index), answer.bytes);
  if (disk_) disk_->put_chunk(url, version(*id), index, answer.bytes.view());
  return answer.bytes;
}

Blob RangeReader::cached_chunk(const std::string& url, const Identity& id, uint64_t index) {
  const std::string name = std::string(kChunkPrefix) + chunk_key(url, id, index);
  if (auto hit = std::static_pointer_cast<Blob>(store_.find(name, kChunkType));
      hit && hit->size() == chunk_size(id.size, index)) {
    ++counters_.ram_hits;
    return internal::BlobAccess::with_tier(*hit, Tier::kRam);
  }
  // Not kept in RAM: it is a slice of the object's one mapping, which the
  // RAM tier would keep from eviction for as long as it held the slice.
  return on_disk(url, id, index * options_.chunk_bytes, chunk_size(id.size, index), true);
}

RangeReader::Identity RangeReader::identity(const std::string& url, uint64_t index, const FetchWait& wait,
                                            Blob* learnt) {
  Identity id;
  if (known_identity(url, &id)) return id;
  // The first chunk fetched learns the identity the others are pinned to:
  // one fetch per URL for every caller that comes meanwhile (each opener of
  // a stream fetched chunk 0 itself before), each waiting within its own
  // wait. A caller that asked for another chunk fetches that one after.
  const std::string what = "get_range " + redact_credentials(url);
  check_wait(wait, what);
  const Learnt got = await_flight(identity_flights_.join(url,
                                                         [this, url, index] {
                                                           Learnt l;
                                                           l.index = index;
                                                           l.chunk = fetch_chunk(url, index, &l.id, false);
                                                           return l;
                                                         }),
                                  wait, what);
  if (got.index == index) *learnt = got.chunk;
  return got.id;
}

std::shared_future<Blob> RangeReader::flight(const std::string& url, const Identity& id, uint64_t index) {
  return flights_.join(chunk_key(url, id, index), [this, url, id, index] {
    // A flight that ended just before this one began has cached it.
    Blob chunk = cached_chunk(url, id, index);
    if (!chunk) {
      Identity pinned = id;
      chunk = fetch_chunk(url, index, &pinned, true);  // kept in both tiers before the flight ends
    }
    return chunk;
  });
}

Blob RangeReader::chunk(const std::string& url, const Identity& id, uint64_t index, const FetchWait& wait) {
  if (Blob hit = cached_chunk(url, id, index)) return hit;
  const std::string what = "get_range " + redact_credentials(url);
  check_wait(wait, what);
  return await_flight(flight(url, id, index), wait, what);
}

Blob RangeReader::join(const std::vector<Blob>& chunks, uint64_t skip, uint64_t length) {
  const Tier tier = slowest(chunks);
  if (chunks.size() == 1) {
    // read() checks only the range's chunks of a lazily checked entry (a
    // range cut from a whole object on disk), not all of them.
    const std::byte* data = chunks[0].read(skip, length);
    return internal::BlobAccess::make(std::make_shared<Blob>(chunks[0]), data, length, tier);
  }
  // Across chunks: one copy, so the caller sees contiguous bytes.
  PrefaultedBuffer out = prefaulted_buffer(length);
  uint64_t at = 0;
  for (size_t i = 0; i < chunks.size(); ++i) {
    const uint64_t from = i == 0 ? skip : 0;
    const uint64_t n = std::min<uint64_t>(chunks[i].size() - from, length - at);
    std::memcpy(out.data + at, chunks[i].data() + from, n);
    at += n;
  }
  return internal::BlobAccess::make(out.owner, out.data, length, tier);
}

Blob RangeReader::read(const std::string& url, uint64_t offset, uint64_t length, const FetchWait& wait) {
  const std::string shown = redact_credentials(url);
  if (length == 0)
    throw Error(Code::kInvalidArgument, "get_range " + shown + ": a length of 0 reads nothing; ask for at least one byte");
  if (offset > UINT64_MAX - length)
    throw Error(Code::kInvalidArgument, "get_range " + shown + ": range " + range_text(offset, length) + " overflows");
  if (url.rfind("file://", 0) == 0) {
    Blob bytes = read_file_range(url, offset, length, options_.file_roots);
    ++counters_.remote_fetches;
    counters_.remote_bytes += length;
    return bytes;
  }
  if (Blob whole = cached_whole_(url)) {
    if (offset >= whole.size() || length > whole.size() - offset) throw past_end(shown, offset, length, whole.size());
    try {
      return join({whole}, offset, length);
    } catch (const Error&) {
      if (!whole.corrupt()) throw;
      // Its entry is dropped now; the chunks serve.
      if (disk_) disk_->drop_if_corrupt(url);
    }
  }
  const uint64_t k = options_.chunk_bytes;
  const uint64_t first = offset / k, last = (offset + length - 1) / k;
  std::vector<Blob> chunks(last - first + 1);
  const Identity id = identity(url, first, wait, &chunks[0]);
  if (offset >= id.size || length > id.size - offset) throw past_end(shown, offset, length, id.size);
  // Across chunks the object's disk entry holds: one slice of its mapping,
  // no copy.
  if (first != last && !chunks[0])
    if (Blob span = on_disk(url, id, offset, length, true)) return span;
  // Hits first (chunks cached under an identity whose own entry was
  // evicted, theirs not, are hits too); then the others' flights, up to
  // kParallelChunks at once, each waited for within `wait`.
  std::vector<uint64_t> missing;
  for (uint64_t c = first; c <= last; ++c) {
    Blob& chunk = chunks[c - first];
    if (!chunk) chunk = cached_chunk(url, id, c);
    if (!chunk) missing.push_back(c);
  }
  for (size_t next = 0; next < missing.size(); next += kParallelChunks) {
    check_wait(wait, "get_range " + shown);
    const size_t end = std::min(missing.size(), next + kParallelChunks);
    std::vector<std::shared_future<Blob>> wave;
    for (size_t i = next; i < end; ++i) wave.push_back(flight(url, id, missing[i]));
    for (size_t i = next; i < end; ++i)
      chunks[missing[i] - first] = await_flight(wave[i - next], wait, "get_range " + shown);
  }
  return assemble(url, id, chunks, offset, length);
}

// The chunks in hand are in the disk entry too (unless the disk refused
// them): a range across them is a slice of its mapping rather than a copy of
// them, so the whole object after ranges costs no copy either.
Blob RangeReader::assemble(const std::string& url, const Identity& id, const std::vector<Blob>& chunks,
                           uint64_t offset, uint64_t length) {
  if (chunks.size() > 1) {
    try {
      if (Blob span = on_disk(url, id, offset, length, false))
        return internal::BlobAccess::with_tier(span, slowest(chunks));
    } catch (const Error&) {
      // A chunk stored before the restart is corrupt: those in hand serve.
    }
  }
  return join(chunks, offset % options_.chunk_bytes, length);
}

Blob RangeReader::whole(const std::string& url, const FetchWait& wait) {
  Identity id;
  if (url.rfind("file://", 0) == 0 || !known_identity(url, &id) || id.size == 0) return {};
  return read(url, 0, id.size, wait);
}

}  // namespace memrun::internal
