#include "remote/buffer.hpp"

#include <memrun/status.hpp>

#include <sys/mman.h>

#include <cerrno>
#include <cstring>
#include <string>

namespace memrun::internal {

PrefaultedBuffer prefaulted_buffer(size_t size) {
  const size_t length = size == 0 ? 1 : size;
  void* p = ::mmap(nullptr, length, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
  if (p == MAP_FAILED)
    throw Error(Code::kResourceExhausted,
                "cannot map " + std::to_string(size) + " bytes for a download: " + std::strerror(errno));
  PrefaultedBuffer b;
  b.data = static_cast<std::byte*>(p);
  b.size = size;
  b.owner = std::shared_ptr<void>(p, [length](void* q) { ::munmap(q, length); });
  return b;
}


void MemoryTarget::allocate(uint64_t size) {
  if (buffer_.owner) {
    if (size != buffer_.size)
      throw Error(Code::kUnavailable, "the object changed size during the download (" + std::to_string(buffer_.size) +
                                          " → " + std::to_string(size) + " bytes)");
    return;
  }
  buffer_ = prefaulted_buffer(size);
}

void MemoryTarget::write(uint64_t offset, const std::byte* data, size_t n) {
  if (!buffer_.owner || offset > buffer_.size || n > buffer_.size - offset)
    throw Error(Code::kUnavailable, "the server sent more bytes than the object's size (" +
                                        std::to_string(buffer_.size) + ")");
  std::memcpy(buffer_.data + offset, data, n);
}

}  // namespace memrun::internal
