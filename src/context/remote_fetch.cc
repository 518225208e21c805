#include "context/remote_fetch.hpp"

#include <curl/curl.h>
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

void curl_global() {
  static std::once_flag once;
  std::call_once(once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
}

struct Download {
  std::vector<std::byte> bytes;
};

size_t on_header(char* line, size_t size, size_t n, void* user) {
  auto* d = static_cast<Download*>(user);
  std::string_view h(line, size * n);
  constexpr std::string_view kLen = "content-length:";
  if (h.size() > kLen.size()) {
    std::string lower(h.substr(0, kLen.size()));
    for (auto& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    if (lower == kLen) {
      // Reserve once from the announced size so the body is never regrown.
      unsigned long long len = std::strtoull(std::string(h.substr(kLen.size())).c_str(), nullptr, 10);
      if (len > 0 && len < (1ull << 40)) d->bytes.reserve(static_cast<size_t>(len));
    }
  }
  return size * n;
}

size_t on_body(char* data, size_t size, size_t n, void* user) {
  auto* d = static_cast<Download*>(user);
  const auto* p = reinterpret_cast<const std::byte*>(data);
  d->bytes.insert(d->bytes.end(), p, p + size * n);
  return size * n;
}

Blob fetch_http(const std::string& url) {
  curl_global();
  std::unique_ptr<CURL, void (*)(CURL*)> curl(curl_easy_init(), curl_easy_cleanup);
  if (!curl) throw Error(Code::kInternal, "curl_easy_init failed");
  auto d = std::make_shared<Download>();
  char errbuf[CURL_ERROR_SIZE] = {0};
  curl_easy_setopt(curl.get(), CURLOPT_URL, url.c_str());
  curl_easy_setopt(curl.get(), CURLOPT_FOLLOWLOCATION, 1L);
  curl_easy_setopt(curl.get(), CURLOPT_MAXREDIRS, 5L);
  curl_easy_setopt(curl.get(), CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(curl.get(), CURLOPT_CONNECTTIMEOUT_MS, 10000L);
  curl_easy_setopt(curl.get(), CURLOPT_ERRORBUFFER, errbuf);
  curl_easy_setopt(curl.get(), CURLOPT_HEADERFUNCTION, on_header);
  curl_easy_setopt(curl.get(), CURLOPT_HEADERDATA, d.get());
  curl_easy_setopt(curl.get(), CURLOPT_WRITEFUNCTION, on_body);
  curl_easy_setopt(curl.get(), CURLOPT_WRITEDATA, d.get());
  CURLcode rc = curl_easy_perform(curl.get());
  if (rc != CURLE_OK)
    throw Error(Code::kUnavailable, "GET " + url + " failed: " +
                                        (errbuf[0] ? errbuf : curl_easy_strerror(rc)));
  long status = 0;
  curl_easy_getinfo(curl.get(), CURLINFO_RESPONSE_CODE, &status);
  if (status == 404 || status == 410)
    throw Error(Code::kNotFound, "GET " + url + ": HTTP " + std::to_string(status));
  if (status >= 500 || status == 429)
    throw Error(Code::kUnavailable, "GET " + url + ": HTTP " + std::to_string(status));
  if (status < 200 || status >= 300)
    throw Error(Code::kInvalidArgument, "GET " + url + ": HTTP " + std::to_string(status));
  const std::byte* data = d->bytes.data();
  size_t size = d->bytes.size();
  return Blob(std::move(d), data, size, Tier::kRemote);
}

}  // namespace

Blob fetch_remote(const std::string& url) {
  if (url.rfind(kFileScheme, 0) == 0) return fetch_file(url);
  if (url.rfind("http://", 0) == 0 || url.rfind("https://", 0) == 0) return fetch_http(url);
  throw Error(Code::kInvalidArgument,
              "unsupported URL '" + url + "': expected file://, http:// or https://");
}

std::string store_result(const std::string& dir_url, const std::string& key,
                         std::string_view bytes) {
  if (dir_url.rfind(kFileScheme, 0) != 0)
    throw Error(Code::kUnimplemented,
                "result store '" + dir_url + "' is not supported: use a file:// directory");
  std::filesystem::path rel(key);
  if (key.empty() || rel.is_absolute() ||
      std::any_of(rel.begin(), rel.end(), [](const auto& part) { return part == ".."; }))
    throw Error(Code::kInvalidArgument, "result key '" + key + "' must be a relative path without '..'");
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
