// A whole file mapped read-only: zero-copy reads for file:// sources and disk
// cache entries. The mapping lives as long as the last Blob that points into
// it, even if the file is unlinked meanwhile.
#pragma once

#include <cstddef>
#include <memory>
#include <string>

namespace memrun::internal {

struct MappedFile {
  void* addr = nullptr;
  size_t size = 0;
  ~MappedFile();
  const std::byte* data() const { return static_cast<const std::byte*>(addr); }
};

// Throws Error: kNotFound (no such file), kInvalidArgument (not a regular
// file), kUnavailable (cannot open or map). `what` names it in messages.
std::shared_ptr<MappedFile> map_file(const std::string& path, const std::string& what);
// Maps `size` bytes of an open file read-only and shared (a file being written
// through `fd` is seen as it is written). Throws Error(kUnavailable).
std::shared_ptr<MappedFile> map_fd(int fd, size_t size, const std::string& what);

}  // namespace memrun::internal
