// A download buffer faulted in at allocation: a fresh page costs ~11 µs to
// fault on these machines (3 s per GiB), so a multi-GB download into lazily
// faulted memory would spend seconds in page faults on the receive path.
// MAP_POPULATE pays that up front, in one kernel call.
#pragma once

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

}  // namespace memrun::internal
