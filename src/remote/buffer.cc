#include "remote/buffer.hpp"

#include <memrun/status.hpp>

#include <sys/mman.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <iterator>
#include <list>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

namespace memrun::internal {

namespace {

// The mappings of buffers let go, by length, for prefaulted_buffer to hand
// out again, the oldest unmapped first when they would exceed
// kBufferPoolBytes (so lengths no longer asked for make room for those
// asked for now). Never destroyed: a Blob let go while the process exits may
// still give its buffer back.
class BufferPool {
 public:
  // The most recently kept mapping of `length` bytes, or null.
  void* take(size_t length) {
    std::lock_guard lock(mu_);
    auto it = by_length_.find(length);
    if (it == by_length_.end()) return nullptr;
    const auto kept = it->second.back();
    it->second.pop_back();
    if (it->second.empty()) by_length_.erase(it);  // lengths come and go (a range's copy has its own)
    void* p = kept->data;
    order_.erase(kept);
    bytes_ -= length;
    return p;
  }
  // Keeps the mapping, unmapping the oldest kept ones to stay within
  // kBufferPoolBytes; unmaps it instead when it alone is larger. Throws only
  // std::bad_alloc, with the mapping not kept (the caller unmaps it) and the
  // pool whole: everything that allocates comes before what cannot be undone.
  void give(void* p, size_t length) {
    if (length > kBufferPoolBytes) {
      ::munmap(p, length);
      return;
    }
    std::lock_guard lock(mu_);
    std::list<Kept> node;
    node.push_back(Kept{p, length});
    while (bytes_ + length > kBufferPoolBytes) {
      const Kept oldest = order_.front();
      auto same = by_length_.find(oldest.length);
      same->second.erase(same->second.begin());  // the oldest of its length is its first
      if (same->second.empty()) by_length_.erase(same);
      order_.pop_front();
      bytes_ -= oldest.length;
      ::munmap(oldest.data, oldest.length);
    }
    auto slot = by_length_.try_emplace(length).first;
    try {
      slot->second.reserve(slot->second.size() + 1);
    } catch (...) {
      if (slot->second.empty()) by_length_.erase(slot);
      throw;
    }
    order_.splice(order_.end(), node);
    slot->second.push_back(std::prev(order_.end()));
    bytes_ += length;
  }
  size_t bytes() {
    std::lock_guard lock(mu_);
    return bytes_;
  }

 private:
  struct Kept {
    void* data;
    size_t length;
  };
  std::mutex mu_;
  std::list<Kept> order_;  // GUARDED_BY(mu_) oldest first
  // GUARDED_BY(mu_) oldest first; a length is here only while one is kept.
  std::unordered_map<size_t, std::vector<std::list<Kept>::iterator>> by_length_;
  size_t bytes_ = 0;  // GUARDED_BY(mu_)
};

BufferPool& pool() {
  static auto* p = new BufferPool;
  return *p;
}

size_t page_rounded(size_t size) {
  static const size_t page = static_cast<size_t>(::sysconf(_SC_PAGESIZE));
  const size_t length = size == 0 ? 1 : size;
  return (length + page - 1) / page * page;
}

}  // namespace

PrefaultedBuffer prefaulted_buffer(size_t size) {
  const size_t length = page_rounded(size);
  void* p = pool().take(length);
  if (p == nullptr) {
    p = ::mmap(nullptr, length, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
    if (p == MAP_FAILED)
      throw Error(Code::kResourceExhausted,
                  "cannot map " + std::to_string(size) + " bytes for a download: " + std::strerror(errno));
  }
  PrefaultedBuffer b;
  b.data = static_cast<std::byte*>(p);
  b.size = size;
  b.owner = std::shared_ptr<void>(p, [length](void* q) {
    try {
      pool().give(q, length);
    } catch (...) {  // no memory to keep it with: let it go
      ::munmap(q, length);
    }
  });
  return b;
}

size_t buffer_pool_bytes() { return pool().bytes(); }

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
