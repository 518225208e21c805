// Streaming reads (SharedWorkerContext::open_stream) against flaky_http.py's
// /stream/ object, whose ranged GETs a test holds, cuts short and lists by
// the offset they start at (s3rver's stream test is range_test.cc's). The object is 20 chunks of
// 1 MiB; byte i is i % 251.
#include <memrun/context.hpp>
#include <memrun/status.hpp>

#include "support/flaky_http.hpp"
#include "support/temp_dir.hpp"
#include "support/wait.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <future>
#include <map>
#include <sstream>
#include <string>
#include <vector>

using namespace std::chrono_literals;

namespace {

using namespace memrun::test;  // flaky_http.hpp: the object's bytes and the contexts' options

constexpr uint64_t kChunks = kBig / kChunk;

memrun::StreamOptions ahead(uint32_t chunks) {
  memrun::StreamOptions o;
  o.read_ahead_chunks = chunks;
  return o;
}

// A wait that reports, through `polls`, that the caller is waiting (it
// polls while it waits), and cancels once `cancel` is set.
memrun::FetchWait watched(std::atomic<int>& polls, std::atomic<bool>* cancel = nullptr) {
  return memrun::FetchWait{std::chrono::system_clock::time_point::max(), [&polls, cancel] {
                             ++polls;
                             return cancel != nullptr && cancel->load();
                           }};
}

class Streams : public memrun::test::FlakyHttp {
 protected:
  // Holds the GETs of `chunk` until release() or the end of its scope: a
  // held GET keeps a context's destructor waiting for its flight, so a hold
  // is declared after the context and ends before it, even when a test
  // fails.
  struct Hold {
    Streams* test;
    uint64_t chunk;
    ~Hold() { test->release(chunk); }
  };
  [[nodiscard]] Hold hold(uint64_t chunk) {
    ask("/hold/" + std::to_string(chunk * kChunk));
    return Hold{this, chunk};
  }
  std::string url() const { return base_ + "/stream/big"; }
  void release(uint64_t chunk) { ask("/release/" + std::to_string(chunk * kChunk)); }
  void cut(uint64_t chunk, int times) { ask("/abort/" + std::to_string(chunk * kChunk) + "/" + std::to_string(times)); }
  int held(uint64_t chunk) { return std::stoi(ask("/held/" + std::to_string(chunk * kChunk))); }
  bool wait_held(uint64_t chunk) { return memrun::test::wait_until([&] { return held(chunk) >= 1; }, 20s); }
  // The chunks asked of /stream/, in the order the GETs arrived.
  std::vector<uint64_t> order() {
    std::vector<uint64_t> out;
    std::stringstream list(ask("/order"));
    for (std::string offset; std::getline(list, offset, ',');) out.push_back(std::stoull(offset) / kChunk);
    return out;
  }
  std::map<uint64_t, int> gets_per_chunk() {
    std::map<uint64_t, int> n;
    for (uint64_t c : order()) ++n[c];
    return n;
  }
};

// A scan reads the first 19 chunks while the server still holds the last
// one: each read waits only for its own bytes. A read of the held chunk
// ends at its deadline, or when cancelled, and the fetch goes on: once the
// server answers, the same read succeeds.
TEST_F(Streams, ReadsReturnBeforeTheLastChunkIsServedAndEndAtTheirDeadline) {
  memrun::SharedWorkerContext ctx(options());
  const Hold held_chunk = hold(kChunks - 1);
  memrun::StreamingObject stream = ctx.open_stream(url(), ahead(4));
  ASSERT_EQ(stream.size(), kBig);
  for (uint64_t c = 0; c + 1 < kChunks; ++c) {
    memrun::Blob b = stream.read(c * kChunk, kChunk);
    ASSERT_EQ(text(b), big_slice(c * kChunk, kChunk)) << "chunk " << c;
  }
  ASSERT_TRUE(wait_held(kChunks - 1)) << "the read-ahead asks for the last chunk";
  EXPECT_EQ(text(stream.read(kChunk - 10, 30)), big_slice(kChunk - 10, 30)) << "across two chunks";

  const uint64_t last = (kChunks - 1) * kChunk;
  auto e = error_of([&] { stream.read(last, 10, memrun::FetchWait{std::chrono::system_clock::now() + 200ms, {}}); });
  EXPECT_EQ(e.code(), memrun::Code::kDeadlineExceeded) << e.what();
  std::atomic<int> polls{0};
  std::atomic<bool> cancel{false};
  auto cancelled = std::async(std::launch::async, [&] { return error_of([&] { stream.read(last, 10, watched(polls, &cancel)); }); });
  ASSERT_TRUE(memrun::test::wait_until([&] { return polls >= 2; }, 10s)) << "the read waits";
  cancel = true;
  e = cancelled.get();
  EXPECT_EQ(e.code(), memrun::Code::kCancelled) << e.what();
  EXPECT_EQ(held(kChunks - 1), 1) << "one GET of the last chunk, still under way";

  release(kChunks - 1);
  EXPECT_EQ(text(stream.read(last, kChunk)), big_slice(last, kChunk));
  for (auto [chunk, n] : gets_per_chunk()) EXPECT_EQ(n, 1) << "chunk " << chunk;

  e = error_of([&] { stream.read(0, 0); });
  EXPECT_EQ(e.code(), memrun::Code::kInvalidArgument) << e.what();
  e = error_of([&] { stream.read(kBig - 5, 6); });
  EXPECT_EQ(e.code(), memrun::Code::kInvalidArgument) << e.what();
  EXPECT_TRUE(contains(e, std::to_string(kBig) + " bytes")) << e.what();
}

// A scan lets go of what it has read: the stream holds its read-ahead and
// its latest read, not the object, and the tiers keep the chunks it passed
// (the RAM budget here holds the whole object, so going back is a RAM hit).
TEST_F(Streams, AScanHoldsItsReadAheadNotWhatItHasRead) {
  memrun::SharedWorkerContext ctx(options());
  memrun::StreamingObject stream = ctx.open_stream(url(), ahead(2));
  uint64_t most = 0;
  for (uint64_t c = 0; c < kChunks; ++c) {
    ASSERT_EQ(text(stream.read(c * kChunk, kChunk)), big_slice(c * kChunk, kChunk)) << "chunk " << c;
    most = std::max(most, stream.held_bytes());
  }
  EXPECT_LE(most, 3 * kChunk) << "more than the read-ahead (2) and the latest read";
  EXPECT_EQ(stream.held_bytes(), kChunk) << "more than the last read's chunk after the scan";
  EXPECT_EQ(text(stream.read(0, kChunk)), big_slice(0, kChunk));
  for (auto [chunk, n] : gets_per_chunk()) EXPECT_EQ(n, 1) << "chunk " << chunk;
}

// With chunk 1 held, the in-order read-ahead (2 chunks past the furthest
// read) waits; a read of the last chunk is fetched at once, before chunks
// 2 to 18.
TEST_F(Streams, AReadOfAChunkNotFetchedYetGoesFirst) {
  memrun::SharedWorkerContext ctx(options());
  const Hold held_chunk = hold(1);
  memrun::StreamingObject stream = ctx.open_stream(url(), ahead(2));
  ASSERT_TRUE(wait_held(1));
  const uint64_t last = (kChunks - 1) * kChunk;
  // Bounded: were the read to wait for the read-ahead, it would wait for chunk 1.
  const memrun::FetchWait bounded{std::chrono::system_clock::now() + 20s, {}};
  EXPECT_EQ(text(stream.read(last + 5, 100, bounded)), big_slice(last + 5, 100));
  const auto first = order();
  ASSERT_GE(first.size(), 3u);
  EXPECT_EQ(first[0], 0u) << "the identity, with chunk 0";
  EXPECT_EQ(first[1], 1u) << "read ahead";
  EXPECT_EQ(first[2], kChunks - 1) << "the read's chunk before the rest of the read-ahead";
  release(1);
  EXPECT_EQ(text(stream.read(0, kBig)), big_slice(0, kBig));
  for (auto [chunk, n] : gets_per_chunk()) EXPECT_EQ(n, 1) << "chunk " << chunk;
  EXPECT_EQ(gets_per_chunk().size(), kChunks);
}

// Two streams opened at once on an object whose identity nobody knows yet
// learn it from one GET of its first chunk: while the server holds chunk 0,
// the second opener waits for the first one's GET (it polls its wait)
// instead of sending its own.
TEST_F(Streams, TwoOpenersOfAnUnknownObjectShareTheGetThatLearnsIt) {
  memrun::SharedWorkerContext ctx(options());
  std::future<memrun::StreamingObject> a, b;  // before the hold: a failed check releases it, then waits for them
  std::atomic<int> polls{0};
  Hold first_chunk = hold(0);
  a = std::async(std::launch::async, [&] { return ctx.open_stream(url(), ahead(1)); });
  ASSERT_TRUE(wait_held(0));
  b = std::async(std::launch::async, [&] { return ctx.open_stream(url(), ahead(1), watched(polls)); });
  ASSERT_TRUE(memrun::test::wait_until([&] { return polls >= 2; }, 10s)) << "the second opener does not wait";
  EXPECT_EQ(held(0), 1) << "the second opener sent a GET of its own";
  release(0);
  memrun::StreamingObject sa = a.get(), sb = b.get();
  EXPECT_EQ(text(sb.read(0, 100)), big_slice(0, 100));
  EXPECT_EQ(text(sa.read(kChunk, 100)), big_slice(kChunk, 100));
  EXPECT_EQ(gets_per_chunk()[0], 1);
}

// Two streams and a get_range caller of one URL wait for the same GET of a
// chunk: while the server holds chunk 5, a get_range of it is waiting (it
// polls its wait) and the server still has one GET of it. Every chunk is
// fetched once.
TEST_F(Streams, StreamsAndRangeReadersOfOneUrlShareEachChunksGet) {
  memrun::SharedWorkerContext ctx(options());
  const Hold held_chunk = hold(5);
  memrun::StreamingObject a = ctx.open_stream(url(), ahead(8));
  memrun::StreamingObject b = ctx.open_stream(url(), ahead(8));
  ASSERT_TRUE(wait_held(5));
  std::atomic<int> polls{0};
  auto ranged = std::async(std::launch::async, [&] { return text(ctx.get_range(url(), 5 * kChunk + 1, 10, watched(polls))); });
  auto scan_b = std::async(std::launch::async, [&] { return text(b.read(0, kBig)); });
  ASSERT_TRUE(memrun::test::wait_until([&] { return polls >= 2; }, 10s)) << "get_range waits for the flight";
  EXPECT_EQ(held(5), 1) << "one GET of chunk 5 for everyone";
  release(5);
  EXPECT_EQ(ranged.get(), big_slice(5 * kChunk + 1, 10));
  EXPECT_EQ(text(a.read(0, kBig)), big_slice(0, kBig));
  EXPECT_EQ(scan_b.get(), big_slice(0, kBig));
  for (auto [chunk, n] : gets_per_chunk()) EXPECT_EQ(n, 1) << "chunk " << chunk;
  EXPECT_EQ(ctx.cache_stats().remote_fetches, kChunks);
}

// The connection drops halfway through chunk 2, on every attempt of one
// fetch: the read waiting for it fails unavailable; the next read fetches
// it again and succeeds.
TEST_F(Streams, AConnectionCutMidChunkFailsTheReadAndTheNextReadFetchesItAgain) {
  cut(2, 4);  // as many as one fetch's attempts (remote/retry.hpp)
  memrun::SharedWorkerContext ctx(options());
  const Hold held_chunk = hold(2);
  memrun::StreamingObject stream = ctx.open_stream(url(), ahead(4));
  ASSERT_TRUE(wait_held(2));
  std::atomic<int> polls{0};
  auto read = std::async(std::launch::async, [&] { return error_of([&] { stream.read(2 * kChunk, 10, watched(polls)); }); });
  ASSERT_TRUE(memrun::test::wait_until([&] { return polls >= 2; }, 10s));
  release(2);
  const memrun::Error e = read.get();
  EXPECT_EQ(e.code(), memrun::Code::kUnavailable) << e.what();
  EXPECT_EQ(text(stream.read(2 * kChunk, 10)), big_slice(2 * kChunk, 10)) << "fetched again";
  EXPECT_EQ(gets_per_chunk()[2], 5) << "4 cut short, then 1";
  EXPECT_EQ(text(stream.read(0, kBig)), big_slice(0, kBig));
}

// The object changes after the stream learnt it (its ETag moves): reads of
// chunks not fetched yet fail unavailable, never serving the other version;
// a new stream reads the new version.
TEST_F(Streams, AnObjectReplacedMidStreamIsUnavailable) {
  memrun::SharedWorkerContext ctx(options());
  const std::string changing = base_ + "/changing/big";
  memrun::StreamingObject stream = ctx.open_stream(changing, ahead(1));
  EXPECT_EQ(text(stream.read(0, 10)), big_slice(0, 10));
  auto e = error_of([&] { stream.read(10 * kChunk, 10); });
  EXPECT_EQ(e.code(), memrun::Code::kUnavailable) << e.what();
  EXPECT_TRUE(contains(e, "changed")) << e.what();
  memrun::StreamingObject again = ctx.open_stream(changing, ahead(1));
  EXPECT_EQ(text(again.read(10 * kChunk, 10)), big_slice(10 * kChunk, 10));
}

// A worker restarts while a stream downloads (the GET of chunk 6 is cut as
// the process ends): a new context on the same cache root keeps the chunks
// already on disk, checked as they are read, and fetches only the others.
TEST_F(Streams, ARestartDuringADownloadFetchesOnlyTheMissingChunks) {
  memrun::test::TempDir cache("memrun-streams");
  {
    memrun::SharedWorkerContext ctx(options(cache.path));
    const Hold held_chunk = hold(6);
    memrun::StreamingObject stream = ctx.open_stream(url(), ahead(4));
    EXPECT_EQ(text(stream.read(0, 6 * kChunk)), big_slice(0, 6 * kChunk));
    ASSERT_TRUE(wait_held(6));
    ASSERT_TRUE(memrun::test::wait_until([&] { return order().size() == 10; }, 10s)) << "chunks 0 to 9 asked";
    cut(6, 4);
    release(6);
  }
  std::map<uint64_t, int> before = gets_per_chunk();
  memrun::SharedWorkerContext restarted(options(cache.path));
  memrun::StreamingObject stream = restarted.open_stream(url(), ahead(4));
  EXPECT_EQ(text(stream.read(0, kBig)), big_slice(0, kBig));
  std::map<uint64_t, int> after = gets_per_chunk();
  for (uint64_t c = 0; c < kChunks; ++c) {
    const bool was_cached = c < 10 && c != 6;
    EXPECT_EQ(after[c] - before[c], was_cached ? 0 : 1) << "chunk " << c;
  }
  EXPECT_EQ(restarted.cache_stats().disk_hits, 9u);
  EXPECT_EQ(restarted.cache_stats().disk.corrupt_dropped, 0u);
}

}  // namespace
