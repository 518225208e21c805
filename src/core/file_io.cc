#include "core/file_io.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <filesystem>
#include <system_error>

namespace memrun::internal {

namespace {

// write(2) when `offset` is negative, else pwrite(2) from `offset` on.
bool write_fully(int fd, const void* data, size_t size, off_t offset) {
  const char* p = static_cast<const char*>(data);
  while (size > 0) {
    const ssize_t n = offset < 0 ? ::write(fd, p, size) : ::pwrite(fd, p, size, offset);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      if (n == 0) errno = ENOSPC;
      return false;
    }
    p += n;
    size -= static_cast<size_t>(n);
    if (offset >= 0) offset += n;
  }
  return true;
}

}  // namespace

bool write_all(int fd, const void* data, size_t size) { return write_fully(fd, data, size, -1); }

bool pwrite_all(int fd, const void* data, size_t size, uint64_t offset) {
  return write_fully(fd, data, size, static_cast<off_t>(offset));
}

bool write_file_synced(const std::string& path, std::string_view bytes, mode_t mode) {
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
  if (fd < 0) return false;
  if ((mode == kPrivateFile && ::fchmod(fd, mode) != 0) || !write_all(fd, bytes.data(), bytes.size()) ||
      ::fsync(fd) != 0) {
    const int err = errno;
    ::close(fd);
    errno = err;
    return false;
  }
  return ::close(fd) == 0;
}

bool make_private_dir(const std::string& dir) {
  std::error_code ec;
  std::filesystem::create_directories(std::filesystem::path(dir).parent_path(), ec);
  if (ec) {
    errno = ec.value();
    return false;
  }
  if (::mkdir(dir.c_str(), kPrivateDir) != 0 && errno != EEXIST) return false;
  return ::chmod(dir.c_str(), kPrivateDir) == 0;
}

void fsync_dir(const std::string& dir) {
  const int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd >= 0) {
    ::fsync(fd);
    ::close(fd);
  }
}

}  // namespace memrun::internal
