#include "context/remote_fetch.hpp"

#include "cache/mapped_file.hpp"

#include "remote/http.hpp"
#include "remote/retry.hpp"
#include "s3/client.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
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

Blob fetch_file(const std::string& url) {
  std::string path = url.substr(kFileScheme.size());
  if (path.empty() || path.front() != '/')
    throw Error(Code::kInvalidArgument, "file URL must hold an absolute path: " + url);
  auto map = map_file(path, url);
  const std::byte* data = map->data();
  const size_t size = map->size;
  return Blob(std::move(map), data, size, Tier::kRemote);
}

Blob fetch_http(const std::string& url) {
  auto response = with_retries("GET " + url, [&] {
    auto r = http::request("GET", url);
    if (r.status < 200 || r.status >= 300) throw http::status_error("GET " + url, r.status);
    return r;
  });
  const std::byte* data = response.body->data();
  const size_t size = response.body->size();
  return Blob(std::move(response.body), data, size, Tier::kRemote);
}

Blob fetch_s3(const std::string& url, const std::function<void(uint64_t, uint64_t)>& progress) {
  auto config = s3::Config::from_env();
  if (progress) config.progress = [&](size_t done, size_t total) { progress(done, total); };
  auto object = s3::Client(std::move(config)).get(s3::parse_url(url));
  return Blob(std::move(object.owner), object.data, object.size, Tier::kRemote);
}

}  // namespace

Blob fetch_remote(const std::string& url, const std::function<void(uint64_t, uint64_t)>& progress) {
  if (url.rfind(kFileScheme, 0) == 0) return fetch_file(url);
  if (url.rfind("http://", 0) == 0 || url.rfind("https://", 0) == 0) return fetch_http(url);
  if (url.rfind("s3://", 0) == 0) return fetch_s3(url, progress);
  throw Error(Code::kInvalidArgument,
              "unsupported URL '" + url + "': expected file://, http://, https:// or s3://");
}

std::string store_result(const std::string& dir_url, const std::string& key,
                         std::string_view bytes) {
  std::filesystem::path rel(key);
  if (key.empty() || rel.is_absolute() ||
      std::any_of(rel.begin(), rel.end(), [](const auto& part) { return part == ".."; }))
    throw Error(Code::kInvalidArgument, "result key '" + key + "' must be a relative path without '..'");
  if (dir_url.rfind("s3://", 0) == 0) {
    std::string prefix = dir_url;
    while (!prefix.empty() && prefix.back() == '/') prefix.pop_back();
    const std::string url = prefix + "/" + key;
    s3::Client(s3::Config::from_env()).put(s3::parse_url(url), bytes);
    return url;
  }
  if (dir_url.rfind(kFileScheme, 0) != 0)
    throw Error(Code::kUnimplemented,
                "result store '" + dir_url + "' is not supported: use s3://bucket/prefix or a file:// directory");
  std::filesystem::path target = std::filesystem::path(dir_url.substr(kFileScheme.size())) / rel;
  std::error_code ec;
  std::filesystem::create_directories(target.parent_path(), ec);
  if (ec) throw Error(Code::kUnavailable, "cannot create " + target.parent_path().string() + ": " + ec.message());
  std::string tmp = target.string() + ".tmp." + std::to_string(::getpid());
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) throw Error(Code::kUnavailable, "cannot write " + tmp + ": " + errno_text(errno));
  size_t done = 0;
  while (done < bytes.size()) {
    ssize_t n = ::write(fd, bytes.data() + done, bytes.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      int err = errno;
      ::close(fd);
      ::unlink(tmp.c_str());
      throw Error(err == ENOSPC ? Code::kResourceExhausted : Code::kUnavailable,
                  "cannot write " + tmp + ": " + errno_text(err));
    }
    done += static_cast<size_t>(n);
  }
  if (::fsync(fd) != 0 || ::close(fd) != 0 || ::rename(tmp.c_str(), target.c_str()) != 0) {
    int err = errno;
    ::unlink(tmp.c_str());
    throw Error(Code::kUnavailable, "cannot commit " + target.string() + ": " + errno_text(err));
  }
  return std::string(kFileScheme) + target.string();
}

}  // namespace memrun::internal
