#include "context/remote_fetch.hpp"

#include "remote/http.hpp"
#include "remote/retry.hpp"
#include "s3/client.hpp"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
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

// A read-only private mapping, unmapped with the last Blob that points into it.
struct Mapping {
  void* addr = nullptr;
  size_t size = 0;
  ~Mapping() {
    if (addr != nullptr && addr != MAP_FAILED) ::munmap(addr, size);
  }
};

Blob fetch_file(const std::string& url) {
  std::string path = url.substr(kFileScheme.size());
  if (path.empty() || path.front() != '/')
    throw Error(Code::kInvalidArgument, "file URL must hold an absolute path: " + url);
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    int err = errno;
    throw Error(err == ENOENT ? Code::kNotFound : Code::kUnavailable,
                "cannot open " + url + ": " + errno_text(err));
  }
  struct stat st {};
  if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    ::close(fd);
    throw Error(Code::kInvalidArgument, url + " is not a regular file");
  }
  auto map = std::make_shared<Mapping>();
  map->size = static_cast<size_t>(st.st_size);
  if (map->size > 0) {
    map->addr = ::mmap(nullptr, map->size, PROT_READ, MAP_PRIVATE, fd, 0);
    if (map->addr == MAP_FAILED) {
      int err = errno;
      ::close(fd);
      throw Error(Code::kUnavailable, "cannot map " + url + ": " + errno_text(err));
    }
  }
  ::close(fd);
  const auto* data = static_cast<const std::byte*>(map->addr == MAP_FAILED ? nullptr : map->addr);
  return Blob(std::move(map), data, static_cast<size_t>(st.st_size), Tier::kRemote);
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

Blob fetch_s3(const std::string& url) {
  auto object = s3::Client(s3::Config::from_env()).get(s3::parse_url(url));
  return Blob(std::move(object.owner), object.data, object.size, Tier::kRemote);
}

}  // namespace

Blob fetch_remote(const std::string& url) {
  if (url.rfind(kFileScheme, 0) == 0) return fetch_file(url);
  if (url.rfind("http://", 0) == 0 || url.rfind("https://", 0) == 0) return fetch_http(url);
  if (url.rfind("s3://", 0) == 0) return fetch_s3(url);
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
