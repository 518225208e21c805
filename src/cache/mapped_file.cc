#include "cache/mapped_file.hpp"

#include <memrun/status.hpp>

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace memrun::internal {

MappedFile::~MappedFile() {
  if (addr != nullptr) ::munmap(addr, size);
}

std::shared_ptr<MappedFile> map_file(const std::string& path, const std::string& what) {
  // O_NONBLOCK: opening a FIFO must not wait for a writer (it is then
  // refused as not a regular file); regular files ignore the flag.
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK);
  if (fd < 0) {
    int err = errno;
    throw Error(err == ENOENT ? Code::kNotFound : Code::kUnavailable, "cannot open " + what + ": " + std::strerror(err));
  }
  struct stat st {};
  if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    ::close(fd);
    throw Error(Code::kInvalidArgument, what + " is not a regular file");
  }
  std::shared_ptr<MappedFile> map;
  try {
    map = map_fd(fd, static_cast<size_t>(st.st_size), what);
  } catch (...) {
    ::close(fd);
    throw;
  }
  ::close(fd);
  return map;
}

std::shared_ptr<MappedFile> map_fd(int fd, size_t size, const std::string& what) {
  auto map = std::make_shared<MappedFile>();
  if (size == 0) return map;
  void* p = ::mmap(nullptr, size, PROT_READ, MAP_SHARED, fd, 0);
  if (p == MAP_FAILED) throw Error(Code::kUnavailable, "cannot map " + what + ": " + std::strerror(errno));
  map->addr = p;
  map->size = size;
  return map;
}

}  // namespace memrun::internal
