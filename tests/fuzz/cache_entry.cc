// A disk-cache entry as a restarted worker or `memrun cache` finds it
// (cache/entry_files.cc): a .meta file and its .data file, which any process
// with access to the directory, or a crash, may have mangled.
//
// Input: the meta file's text, a NUL byte, the data file's bytes. The files
// are named by the SHA-256 of the meta's "url" when it has one, so that a
// mutated meta gets past the name check to the checks behind it.
#include "cache/entry_files.hpp"
#include "contract.hpp"
#include "core/digest.hpp"

#include <unistd.h>

#include <nlohmann/json.hpp>

#include <cstdlib>
#include <filesystem>
#include <fstream>

using namespace memrun;
using namespace memrun::internal;
namespace fs = std::filesystem;

namespace {

// One scratch directory per fuzzing process, removed at exit (never freed:
// the exit handler runs after static destructors).
const std::string& scratch() {
  static const std::string* dir = [] {
    auto* path = new std::string(fs::temp_directory_path().string() + "/memrun-fuzz-cache.XXXXXX");
    FUZZ_CHECK(::mkdtemp(path->data()) != nullptr);
    std::atexit([] { std::error_code ec; fs::remove_all(scratch(), ec); });
    return path;
  }();
  return *dir;
}

void write(const std::string& path, std::string_view bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  FUZZ_CHECK(out.good());
}

std::string hash_for(std::string_view meta) {
  const auto j = nlohmann::json::parse(meta, nullptr, false);
  if (j.is_object() && j.contains("url") && j["url"].is_string()) return sha256_hex(j["url"].get<std::string>());
  return std::string(64, '0');
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* bytes, size_t size) {
  const std::string_view input = fuzz::text_of(bytes, size);
  const auto nul = input.find('\0');
  const std::string_view meta = input.substr(0, nul);
  const std::string_view data = nul == std::string_view::npos ? std::string_view() : input.substr(nul + 1);
  const std::string& dir = scratch();
  const std::string hash = hash_for(meta);
  fs::create_directories(dir + "/" + hash.substr(0, 2));
  write(entry_meta_path(dir, hash), meta);
  write(entry_data_path(dir, hash), data);

  const MetaRead r = read_entry_meta(dir, hash);  // never throws
  FUZZ_CHECK(r.status != MetaRead::Status::kGone);  // both files are there
  FUZZ_CHECK((r.status == MetaRead::Status::kBad) == !r.problem.empty());
  if (r.status == MetaRead::Status::kOk) {
    const EntryMeta& m = r.meta;
    FUZZ_CHECK(sha256_hex(m.url) == hash);
    // The numbers are the integers written.
    const auto j = nlohmann::json::parse(meta);
    FUZZ_CHECK(fuzz::is_integer(j["size"], m.size) && fuzz::is_integer(j["chunk"], m.chunk));
    FUZZ_CHECK(j["xxh3"].size() == m.xxh3.size());
    // A chunk not held (null) only in an entry built from ranges, which names its version.
    for (size_t i = 0; i < m.xxh3.size(); ++i)
      FUZZ_CHECK(m.xxh3[i] ? fuzz::is_integer(j["xxh3"][i], *m.xxh3[i]) : j["xxh3"][i].is_null() && m.etag);
    FUZZ_CHECK(m.etag.has_value() == (j["format"] == kEntryFormat && j.contains("etag")));
    FUZZ_CHECK(m.stored() <= m.size && m.chunks_held() <= m.xxh3.size());
    FUZZ_CHECK(m.size == data.size());
    FUZZ_CHECK(m.chunk >= 1 && m.chunk <= kMaxChunk);
    // The chunks tile [0, size) in order, and each check reads only its bytes.
    uint64_t covered = 0;
    for (size_t i = 0; i < m.xxh3.size(); ++i) {
      const ChunkRange c = chunk_range(m, i);
      FUZZ_CHECK(c.offset == covered && c.length >= 1 && c.length <= m.chunk);
      covered += c.length;
      FUZZ_CHECK(covered <= m.size);
      if (!m.xxh3[i]) continue;
      const bool match = chunk_matches(m, i, reinterpret_cast<const std::byte*>(data.data() + c.offset));
      FUZZ_CHECK(match == (chunk_checksum(reinterpret_cast<const std::byte*>(data.data() + c.offset), c.length) ==
                           *m.xxh3[i]));
    }
    FUZZ_CHECK(covered == m.size);
    // What the writer would store for this entry reads back the same.
    write(entry_meta_path(dir, hash), entry_meta_json(m));
    const MetaRead again = read_entry_meta(dir, hash);
    FUZZ_CHECK(again.status == MetaRead::Status::kOk);
    FUZZ_CHECK(again.meta.url == m.url && again.meta.size == m.size && again.meta.chunk == m.chunk &&
               again.meta.xxh3 == m.xxh3 && again.meta.etag == m.etag);
  }
  FUZZ_CHECK(remove_entry_files(dir, hash));
  return 0;
}
