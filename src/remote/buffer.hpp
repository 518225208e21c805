// A download buffer faulted in at allocation: a fresh page costs ~11 µs to
// fault on these machines (3 s per GiB), so a multi-GB download into lazily
// faulted memory would spend seconds in page faults on the receive path.
// MAP_POPULATE pays that up front, in one kernel call.
//
// Pre-faulting is not all of it: on this VM the first write to a page the
// process has not used yet still costs about 1.3 s per GiB after
// MAP_POPULATE, against 60 ms into pages it wrote before (docs/performance.md,
// "Fresh memory"). So the mappings of buffers that are let go are kept, up to
// kBufferPoolBytes, and handed out again for a buffer of the same length:
// chunks of ranged reads and streams all have one length, and a worker's RAM
// tier lets them go as it evicts. A reused buffer still holds the bytes it
// had: every caller fills a buffer entirely before anything reads it (a
// download that falls short is an error and its buffer is dropped).
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

// A buffer of `size` bytes, reused if one of that length was let go, else
// freshly mapped and faulted in. Its bytes are unspecified: fill all of them
// before any reaches a reader. Throws Error(kResourceExhausted) when the
// memory cannot be mapped. Thread: any.
PrefaultedBuffer prefaulted_buffer(size_t size);

// The most that buffers let go keep mapped for reuse (resident memory
// beyond the budgets, so small): the oldest kept are unmapped to make room,
// and a larger buffer is unmapped when let go.
inline constexpr size_t kBufferPoolBytes = 128u << 20;
// What the buffers let go keep mapped now (for tests and stats).
size_t buffer_pool_bytes();

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
