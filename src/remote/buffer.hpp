// A download buffer faulted in at allocation: a fresh page costs ~11 µs to
// fault on these machines (3 s per GiB), so a multi-GB download into lazily
// faulted memory would spend seconds in page faults on the receive path.
// MAP_POPULATE pays that up front, in one kernel call.
#pragma once

#include "remote/target.hpp"

#include <cstddef>
#include <memory>

namespace memrun::internal {

struct PrefaultedBuffer {
  std::byte* data = nullptr;
  size_t size = 0;
  // Owns the mapping; a Blob keeps it alive.
  std::shared_ptr<void> owner;
};

// Throws Error(kResourceExhausted) when the memory cannot be mapped.
PrefaultedBuffer prefaulted_buffer(size_t size);

// A download into a pre-faulted buffer: the target when there is no disk tier
// (or it cannot take the object).
class MemoryTarget final : public DownloadTarget {
 public:
  void allocate(uint64_t size) override;
  void write(uint64_t offset, const std::byte* data, size_t n) override;
  void completed(uint64_t, uint64_t) override {}
  const PrefaultedBuffer& buffer() const { return buffer_; }

 private:
  PrefaultedBuffer buffer_;
};

}  // namespace memrun::internal
