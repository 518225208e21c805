#include "context/range_reader.hpp"

#include "remote/buffer.hpp"

#include <memrun/logging.hpp>

#include <spdlog/spdlog.h>

#include <algorithm>
#include <charconv>
#include <chrono>
#include <cstring>
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

std::string identity_key(const std::string& url) { return url + std::string(kSeparator) + "identity"; }

int rank(Tier t) { return t == Tier::kRam ? 0 : t == Tier::kDisk ? 1 : 2; }

}  // namespace

std::string RangeReader::chunk_key(const std::string& url, const Identity& id, uint64_t index) const {
  return url + std::string(kSeparator) + "chunk " + std::to_string(options_.chunk_bytes) + " " +
         std::to_string(index) + " of " + std::to_string(id.size) + " " + id.etag;
}

bool RangeReader::known_identity(const std::string& url, Identity* out) {
  const std::string name = std::string(kIdentityPrefix) + url;
  if (auto hit = std::static_pointer_cast<Identity>(store_.find(name, kIdentityType))) {
    *out = *hit;
    return true;
  }
  if (!disk_) return false;
  const std::string key = identity_key(url);
  auto blob = disk_->get(key);
  if (!blob) return false;
  std::string text;
  try {
    text = std::string(blob->view());
  } catch (const Error&) {
    disk_->drop_if_corrupt(key);
    return false;
  }
  blob.reset();  // its mapping would keep the entry from eviction
  const auto newline = text.rfind('\n');
  Identity id;
  const char* end = text.data() + text.size();
  if (newline == std::string::npos ||
      std::from_chars(text.data() + newline + 1, end, id.size).ptr != end) {
    spdlog::warn("disk cache: unusable range identity of {}: dropped", redact_credentials(url));
    disk_->erase(key);
    return false;
  }
  id.etag = text.substr(0, newline);
  keep_identity(url, id);
  *out = id;
  return true;
}

void RangeReader::keep_identity(const std::string& url, const Identity& id) {
  const std::string name = std::string(kIdentityPrefix) + url;
  try {
    store_.set(name, std::string(kIdentityType), std::make_shared<Identity>(id),
               name.size() + id.etag.size() + kIdentityOverhead, false);
  } catch (const Error&) {
    // Over the budget: the next read asks the disk, or learns it again.
  }
}

void RangeReader::remember(const std::string& url, const Identity& id) {
  keep_identity(url, id);
  if (!disk_) return;
  disk_->erase(identity_key(url));
  disk_->put(identity_key(url), id.etag + "\n" + std::to_string(id.size));
}

void RangeReader::forget(const std::string& url) {
  store_.erase(std::string(kIdentityPrefix) + url);
  if (disk_) disk_->erase(identity_key(url));
}

Blob RangeReader::cached_chunk(const std::string& key) {
  const std::string name = std::string(kChunkPrefix) + key;
  if (auto hit = std::static_pointer_cast<Blob>(store_.find(name, kChunkType))) {
    ++counters_.ram_hits;
    return hit->with_tier(Tier::kRam);
  }
  if (!disk_) return {};
  auto hit = disk_->get(key);
  if (!hit) return {};
  // Checked whole now (a chunk is small): what the RAM tier keeps and what
  // callers slice is never checked again.
  try {
    hit->data();
  } catch (const Error&) {
    if (disk_->drop_if_corrupt(key)) return {};
    throw;
  }
  ++counters_.disk_hits;
  keep_chunk(key, *hit);
  return *hit;
}

void RangeReader::keep_chunk(const std::string& key, const Blob& chunk) {
  try {
    store_.set(std::string(kChunkPrefix) + key, std::string(kChunkType), std::make_shared<Blob>(chunk), chunk.size(),
               false);
  } catch (const Error&) {
    // Larger than the budget allows: served uncached rather than failed.
  }
}

Blob RangeReader::read(const std::string& url, uint64_t offset, uint64_t length, const FetchWait& wait) {
  const std::string shown = redact_credentials(url);
  const std::string asked = "[" + std::to_string(offset) + ", " + std::to_string(offset) + " + " +
                            std::to_string(length) + ")";
  if (length == 0)
    throw Error(Code::kInvalidArgument, "get_range " + shown + ": a length of 0 reads nothing; ask for at least one byte");
  if (offset > UINT64_MAX - length)
    throw Error(Code::kInvalidArgument, "get_range " + shown + ": range " + asked + " overflows");
  if (url.rfind("file://", 0) == 0) {
    Blob bytes = read_file_range(url, offset, length, options_.file_roots);
    ++counters_.remote_fetches;
    counters_.remote_bytes += length;
    return bytes;
  }
  const auto past_end = [&](uint64_t size) {
    return Error(Code::kInvalidArgument, "get_range " + shown + ": range " + asked +
                                             " is past the end of the object (" + std::to_string(size) + " bytes)");
  };
  const auto changed = [&](const std::string& how) {
    forget(url);
    return Error(Code::kUnavailable, "get_range " + shown + ": the object changed while its chunks were read (" + how +
                                         "); nothing mixed was served, a retry reads the new version");
  };
  const uint64_t k = std::max<uint64_t>(options_.chunk_bytes, 1);
  Identity id;
  bool known = known_identity(url, &id);
  if (known && (offset >= id.size || length > id.size - offset)) throw past_end(id.size);
  const uint64_t first = offset / k, last = (offset + length - 1) / k;
  std::vector<Blob> chunks;
  Tier tier = Tier::kRam;
  for (uint64_t c = first; c <= last; ++c) {
    Blob chunk;
    // A chunk of the size its identity says, or it is no hit.
    if (known) {
      chunk = cached_chunk(chunk_key(url, id, c));
      if (chunk && chunk.size() != std::min(k, id.size - c * k)) chunk = Blob();
    }
    if (!chunk) {
      if (std::chrono::system_clock::now() >= wait.deadline)
        throw Error(Code::kDeadlineExceeded, "get_range " + shown + ": the deadline passed");
      if (wait.cancelled && wait.cancelled()) throw Error(Code::kCancelled, "get_range " + shown + ": cancelled");
      auto answer = fetch_range(url, c * k, k, known ? id.etag : "", options_.s3);
      if (answer.outcome == RangeAnswer::Outcome::kChanged) throw changed("ETag " + id.etag + " no longer matches");
      if (answer.outcome == RangeAnswer::Outcome::kPastEnd) {
        if (known) throw changed("it is shorter than " + std::to_string(id.size) + " bytes now");
        throw past_end(answer.total);
      }
      if (known && (answer.etag != id.etag || answer.total != id.size))
        throw changed("ETag " + id.etag + " and " + std::to_string(id.size) + " bytes, now ETag " + answer.etag +
                      " and " + std::to_string(answer.total) + " bytes");
      ++counters_.remote_fetches;
      counters_.remote_bytes += answer.bytes.size();
      if (!known) {
        id = Identity{answer.etag, answer.total};
        known = true;
        remember(url, id);
      }
      chunk = answer.bytes;
      keep_chunk(chunk_key(url, id, c), chunk);
      if (disk_) disk_->put(chunk_key(url, id, c), chunk.view());
      if (offset >= id.size || length > id.size - offset) throw past_end(id.size);
    }
    if (rank(chunk.tier()) > rank(tier)) tier = chunk.tier();
    chunks.push_back(std::move(chunk));
  }
  const uint64_t skip = offset - first * k;
  if (chunks.size() == 1) {
    const std::byte* data = chunks[0].data() + skip;
    return Blob(std::make_shared<Blob>(chunks[0]), data, length, tier);
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
  return Blob(out.owner, out.data, length, tier);
}

}  // namespace memrun::internal
