// Where a download lands. The remote tier writes into a target instead of
// returning bytes, so a large object goes straight to its final place: a
// pre-faulted memory buffer, or a disk-cache file at its offsets (no second
// copy, no buffer as large as the object).
#pragma once

#include <cstddef>
#include <cstdint>

namespace memrun::internal {

class DownloadTarget {
 public:
  virtual ~DownloadTarget() = default;
  // The object's size, known from the first response; before any write. A
  // retry may call it again with the same size. Throws Error.
  virtual void allocate(uint64_t size) = 0;
  // Bytes at `offset`. Called concurrently for disjoint ranges; a retried range
  // is written again. Throws Error (e.g. the disk is full).
  virtual void write(uint64_t offset, const std::byte* data, size_t n) = 0;
  // [offset, offset + n) has arrived whole and will not be written again.
  virtual void completed(uint64_t offset, uint64_t n) = 0;
};

}  // namespace memrun::internal
