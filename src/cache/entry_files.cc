#include "cache/entry_files.hpp"

#include "core/json_integer.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>
#include <xxhash.h>

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <tuple>

namespace fs = std::filesystem;

namespace memrun::internal {

namespace {

std::chrono::system_clock::time_point mtime_of(const struct stat& st) {
  using namespace std::chrono;
  return system_clock::time_point(
      duration_cast<system_clock::duration>(seconds(st.st_mtim.tv_sec) + nanoseconds(st.st_mtim.tv_nsec)));
}

bool exists(const std::string& path) {
  struct stat st {};
  return ::stat(path.c_str(), &st) == 0;
}

MetaRead bad(std::string problem) {
  MetaRead r;
  r.status = MetaRead::Status::kBad;
  r.problem = std::move(problem);
  return r;
}

// The whole of a small file; false with errno set.
bool read_all(int fd, std::string& out) {
  char buf[16384];
  for (;;) {
    const ssize_t n = ::read(fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return false;
    if (n == 0) return true;
    out.append(buf, static_cast<size_t>(n));
  }
}

}  // namespace

std::string entry_data_path(const std::string& dir, const std::string& hash) {
  return dir + "/" + hash.substr(0, 2) + "/" + hash + ".data";
}

std::string entry_meta_path(const std::string& dir, const std::string& hash) {
  return dir + "/" + hash.substr(0, 2) + "/" + hash + ".meta";
}

uint64_t EntryMeta::stored() const {
  uint64_t bytes = 0;
  for (size_t i = 0; i < xxh3.size(); ++i)
    if (xxh3[i]) bytes += chunk_range(*this, i).length;
  return bytes;
}

size_t EntryMeta::chunks_held() const {
  return static_cast<size_t>(std::count_if(xxh3.begin(), xxh3.end(), [](const auto& sum) { return sum.has_value(); }));
}

std::string entry_meta_json(const EntryMeta& meta) {
  nlohmann::json sums = nlohmann::json::array();
  for (const auto& sum : meta.xxh3) sums.push_back(sum ? nlohmann::json(*sum) : nlohmann::json(nullptr));
  nlohmann::json j{{"format", kEntryFormat}, {"url", meta.url}, {"size", meta.size}, {"chunk", meta.chunk},
                   {"xxh3", std::move(sums)}};
  if (meta.etag) j["etag"] = *meta.etag;
  return j.dump();
}

MetaRead read_entry_meta(const std::string& dir, const std::string& hash) {
  const std::string path = entry_meta_path(dir, hash);
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    const int err = errno;
    return err == ENOENT ? MetaRead{} : bad(std::string("cannot open its meta: ") + std::strerror(err));
  }
  struct stat st {};
  std::string text;
  const bool read = ::fstat(fd, &st) == 0 && read_all(fd, text);
  const int err = errno;
  ::close(fd);
  if (!read) return bad(std::string("cannot read its meta: ") + std::strerror(err));

  MetaRead r;
  try {
    const auto j = nlohmann::json::parse(text);
    // Format 2 is format 3 without partial entries.
    const auto format = json_integer<int>(j.at("format"));
    if (format != kEntryFormat && format != 2)
      return bad("meta format " + j.at("format").dump() + ", not " + std::to_string(kEntryFormat));
    r.meta.url = j.at("url").get<std::string>();
    // Integers as written: a converted 4.5 or -1 would pass for another entry's numbers.
    const auto size = json_integer<uint64_t>(j.at("size"));
    const auto chunk = json_integer<size_t>(j.at("chunk"));
    if (!size || !chunk) return bad("unreadable meta: size and chunk must be byte counts");
    r.meta.size = *size;
    r.meta.chunk = *chunk;
    const auto& sums = j.at("xxh3");
    if (!sums.is_array()) return bad("unreadable meta: xxh3 must be an array of checksums");
    if (const auto etag = j.find("etag"); etag != j.end() && format == kEntryFormat) {
      if (!etag->is_string()) return bad("unreadable meta: etag must be a string");
      r.meta.etag = etag->get<std::string>();
    }
    for (const auto& sum : sums) {
      // Only an entry built from ranges lacks chunks.
      if (sum.is_null() && r.meta.etag) {
        r.meta.xxh3.emplace_back();
        continue;
      }
      const auto n = json_integer<uint64_t>(sum);
      if (!n) return bad("unreadable meta: xxh3 must be an array of checksums");
      r.meta.xxh3.push_back(*n);
    }
  } catch (const nlohmann::json::exception& e) {
    return bad(std::string("unreadable meta: ") + e.what());
  }
  if (r.meta.chunk == 0 || r.meta.chunk > kMaxChunk ||
      r.meta.xxh3.size() != chunk_count(r.meta.size, r.meta.chunk))
    return bad("its checksums do not cover its size");
  struct stat data {};
  if (::stat(entry_data_path(dir, hash).c_str(), &data) != 0) {
    if (errno == ENOENT && !exists(path)) return MetaRead{};  // removed while we read: meta first, then data
    return bad(std::string("no data file: ") + std::strerror(errno));
  }
  if (static_cast<uint64_t>(data.st_size) != r.meta.size)
    return bad("its data file has " + std::to_string(data.st_size) + " bytes, its meta says " +
               std::to_string(r.meta.size));
  r.status = MetaRead::Status::kOk;
  r.committed = mtime_of(st);
  r.inode = st.st_ino;
  return r;
}

ChunkRange chunk_range(const EntryMeta& meta, size_t i) {
  const uint64_t offset = static_cast<uint64_t>(i) * meta.chunk;
  return {offset, std::min<uint64_t>(meta.chunk, meta.size - offset)};
}

uint64_t chunk_checksum(const std::byte* bytes, size_t length) { return XXH3_64bits(bytes, length); }

bool chunk_matches(const EntryMeta& meta, size_t i, const std::byte* bytes) {
  return chunk_checksum(bytes, chunk_range(meta, i).length) == meta.xxh3[i].value();
}

bool remove_entry_files(const std::string& dir, const std::string& hash) {
  const bool had_meta = ::unlink(entry_meta_path(dir, hash).c_str()) == 0;
  ::unlink(entry_data_path(dir, hash).c_str());
  return had_meta;
}

CacheDirScan scan_cache_dir(const std::string& dir) {
  CacheDirScan out;
  constexpr size_t kHashLength = 64;
  std::error_code ec;
  for (fs::directory_iterator shard(dir, ec), end; !ec && shard != end; shard.increment(ec)) {
    // Only shards: the crash journal, the lock and packages live beside them.
    if (shard->path().filename().string().size() != 2 || !shard->is_directory(ec)) continue;
    std::error_code inner;
    for (fs::directory_iterator file(shard->path(), inner); !inner && file != end; file.increment(inner)) {
      const fs::path& path = file->path();
      const std::string ext = path.extension().string();
      const std::string hash = path.stem().string();
      if (ext == ".tmp") {
        out.temp_files.push_back(path.string());
      } else if (hash.size() != kHashLength) {
        continue;  // not ours
      } else if (ext == ".data") {
        if (!exists(entry_meta_path(dir, hash))) out.orphan_data.push_back(path.string());
      } else if (ext == ".meta") {
        MetaRead r = read_entry_meta(dir, hash);
        if (r.status == MetaRead::Status::kBad) {
          out.bad.push_back({hash, std::move(r.problem)});
        } else if (r.status == MetaRead::Status::kOk) {
          out.entries.push_back({hash, std::move(r.meta), r.committed});
        }
      }
    }
  }
  std::sort(out.entries.begin(), out.entries.end(), [](const ScannedEntry& a, const ScannedEntry& b) {
    return std::tie(a.committed, a.hash) < std::tie(b.committed, b.hash);
  });
  return out;
}

}  // namespace memrun::internal
