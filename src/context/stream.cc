#include "context/stream.hpp"

#include <memrun/logging.hpp>

#include <spdlog/spdlog.h>

#include <algorithm>
#include <future>

namespace memrun::internal {

StreamState::StreamState(RangeReader& reader, std::string url, uint32_t read_ahead, const FetchWait& wait)
    : reader_(&reader), url_(std::move(url)), shown_(redact_credentials(url_)), window_(std::max(read_ahead, 1u)) {
  Blob first;
  id_ = reader.identity(url_, 0, wait, &first);
  size_ = id_.size;
  if (size_ == 0)
    throw Error(Code::kInvalidArgument, "open_stream " + shown_ + ": the object is empty; there is nothing to stream");
  const uint64_t k = reader.chunk_bytes();
  count_ = (size_ + k - 1) / k;
  held_.resize(count_);
  held_[0] = first;
  for (uint32_t i = 0; i < window_; ++i) threads_.emplace_back([this] { this->read_ahead(); });
}

StreamState::StreamState(std::string url, Blob whole)
    : url_(std::move(url)), shown_(redact_credentials(url_)), size_(whole.size()), whole_(std::move(whole)) {}

StreamState::~StreamState() {
  {
    std::lock_guard lock(mu_);
    closing_ = true;
  }
  more_.notify_all();
  for (auto& t : threads_) t.join();
}

void StreamState::read_ahead() {
  // Gives up a wait within kCancelPoll of the stream's end; the chunk's
  // flight goes on for its other callers, and into the tiers.
  const FetchWait until_closed{std::chrono::system_clock::time_point::max(), [this] { return closing_.load(); }};
  std::unique_lock lock(mu_);
  for (;;) {
    more_.wait(lock, [&] { return closing_ || (!stalled_ && next_ < count_ && next_ < read_to_ + window_); });
    if (closing_) return;
    const uint64_t c = next_++;
    if (held_[c] || c < floor_) continue;  // here, or behind the reads
    lock.unlock();
    Blob chunk;
    try {
      chunk = reader_->chunk(url_, id_, c, until_closed);
    } catch (const std::exception& e) {
      lock.lock();
      if (closing_) return;
      // The read of this chunk fetches it again and reports its own error.
      spdlog::debug("stream {}: reading chunk {} ahead failed: {}", shown_, c, e.what());
      stalled_ = true;
      continue;
    }
    lock.lock();
    if (c >= floor_) held_[c] = std::move(chunk);  // a read passed it meanwhile: the tiers have it
  }
}

uint64_t StreamState::held_bytes() {
  std::lock_guard lock(mu_);
  uint64_t n = 0;
  for (const auto& chunk : held_) n += chunk.size();
  return n;
}

Blob StreamState::read(uint64_t offset, uint64_t length, const FetchWait& wait) {
  const std::string what = "stream read of " + shown_;
  if (length == 0) throw Error(Code::kInvalidArgument, what + ": a length of 0 reads nothing; ask for at least one byte");
  if (offset >= size_ || length > size_ - offset)
    throw Error(Code::kInvalidArgument, what + ": range [" + std::to_string(offset) + ", " + std::to_string(offset) +
                                            " + " + std::to_string(length) + ") is past the end of the object (" +
                                            std::to_string(size_) + " bytes)");
  if (!reader_) return RangeReader::join({whole_}, offset, length);
  const uint64_t k = reader_->chunk_bytes();
  const uint64_t first = offset / k, last = (offset + length - 1) / k;
  std::vector<Blob> chunks(last - first + 1);
  {
    std::lock_guard lock(mu_);
    for (uint64_t c = first; c <= last; ++c) chunks[c - first] = held_[c];
  }
  // What the stream lacks: from the tiers, else its flight, started now
  // (demand first), at most kDemandFlights at once for a long read.
  std::vector<uint64_t> missing;
  for (uint64_t c = first; c <= last; ++c) {
    Blob& chunk = chunks[c - first];
    if (!chunk) chunk = reader_->cached_chunk(url_, id_, c);
    if (!chunk) missing.push_back(c);
  }
  if (!missing.empty()) check_wait(wait, what);
  std::vector<std::shared_future<Blob>> flights(missing.size());
  size_t started = 0;
  for (size_t i = 0; i < missing.size(); ++i) {
    for (; started < missing.size() && started < i + kDemandFlights; ++started)
      flights[started] = reader_->flight(url_, id_, missing[started]);
    chunks[missing[i] - first] = await_flight(flights[i], wait, what);
  }
  {
    std::lock_guard lock(mu_);
    for (uint64_t c = first; c <= last; ++c) held_[c] = chunks[c - first];
    // Behind this read: let go (the tiers keep them while they can). No
    // chunk before floor_ is held, so only [floor_, first) can be.
    for (uint64_t c = floor_; c < first; ++c) held_[c] = Blob();
    floor_ = first;
    read_to_ = std::max(read_to_, last + 1);
    stalled_ = false;
  }
  more_.notify_all();
  return reader_->assemble(url_, id_, chunks, offset, length);
}

}  // namespace memrun::internal
