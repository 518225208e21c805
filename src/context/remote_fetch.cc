#include "context/remote_fetch.hpp"

#include "cache/blob_access.hpp"
#include "cache/mapped_file.hpp"
#include "core/file_io.hpp"

#include "remote/buffer.hpp"
#include "remote/http.hpp"
#include "remote/retry.hpp"
#include "remote/url_rules.hpp"
#include "s3/client.hpp"

#include <memrun/logging.hpp>

#include <fcntl.h>
#include <linux/magic.h>
#include <sys/vfs.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstdlib>
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

// `path` with links and dot segments resolved; "" (errno set) if it cannot be.
std::string real_path(const std::string& path) {
  std::unique_ptr<char, void (*)(void*)> real(::realpath(path.c_str(), nullptr), std::free);
  return real ? std::string(real.get()) : std::string();
}

// A file:// source, mapped: only a regular file under one of `roots` (after
// resolving links, so a link cannot lead out), never one of procfs or sysfs,
// whose sizes say nothing of their contents.
std::shared_ptr<MappedFile> map_source(const std::string& url, const FileRoots& roots) {
  const std::string shown = redact_credentials(url);
  std::string path = url.substr(kFileScheme.size());
  if (path.empty() || path.front() != '/')
    throw Error(Code::kInvalidArgument, "file URL must hold an absolute path: " + shown);
  const auto under_a_root = [&](const std::string& p) {
    return std::any_of(roots.begin(), roots.end(), [&](const std::string& root) {
      std::string r = real_path(root);
      if (r.empty()) r = std::filesystem::path(root).lexically_normal().string();  // not there (yet)
      return !r.empty() && (p == r || p.rfind(r == "/" ? r : r + "/", 0) == 0);
    });
  };
  const std::string real = real_path(path);
  const int err = errno;
  // What is outside is refused the same way whether it exists or not: no
  // probing the machine's files through error codes.
  if (!under_a_root(real.empty() ? std::filesystem::path(path).lexically_normal().string() : real))
    throw Error(Code::kInvalidArgument,
                shown + " is outside the directories file:// may read (the package's, and file_roots in the config)");
  if (real.empty())
    throw Error(err == ENOENT || err == ENOTDIR ? Code::kNotFound : Code::kInvalidArgument,
                "cannot open " + shown + ": " + errno_text(err));
  auto map = map_file(real, shown);  // refuses what is not a regular file
  struct statfs fs {};
  if (::statfs(real.c_str(), &fs) == 0 && (fs.f_type == PROC_SUPER_MAGIC || fs.f_type == SYSFS_MAGIC))
    throw Error(Code::kInvalidArgument, shown + " is not a regular file (procfs or sysfs)");
  return map;
}

void fetch_http(const std::string& url, DownloadTarget& target) {
  const std::string what = "GET " + redact_credentials(url);  // errors and logs name it so
  with_retries(what, [&] {
    // With a Content-Length the body goes straight to the target; without
    // one (chunked) it is collected first.
    http::Sink sink;
    bool sized = false;
    sink.on_headers = [&](const http::Response& r) {
      const std::string length = r.header("content-length");
      if (length.empty()) return false;
      target.allocate(http::parse_length(length, what + " Content-Length"));
      return sized = true;
    };
    sink.on_body = [&](uint64_t offset, const std::byte* data, size_t n) { target.write(offset, data, n); };
    auto r = http::request("GET", url, {}, {}, &sink);
    if (r.status < 200 || r.status >= 300) throw http::status_error(what, r.status);
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

void fetch_remote(const std::string& url, DownloadTarget& target, const Progress& progress, const S3Settings& s3,
                  const FileRoots& file_roots) {
  refuse_control_characters(url);
  if (is_file_url(url)) {
    auto map = map_source(url, file_roots);
    target.allocate(map->size);
    target.write(0, map->data(), map->size);
    target.completed(0, map->size);
    return;
  }
  if (url.rfind("http://", 0) == 0 || url.rfind("https://", 0) == 0) return fetch_http(url, target);
  if (url.rfind("s3://", 0) == 0) return fetch_s3(url, target, progress, s3);
  throw Error(Code::kInvalidArgument,
              "unsupported URL '" + redact_credentials(url) + "': expected file://, http://, https:// or s3://");
}

Blob fetch_remote(const std::string& url, const Progress& progress, const S3Settings& s3,
                  const FileRoots& file_roots) {
  refuse_control_characters(url);
  if (is_file_url(url)) {
    auto map = map_source(url, file_roots);
    const std::byte* data = map->data();
    const size_t size = map->size;
    return internal::BlobAccess::make(std::move(map), data, size, Tier::kRemote);
  }
  MemoryTarget memory;
  fetch_remote(url, memory, progress, s3, file_roots);
  const auto& b = memory.buffer();
  return internal::BlobAccess::make(b.owner, b.data, b.size, Tier::kRemote);
}

RangeAnswer fetch_range(const std::string& url, uint64_t offset, uint64_t length, const std::string& if_match,
                        const S3Settings& s3) {
  refuse_control_characters(url);
  const bool is_s3 = url.rfind("s3://", 0) == 0;
  if (!is_s3 && url.rfind("http://", 0) != 0 && url.rfind("https://", 0) != 0)
    throw Error(Code::kInvalidArgument, "ranged GET of '" + redact_credentials(url) + "': expected http://, https:// or s3://");
  const std::string range = http::byte_range(offset, length);
  const std::string what = "GET " + redact_credentials(url) + " " + range;
  http::Headers headers{{"range", range}};
  if (!if_match.empty()) headers.emplace_back("if-match", if_match);
  return with_retries(what, [&] {
    RangeAnswer answer;
    PrefaultedBuffer buffer;
    http::Sink sink;
    sink.on_headers = [&](const http::Response& r) {
      // Checked before the body: a server that ignores Range would send the
      // whole object, and a wrong range must never reach a cache.
      if (r.status != 206)
        throw Error(Code::kUnimplemented,
                    what + ": HTTP " + std::to_string(r.status) +
                        " instead of 206 Partial Content: the server ignores Range, so ranged reads cannot use "
                        "it (get_or_fetch reads the whole object)");
      const std::string text = r.header("content-range");
      const auto got = http::parse_content_range(text, what + " Content-Range");
      const uint64_t last = std::min(offset + length, got.total) - 1;
      if (got.first != offset || got.last != last)
        throw Error(Code::kUnavailable, what + ": Content-Range '" + text + "' does not answer the range asked for (bytes " +
                                            std::to_string(offset) + "-" + std::to_string(last) + "/" +
                                            std::to_string(got.total) + "); nothing cached");
      answer.total = got.total;
      answer.etag = r.header("etag");
      buffer = prefaulted_buffer(last - offset + 1);
      return true;
    };
    sink.on_body = [&](uint64_t at, const std::byte* data, size_t n) {
      if (at + n > buffer.size) throw Error(Code::kUnavailable, what + ": more bytes than its Content-Range");
      std::memcpy(buffer.data + at, data, n);
    };
    const http::Response r = is_s3 ? s3::Client(s3::Config::resolve(s3)).get_with(s3::parse_url(url), headers, &sink)
                                   : http::request("GET", url, headers, {}, &sink);
    if (r.status == 412) {
      answer.outcome = RangeAnswer::Outcome::kChanged;
      return answer;
    }
    if (r.status == 416) {
      // "bytes */TOTAL" names the size when the server says it.
      answer.outcome = RangeAnswer::Outcome::kPastEnd;
      const std::string text = r.header("content-range");
      if (const auto slash = text.find("*/"); slash != std::string::npos) {
        try {
          answer.total = http::parse_length(std::string_view(text).substr(slash + 2), what);
        } catch (const Error&) {
        }
      }
      return answer;
    }
    if (r.status < 200 || r.status >= 300) throw http::status_error(what, r.status);
    if (sink.written != buffer.size)
      throw Error(Code::kUnavailable, what + ": " + std::to_string(sink.written) + " bytes arrived of " +
                                          std::to_string(buffer.size));
    answer.bytes = internal::BlobAccess::make(buffer.owner, buffer.data, buffer.size, Tier::kRemote);
    return answer;
  });
}

Blob read_file_range(const std::string& url, uint64_t offset, uint64_t length, const FileRoots& file_roots) {
  refuse_control_characters(url);
  auto map = map_source(url, file_roots);
  if (offset >= map->size || length > map->size - offset)
    throw Error(Code::kInvalidArgument, "range [" + std::to_string(offset) + ", +" + std::to_string(length) +
                                            ") is past the end of " + redact_credentials(url) + " (" +
                                            std::to_string(map->size) + " bytes)");
  const std::byte* data = map->data() + offset;
  return internal::BlobAccess::make(std::move(map), data, static_cast<size_t>(length), Tier::kRemote);
}

std::string result_url(const std::string& dir_url, const std::string& key) {
  refuse_control_characters(dir_url);
  refuse_control_characters(key);
  std::filesystem::path rel(key);
  if (key.empty() || rel.is_absolute() ||
      std::any_of(rel.begin(), rel.end(), [](const auto& part) { return part == ".."; }))
    throw Error(Code::kInvalidArgument, "result key '" + key + "' must be a relative path without '..'");
  if (dir_url.rfind("s3://", 0) == 0) {
    std::string prefix = dir_url;
    while (!prefix.empty() && prefix.back() == '/') prefix.pop_back();
    return prefix + "/" + key;
  }
  if (!is_file_url(dir_url))
    throw Error(Code::kUnimplemented, "result store '" + redact_credentials(dir_url) +
                                          "' is not supported: use s3://bucket/prefix or a file:// directory");
  return std::string(kFileScheme) +
         (std::filesystem::path(dir_url.substr(kFileScheme.size())) / rel).string();
}

std::string store_result(const std::string& dir_url, const std::string& key,
                         std::string_view bytes, const Progress& progress, const S3Settings& s3) {
  const std::string url = result_url(dir_url, key);
  if (url.rfind("s3://", 0) == 0) {
    auto config = s3::Config::resolve(s3);
    if (progress) config.progress = [&](size_t done, size_t total) { progress(done, total); };
    s3::Client(std::move(config)).put(s3::parse_url(url), bytes);
    return url;
  }
  const std::filesystem::path target = url.substr(kFileScheme.size());
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
  return url;
}

}  // namespace memrun::internal
