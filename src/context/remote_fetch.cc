#include "context/remote_fetch.hpp"

#include "cache/mapped_file.hpp"
#include "core/file_io.hpp"

#include "remote/buffer.hpp"
#include "remote/http.hpp"
#include "remote/retry.hpp"
#include "s3/client.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <memory>
#include <mutex>
#include <vector>

namespace memrun::internal {
namespace {

constexpr std::string_view kFileScheme = "file://";

std::string errno_text(int err) { return std::strerror(err); }

bool is_file_url(const std::string& url) { return url.rfind(kFileScheme, 0) == 0; }

std::shared_ptr<MappedFile> map_source(const std::string& url) {
  std::string path = url.substr(kFileScheme.size());
  if (path.empty() || path.front() != '/')
    throw Error(Code::kInvalidArgument, "file URL must hold an absolute path: " + url);
  return map_file(path, url);
}

void fetch_http(const std::string& url, DownloadTarget& target) {
  with_retries("GET " + url, [&] {
    // With a Content-Length the body goes straight to the target; without
    // one (chunked) it is collected first.
    http::Sink sink;
    bool sized = false;
    sink.on_headers = [&](const http::Response& r) {
      const std::string length = r.header("content-length");
      if (length.empty()) return false;
      target.allocate(http::parse_length(length, "GET " + url + " Content-Length"));
      return sized = true;
    };
    sink.on_body = [&](uint64_t offset, const std::byte* data, size_t n) { target.write(offset, data, n); };
    auto r = http::request("GET", url, {}, {}, &sink);
    if (r.status < 200 || r.status >= 300) throw http::status_error("GET " + url, r.status);
    if (!sized) {
      target.allocate(r.body->size());
      target.write(0, r.body->data(), r.body->size());
    }
    target.completed(0, sized ? sink.written : r.body->size());
  });
}

void fetch_s3(const std::string& url, DownloadTarget& target, const Progress& progress, const S3Settings& s3) {
  auto config = s3::Config::resolve(s3);
  if (progress) config.progress = [&](size_t done, size_t total) { progress(done, total); };
  s3::Client(std::move(config)).get(s3::parse_url(url), target);
}

}  // namespace

void fetch_remote(const std::string& url, DownloadTarget& target, const Progress& progress, const S3Settings& s3) {
  if (is_file_url(url)) {
    auto map = map_source(url);
    target.allocate(map->size);
    target.write(0, map->data(), map->size);
    target.completed(0, map->size);
    return;
  }
  if (url.rfind("http://", 0) == 0 || url.rfind("https://", 0) == 0) return fetch_http(url, target);
  if (url.rfind("s3://", 0) == 0) return fetch_s3(url, target, progress, s3);
  throw Error(Code::kInvalidArgument,
              "unsupported URL '" + url + "': expected file://, http://, https:// or s3://");
}

Blob fetch_remote(const std::string& url, const Progress& progress, const S3Settings& s3) {
  if (is_file_url(url)) {
    auto map = map_source(url);
    const std::byte* data = map->data();
    const size_t size = map->size;
    return Blob(std::move(map), data, size, Tier::kRemote);
  }
  MemoryTarget memory;
  fetch_remote(url, memory, progress, s3);
  const auto& b = memory.buffer();
  return Blob(b.owner, b.data, b.size, Tier::kRemote);
}

std::string store_result(const std::string& dir_url, const std::string& key,
                         std::string_view bytes, const Progress& progress, const S3Settings& s3) {
  std::filesystem::path rel(key);
  if (key.empty() || rel.is_absolute() ||
      std::any_of(rel.begin(), rel.end(), [](const auto& part) { return part == ".."; }))
    throw Error(Code::kInvalidArgument, "result key '" + key + "' must be a relative path without '..'");
  if (dir_url.rfind("s3://", 0) == 0) {
    std::string prefix = dir_url;
    while (!prefix.empty() && prefix.back() == '/') prefix.pop_back();
    const std::string url = prefix + "/" + key;
    auto config = s3::Config::resolve(s3);
    if (progress) config.progress = [&](size_t done, size_t total) { progress(done, total); };
    s3::Client(std::move(config)).put(s3::parse_url(url), bytes);
    return url;
  }
  if (!is_file_url(dir_url))
    throw Error(Code::kUnimplemented,
                "result store '" + dir_url + "' is not supported: use s3://bucket/prefix or a file:// directory");
  std::filesystem::path target = std::filesystem::path(dir_url.substr(kFileScheme.size())) / rel;
  std::error_code ec;
  std::filesystem::create_directories(target.parent_path(), ec);
  if (ec) throw Error(Code::kUnavailable, "cannot create " + target.parent_path().string() + ": " + ec.message());
  // Unique per call, so concurrent results for one key never share a file.
  static std::atomic<uint64_t> calls{0};
  const std::string tmp = target.string() + ".tmp." + std::to_string(::getpid()) + "." + std::to_string(++calls);
  if (!write_file_synced(tmp, bytes)) {
    const int err = errno;
    ::unlink(tmp.c_str());
    throw Error(err == ENOSPC || err == EDQUOT ? Code::kResourceExhausted : Code::kUnavailable,
                "cannot write " + tmp + ": " + errno_text(err));
  }
  if (::rename(tmp.c_str(), target.c_str()) != 0) {
    const int err = errno;
    ::unlink(tmp.c_str());
    throw Error(Code::kUnavailable, "cannot commit " + target.string() + ": " + errno_text(err));
  }
  fsync_dir(target.parent_path().string());
  if (progress) progress(bytes.size(), bytes.size());
  return std::string(kFileScheme) + target.string();
}

}  // namespace memrun::internal
