// What a StreamingObject shares between its copies: the object's identity,
// the chunks fetched so far, and the read-ahead threads.
//
// Read-ahead: `read_ahead` threads take chunks in order from the start, but
// never one `read_ahead` or more past the furthest chunk a read has
// returned, so a stream read only in part does not fetch the whole object,
// and never one before the first chunk of the latest read. A read lets go
// of the chunks before its first: what the stream holds is the read-ahead
// and the latest read, not what it has passed.
// Each waits for the chunk through RangeReader::chunk (RAM, disk, else the
// chunk's one flight), so streams and get_range callers of one URL share
// their GETs. A read takes what the stream holds and starts the flights of
// the chunks it lacks at once (demand first; kDemandFlights at a time),
// waiting within its own FetchWait. A prefetch that fails stops the read-ahead until a read
// succeeds; the read of that chunk fetches it again and reports its own error.
//
// Thread: any; the destructor (the last StreamingObject gone) stops and
// joins the read-ahead threads. The RangeReader outlives the stream.
#pragma once

#include <memrun/context.hpp>

#include "context/range_reader.hpp"

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace memrun::internal {

class StreamState {
 public:
  // An http(s):// or s3:// object: its identity as the tiers know it, else
  // learnt with chunk 0 within `wait`; then the read-ahead starts.
  StreamState(RangeReader& reader, std::string url, uint32_t read_ahead, const FetchWait& wait);
  // A file:// object, or one get_or_fetch left whole in RAM or on disk:
  // nothing to fetch. A read checks the bytes it returns (a disk entry's
  // lazy check), so a corrupted entry fails its reads with kUnavailable.
  StreamState(std::string url, Blob whole);
  ~StreamState();
  StreamState(const StreamState&) = delete;
  StreamState& operator=(const StreamState&) = delete;

  uint64_t size() const noexcept { return size_; }
  // See StreamingObject::read.
  Blob read(uint64_t offset, uint64_t length, const FetchWait& wait);
  // See StreamingObject::held_bytes.
  uint64_t held_bytes();

 private:
  void read_ahead();  // one read-ahead thread's loop

  // Chunk GETs one read starts at once (a read of a whole object would
  // start them all).
  static constexpr size_t kDemandFlights = 8;

  RangeReader* const reader_ = nullptr;  // null: whole_ holds it all
  const std::string url_;
  const std::string shown_;  // url_ redacted, for messages
  RangeReader::Identity id_;
  uint64_t size_ = 0;
  uint64_t count_ = 0;  // chunks
  uint32_t window_ = 0;
  Blob whole_;  // file://, or an entry fetched whole

  std::mutex mu_;
  std::condition_variable more_;  // a read moved the limit, or closing
  std::vector<Blob> held_;        // GUARDED_BY(mu_) by chunk index; empty: not here yet
  uint64_t next_ = 0;             // GUARDED_BY(mu_) the next chunk to read ahead
  uint64_t read_to_ = 0;          // GUARDED_BY(mu_) 1 + the furthest chunk a read returned
  uint64_t floor_ = 0;            // GUARDED_BY(mu_) the first chunk of the latest read
  bool stalled_ = false;          // GUARDED_BY(mu_) a prefetch failed; until a read succeeds
  std::atomic<bool> closing_{false};
  std::vector<std::thread> threads_;  // last: they use everything above
};

}  // namespace memrun::internal
