// One request, from the moment the poll thread takes its record from Kafka
// until every record it produced (reply, dead letter) is acknowledged.
//
// @locality: made by the poll thread (intake), filled by one handler thread
// (the handler runner), then shared as a RequestPtr by the outbox's records in
// flight and the deadline watch (delivery thread). Whoever drops the last
// RequestPtr finishes it: its Completion tells the offset tracker, so the
// partition may commit past it. No thread counts holders by hand.
#pragma once

#include "kafka/kafka.hpp"
#include "runtime/offset_tracker.hpp"
#include "runtime/wire.hpp"

#include <memrun/status.hpp>

#include <atomic>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>

namespace memrun::internal {

// Tells the offset tracker, once, that a request is finished: when it is
// destroyed. Empty (no tracker) until attached; then move-only.
class Completion {
 public:
  Completion() = default;
  Completion(OffsetTracker& tracker, OffsetTracker::Ticket ticket) : tracker_(&tracker), ticket_(ticket) {}
  Completion(Completion&& other) noexcept
      : tracker_(std::exchange(other.tracker_, nullptr)), ticket_(other.ticket_) {}
  Completion& operator=(Completion&& other) noexcept {
    if (this != &other) {
      finish();
      tracker_ = std::exchange(other.tracker_, nullptr);
      ticket_ = other.ticket_;
    }
    return *this;
  }
  Completion(const Completion&) = delete;
  Completion& operator=(const Completion&) = delete;
  ~Completion() { finish(); }

  // False once the request's partition left this worker (or came back as a
  // new generation): finishing it then moves no commit point, so a record of
  // it that Kafka refused is not worth producing again.
  bool live() const { return tracker_ != nullptr && tracker_->live(ticket_); }

 private:
  void finish() {
    if (tracker_ != nullptr) tracker_->complete(ticket_);
    tracker_ = nullptr;
  }
  OffsetTracker* tracker_ = nullptr;
  OffsetTracker::Ticket ticket_;
};

struct Request {
  // The record as Kafka delivered it; null in unit tests, which fill the
  // fields below themselves. `payload` and `headers` point into it.
  kafka::Message msg;
  int32_t partition = -1;
  int64_t offset = -1;
  std::string_view payload;
  // The record's key; none when the producer gave none. Routing is checked
  // against the payload's sticky key (docs/protocol.md, Routing).
  std::optional<std::string_view> key;
  // Unix ms when the poll thread took the record from Kafka: the service's
  // timeout counts from here (docs/protocol.md, Deadlines).
  int64_t taken_ms = 0;
  Completion completion;  // attached when admitted

  // Written by the handler thread before the request is shared.
  RequestHeaders headers;
  int64_t deadline_ms = 0;  // Unix ms: the earlier of the header's and taken_ms + timeout
  int attempts = 0;         // handler runs
  bool duplicate = false;   // answered from the recent-replies window
  bool dead_letter = false;  // also goes to memrun.dlq.{service}
  std::string error_class;  // dead-letter header; default: the code's name
  Code code = Code::kOk;
  std::string body;  // reply bytes, or the error message when code != kOk

  // The one reply has been produced (possibly the deadline reply while the
  // handler still ran): the handler's outcome is not sent again.
  std::atomic<bool> replied{false};
};

using RequestPtr = std::shared_ptr<Request>;

// The poll thread's view of a fetched record, shared from the start (one
// allocation with its count; the outbox's records and the deadline watch
// share it later). Its completion is attached when admission lets it run
// (see Intake), not while it waits.
inline RequestPtr request_from(kafka::Message m, int64_t taken_ms) {
  auto req = std::make_shared<Request>();
  req->partition = m->partition;
  req->offset = m->offset;
  req->payload = {static_cast<const char*>(m->payload), m->len};
  if (m->key != nullptr) req->key = std::string_view(static_cast<const char*>(m->key), m->key_len);
  req->taken_ms = taken_ms;
  req->msg = std::move(m);
  return req;
}

// The deadline watch: while a handler runs, its caller is answered
// deadline_exceeded at the deadline (the outbox implements it).
class DeadlineWatch {
 public:
  virtual ~DeadlineWatch() = default;
  virtual void watch(const RequestPtr& req) = 0;
  virtual void unwatch(const Request& req) = 0;
};

}  // namespace memrun::internal
